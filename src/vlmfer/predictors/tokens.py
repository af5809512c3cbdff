"""Input-token estimates, made before a call (for TPM budgets, dry runs and costs).

These follow the providers' published rules (see docs/predictors.md for sources);
every response also records the reported usage next to the estimate, so a wrong
rule shows up as a gap in the run log rather than a silent error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Rough characters per text token for Latin-script prompts.
CHARS_PER_TOKEN = 4
#: Per-message framing tokens in a chat request (role markers and separators).
MESSAGE_OVERHEAD = 4


def text_tokens(text: str | None) -> int:
    """About one token per four characters."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class TileRule:
    """OpenAI's tile rule: ``base + tile * tiles`` at high detail, ``base`` at low."""

    base: int
    tile: int


@dataclass(frozen=True)
class PatchRule:
    """OpenAI's patch rule (32 px patches, at most 1536, times a multiplier)."""

    multiplier: float


# OpenAI vision guide: gpt-4o family 85 + 170/tile; gpt-4o-mini 2833 + 5667/tile
# (priced so an image costs about the same as on gpt-4o); the 4.1-mini/nano and
# o4-mini use 32 px patches times a per-model multiplier.
_OPENAI_RULES: dict[str, TileRule | PatchRule] = {
    "gpt-4o-mini": TileRule(2833, 5667),
    "gpt-4.1-mini": PatchRule(1.62),
    "gpt-4.1-nano": PatchRule(2.46),
    "o4-mini": PatchRule(1.72),
}
_DEFAULT_TILE = TileRule(85, 170)


def openai_rule(model: str) -> TileRule | PatchRule:
    """The image-token rule of an OpenAI model (the gpt-4o rule when unknown)."""
    best = ""
    for prefix in _OPENAI_RULES:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return _OPENAI_RULES[best] if best else _DEFAULT_TILE


def _fit(width: int, height: int, box: int) -> tuple[float, float]:
    scale = min(1.0, box / max(width, height))
    return width * scale, height * scale


def openai_image_tokens(width: int, height: int, detail: str | None, model: str = "gpt-4o") -> int:
    """Tokens of one image sent to an OpenAI model.

    ``openai_image_tokens(1024, 1024, "high")`` is 765: the image is scaled to
    768x768, which is four 512 px tiles, so 85 + 4 * 170.
    """
    rule = openai_rule(model)
    if isinstance(rule, PatchRule):
        return _patch_tokens(width, height, rule.multiplier)
    if detail == "low":
        return rule.base
    # "auto" may pick either; count it as high so budgets are not exceeded.
    w, h = _fit(width, height, 2048)
    short = min(w, h)
    if short > 768:
        w, h = w * 768 / short, h * 768 / short
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return rule.base + rule.tile * tiles


def _patch_tokens(width: int, height: int, multiplier: float) -> int:
    cap = 1536
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches > cap:
        shrink = math.sqrt(32 * 32 * cap / (width * height))
        # Shrink a little more so that whole patches fit in each dimension.
        shrink *= min(
            math.floor(width * shrink / 32) / (width * shrink / 32),
            math.floor(height * shrink / 32) / (height * shrink / 32),
        )
        patches = math.ceil(width * shrink / 32) * math.ceil(height * shrink / 32)
    return math.ceil(min(patches, cap) * multiplier)


#: Gemini: an image with both sides <= 384 px is 258 tokens; larger ones are
#: cropped and scaled into 768 x 768 tiles of 258 tokens each.
GEMINI_IMAGE_TOKENS = 258
GEMINI_FRAME_TOKENS = {"low": 66, "default": 258}
GEMINI_AUDIO_TOKENS_PER_S = 32


def gemini_image_tokens(width: int, height: int) -> int:
    """Tokens of one image sent to Gemini (>= 2.0)."""
    if width <= 384 and height <= 384:
        return GEMINI_IMAGE_TOKENS
    return GEMINI_IMAGE_TOKENS * math.ceil(width / 768) * math.ceil(height / 768)


def gemini_video_tokens(
    duration_s: float,
    *,
    fps: float = 1.0,
    media_resolution: str | None = None,
    has_audio: bool = False,
) -> int:
    """Tokens of a native video: frames at the sampled fps, plus audio.

    A 3 s silent clip at 1 fps and default resolution is 3 * 258 = 774 tokens.
    """
    per_frame = GEMINI_FRAME_TOKENS["low" if media_resolution == "low" else "default"]
    frames = max(1, math.ceil(duration_s * fps))
    audio = math.ceil(duration_s * GEMINI_AUDIO_TOKENS_PER_S) if has_audio else 0
    return frames * per_frame + audio


def frames_in_spec(spec: str, *, duration_s: float | None, frame_count: int | None) -> int:
    """How many frames a sampling spec (``uniform:8``, ``fps:2``, ``middle``, ``all``) yields.

    An estimate only: the media layer decides, and records what it took.
    """
    head, _, window = spec.partition("@")
    if window and duration_s is not None:
        start, _, end = window.partition("-")
        try:
            lo = float(start) if start else 0.0
            hi = float(end) if end else duration_s
            duration_s = max(0.0, min(hi, duration_s) - lo)
        except ValueError:
            pass
    kind, _, arg = head.partition(":")
    kind = kind.strip().lower()
    try:
        if kind == "uniform":
            n = int(arg)
        elif kind == "fps":
            n = math.ceil(float(arg) * (duration_s or 1.0))
        elif kind == "middle":
            n = 1
        elif kind == "all":
            n = frame_count or 1
        else:
            n = 8
    except ValueError:
        n = 8
    if frame_count:
        n = min(n, frame_count)
    return max(1, n)
