"""Token estimates follow the providers' published rules."""

from __future__ import annotations

import pytest

from vlmfer.predictors import tokens


@pytest.mark.parametrize(
    ("size", "detail", "expected"),
    [
        ((1024, 1024), "high", 765),   # scaled to 768x768: 4 tiles -> 85 + 4 * 170
        ((2048, 4096), "high", 1105),  # fit 1024x2048, then 768x1536: 2 x 3 tiles
        ((320, 320), "high", 255),     # never upscaled: 1 tile
        ((4000, 3000), "low", 85),     # low detail is flat
        ((1024, 1024), "auto", 765),   # auto is counted as high (budgets stay safe)
    ],
)
def test_openai_tile_rule(size: tuple[int, int], detail: str, expected: int) -> None:
    assert tokens.openai_image_tokens(*size, detail, "gpt-4o") == expected


def test_openai_mini_costs_many_more_tokens_per_image() -> None:
    assert tokens.openai_image_tokens(512, 512, "low", "gpt-4o-mini") == 2833
    assert tokens.openai_image_tokens(512, 512, "high", "gpt-4o-mini-2024-07-18") == 2833 + 5667


def test_openai_patch_rule_is_capped() -> None:
    small = tokens.openai_image_tokens(64, 64, "high", "gpt-4.1-mini")
    assert small == round(4 * 1.62 + 0.5)
    huge = tokens.openai_image_tokens(8000, 8000, "high", "gpt-4.1-mini")
    assert huge <= 1536 * 1.62 + 1


def test_gemini_images() -> None:
    assert tokens.gemini_image_tokens(320, 320) == 258
    assert tokens.gemini_image_tokens(384, 200) == 258
    assert tokens.gemini_image_tokens(1000, 700) == 2 * 258


def test_gemini_video_frames_and_audio() -> None:
    assert tokens.gemini_video_tokens(3.0) == 3 * 258
    assert tokens.gemini_video_tokens(3.0, media_resolution="low") == 3 * 66
    assert tokens.gemini_video_tokens(3.0, fps=2.0, has_audio=True) == 6 * 258 + 96


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("uniform:8", 8), ("fps:2", 6), ("middle", 1), ("all", 72), ("uniform:100", 72),
     ("fps:2@1-2", 2), ("nonsense", 8)],
)
def test_frames_in_spec(spec: str, expected: int) -> None:
    assert tokens.frames_in_spec(spec, duration_s=3.0, frame_count=72) == expected


def test_text_tokens() -> None:
    assert tokens.text_tokens(None) == 0
    assert tokens.text_tokens("abcd" * 10) == 10
