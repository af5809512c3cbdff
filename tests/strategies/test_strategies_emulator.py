"""Every strategy through the real OpenAI and Gemini SDKs, over the loopback emulator."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Literal

import pytest
from strategy_harness import SEED_PROMPT, Trace, arun

import vlmfer
from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.engine import ResponseCache
from vlmfer.media import prepare_media
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Strategy
from vlmfer.strategies.common import STEP_MAX_TOKENS
from vlmfer.strategies.templates import load_template
from vlmfer.types import MediaSpec, Prediction, Sample

BACKENDS = {"openai": "openai/gpt-5.2", "gemini": "gemini/gemini-3.5-flash"}

#: (strategy, options) pairs run with both backends.
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("single-shot", {}),
    ("single-shot", {"constrained": "enum"}),
    ("single-shot", {"constrained": "json_schema", "label_order": "shuffle"}),
    ("six-class", {}),
    ("two-stage", {}),
    ("two-stage", {"gate": "logprobs"}),
    ("free-description", {}),
    ("free-description", {"mapper": "llm"}),
    ("calibrated", {}),
]


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(policy="oracle", log_path=tmp_path / "emu.jsonl")


def _sent_hashes(sample: Sample, backend: str) -> list[str]:
    """SHA-256 of the media bytes the backend sends for ``sample`` (the emulator's oracle key)."""
    media = sample.media
    as_: Literal["image", "frames", "video"] = "image"
    if media.kind == "video":
        as_ = "video" if backend == "gemini" else "frames"
    prepared = prepare_media(media, MediaSpec(), as_=as_)
    return [hashlib.sha256(p.data).hexdigest() for p in prepared.parts]


def _oracle(emu: Emulator, samples: list[Sample], backend: str, policy: str = "oracle") -> None:
    table = {h: s.label for s in samples if s.label for h in _sent_hashes(s, backend)}
    emu.reset()
    emu.configure(policy=policy, oracle=table)


def _predictor(emu: Emulator, backend: str) -> Predictor:
    url = emu.openai_base_url if backend == "openai" else emu.gemini_base_url
    p: Predictor = vlmfer.get_predictor(BACKENDS[backend], base_url=url, api_key="test-key")
    return p


def _run_all(
    emu: Emulator,
    backend: str,
    strategy: Strategy,
    samples: list[Sample],
    *,
    cache: ResponseCache | None = None,
) -> list[tuple[Prediction, Trace]]:
    """Run every sample in one event loop (the SDK clients belong to it)."""

    async def go() -> list[tuple[Prediction, Trace]]:
        main = _predictor(emu, backend)
        try:
            roles = {"main": main, "mapper": main}
            return [await arun(strategy, s, roles, cache=cache) for s in samples]
        finally:
            await main.aclose()

    return asyncio.run(go())


def _texts(body: Any) -> list[str]:
    if isinstance(body, str):
        return [body]
    if isinstance(body, dict):
        return [t for v in body.values() for t in _texts(v)]
    if isinstance(body, list):
        return [t for v in body for t in _texts(v)]
    return []


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(("name", "options"), STRATEGIES)
def test_strategy_with_backend(
    emu: Emulator,
    backend: str,
    name: str,
    options: dict[str, Any],
    tiny_images: dict[str, Sample],
    happy_face: Sample,
) -> None:
    samples = [happy_face, tiny_images["Neutral"], tiny_images["Surprise"]]
    if name == "six-class":
        samples = [s for s in samples if s.label != "Neutral"]  # forced six-way: non-Neutral only
    _oracle(emu, samples, backend)
    strategy = vlmfer.get_strategy(name, **options)
    results = _run_all(emu, backend, strategy, samples)
    inference = [r for r in emu.requests if r.get("outcome")]
    assert len(inference) == sum(len(ctx.steps) for _, ctx in results)
    for (pred, ctx), entry_steps in zip(results, _split(inference, results), strict=True):
        assert pred.outcome == "ok", pred.reason
        assert pred.pred == pred.gold, (pred.sample_id, pred.steps)
        for step, entry in zip(ctx.steps, entry_steps, strict=True):
            # What the step records is what reached the server.
            assert step.text_sent in _texts(entry["body"])
            assert step.template is not None
            assert entry["answer"] in (step.response_text or "")
    first = results[0][1].steps[0]
    if name in ("single-shot", "calibrated") and "label_order" not in options:
        assert first.text_sent == SEED_PROMPT.replace("video", "image")
        assert first.template == load_template("seed", "label").ref
    if name == "two-stage":
        neutral = next(p for p, _ in results if p.gold == "Neutral")
        assert [s.name for s in neutral.steps] == ["gate"]
    if name == "free-description":
        assert all(p.extra["description"] for p, _ in results)


def _split(
    entries: list[dict[str, Any]], results: list[tuple[Prediction, Trace]]
) -> list[list[dict[str, Any]]]:
    out, i = [], 0
    for _, ctx in results:
        n = len(ctx.steps)
        out.append(entries[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(("policy", "outcome"), [("refuse", "refused"), ("block", "blocked")])
def test_non_answers_through_the_sdks(
    emu: Emulator, backend: str, policy: str, outcome: str, tiny_images: dict[str, Sample]
) -> None:
    sample = tiny_images["Sad"]
    _oracle(emu, [sample], backend, policy=policy)
    for name, options in STRATEGIES:
        strategy = vlmfer.get_strategy(name, **options)
        [(pred, _)] = _run_all(emu, backend, strategy, [sample])
        assert (pred.pred, pred.outcome) == (None, outcome), (name, options, pred.reason)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_second_mapper_makes_no_new_vision_call(
    emu: Emulator, backend: str, tiny_images: dict[str, Sample], response_cache: ResponseCache
) -> None:
    samples = [tiny_images["Happy"], tiny_images["Sad"]]
    _oracle(emu, samples, backend)
    cache = response_cache
    lexicon = _run_all(emu, backend, vlmfer.get_strategy("free-description"), samples, cache=cache)
    vision_calls = len([r for r in emu.requests if r.get("outcome")])
    assert vision_calls == 2
    llm = vlmfer.get_strategy("free-description", mapper="llm")
    mapped = _run_all(emu, backend, llm, samples, cache=cache)
    new = [r for r in emu.requests if r.get("outcome")][vision_calls:]
    assert len(new) == 2  # the two text-only mapping calls, nothing else
    assert all(not _has_media(r["body"]) for r in new)
    for (a, _), (b, ctx) in zip(lexicon, mapped, strict=True):
        assert a.extra["description"] == b.extra["description"]
        assert ctx.step("describe").cached
        assert b.pred == b.gold


def _has_media(body: Any) -> bool:
    text = repr(body)
    return "inlineData" in text or "image_url" in text or "fileData" in text


def test_native_video_with_gemini(emu: Emulator, real_clip: Sample) -> None:
    clip = real_clip.model_copy(update={"label": "Surprise"})
    _oracle(emu, [clip], "gemini")
    for name in ("single-shot", "two-stage", "free-description", "calibrated"):
        [(pred, ctx)] = _run_all(emu, "gemini", vlmfer.get_strategy(name), [clip])
        assert (pred.pred, pred.outcome) == ("Surprise", "ok"), (name, pred.reason)
        assert "person in the video" in ctx.steps[0].text_sent
    [(pred, ctx)] = _run_all(emu, "gemini", vlmfer.get_strategy("single-shot"), [clip])
    assert ctx.steps[0].text_sent == SEED_PROMPT


def _cap(body: dict[str, Any]) -> int | None:
    """The output-token cap in an OpenAI or Gemini request body."""
    if "generationConfig" in body:
        cap = body["generationConfig"].get("maxOutputTokens")
    else:
        cap = body.get("max_tokens", body.get("max_completion_tokens"))
    return None if cap is None else int(cap)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize(
    ("max_tokens", "expected"),
    [("auto", STEP_MAX_TOKENS), (77, dict.fromkeys(STEP_MAX_TOKENS, 77)),
     ("none", dict.fromkeys(STEP_MAX_TOKENS))],
)
def test_every_step_sends_its_token_cap(
    emu: Emulator, backend: str, max_tokens: object, expected: dict[str, int | None],
    tiny_images: dict[str, Sample],
) -> None:
    samples = [tiny_images["Happy"], tiny_images["Neutral"]]
    kinds = {"gate": "gate", "describe": "describe", "map": "mapper"}
    for name, options in STRATEGIES:
        _oracle(emu, samples, backend)
        strategy = vlmfer.get_strategy(name, **options, max_tokens=max_tokens)
        results = _run_all(emu, backend, strategy, samples)
        inference = [r for r in emu.requests if r.get("outcome")]
        steps = [s for _, ctx in results for s in ctx.steps]
        assert len(inference) == len(steps)
        for step, entry in zip(steps, inference, strict=True):
            want = expected[kinds.get(step.name, "label")]
            assert _cap(entry["body"]) == want, (name, options, step.name)
            assert step.details["max_tokens"] == want
