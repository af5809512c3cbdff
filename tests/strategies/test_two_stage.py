"""two-stage: the Neutral gate, then six-way."""

from __future__ import annotations

import math

import pytest
from strategy_harness import Scripted, run

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.strategies.templates import load_template
from vlmfer.types import Response, Sample

SIX = [x for x in vlmfer.CAER_LABELS if x != "Neutral"]


def test_neutral_gate_skips_stage_two(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("two-stage")
    pred, ctx = run(strategy, tiny_images["Neutral"], vlmfer.get_predictor("mock/fixed:Neutral"))
    assert (pred.pred, pred.outcome) == ("Neutral", "ok")
    assert [s.name for s in pred.steps] == ["gate"]
    gate = ctx.step("gate")
    assert gate.label_order == ["Neutral", "Emotion"]
    assert gate.template == load_template("gate", "gate").ref
    assert "Choose one from the following list: Neutral, Emotion\n" in gate.text_sent
    assert "in the image." in gate.text_sent
    assert pred.extra["gate"] == "Neutral"


def test_emotion_gate_asks_six_way(tiny_images: dict[str, Sample]) -> None:
    predictor = Scripted(["Emotion", "Sad"])
    pred, ctx = run(vlmfer.get_strategy("two-stage"), tiny_images["Sad"], predictor)
    assert (pred.pred, pred.outcome) == ("Sad", "ok")
    assert [s.name for s in pred.steps] == ["gate", "answer"]
    answer = ctx.step("answer")
    assert answer.label_order == SIX
    assert answer.template == load_template("seed", "label").ref
    assert "Emotion List: Anger, Disgust, Fear, Happy, Sad, Surprise\n" in answer.text_sent
    assert pred.extra["gate"] == "Emotion"


def test_invalid_gate_is_invalid_not_a_guess(tiny_images: dict[str, Sample]) -> None:
    for answer in ("Maybe", "Neutral or Emotion", ""):
        pred, _ = run(vlmfer.get_strategy("two-stage"), tiny_images["Sad"], Scripted([answer]))
        assert (pred.pred, pred.outcome) == (None, "invalid")
        assert [s.name for s in pred.steps] == ["gate"]
        assert pred.reason and pred.reason.startswith("gate:")


@pytest.mark.parametrize(("policy", "outcome"), [("refuse", "refused"), ("block", "blocked")])
def test_gate_refusal_is_an_outcome(
    tiny_images: dict[str, Sample], policy: str, outcome: str
) -> None:
    pred, _ = run(
        vlmfer.get_strategy("two-stage"), tiny_images["Sad"], vlmfer.get_predictor(f"mock/{policy}")
    )
    assert (pred.pred, pred.outcome) == (None, outcome)


def test_stage_two_refusal_and_neutral_answer(tiny_images: dict[str, Sample]) -> None:
    refused = Response(text=None, status="refused", reason="I can't help with that")
    scripted = Scripted(["Emotion", refused])
    pred, _ = run(vlmfer.get_strategy("two-stage"), tiny_images["Sad"], scripted)
    assert (pred.pred, pred.outcome) == (None, "refused")
    assert pred.reason == "answer: I can't help with that"
    # Stage 2 is forced six-way: Neutral there is not an answer.
    pred, _ = run(
        vlmfer.get_strategy("two-stage"), tiny_images["Sad"], Scripted(["Emotion", "Neutral"])
    )
    assert (pred.pred, pred.outcome) == (None, "invalid")


def _lp(p_neutral: float) -> dict[str, float]:
    return {"Neutral": math.log(p_neutral), "Emotion": math.log(1 - p_neutral)}


def test_logprob_gate_uses_the_threshold(tiny_images: dict[str, Sample]) -> None:
    low = vlmfer.get_strategy("two-stage", gate="logprobs", neutral_threshold=0.25)
    assert low.requirements().logprobs is True
    # P(Neutral)=0.3 >= 0.25: Neutral, although the text says Emotion.
    pred, ctx = run(low, tiny_images["Sad"], Scripted([("Emotion", _lp(0.3))]))
    assert pred.pred == "Neutral"
    assert pred.extra["p_neutral"] == pytest.approx(0.3)
    assert ctx.step("gate").details["p_neutral"] == pytest.approx(0.3)
    prompt_options = ctx.prompts[0].options
    assert prompt_options.logprobs is True and prompt_options.top_logprobs == 20

    high = vlmfer.get_strategy("two-stage", gate="logprobs", neutral_threshold=0.5)
    pred, _ = run(high, tiny_images["Sad"], Scripted([("Emotion", _lp(0.3)), "Anger"]))
    assert (pred.pred, pred.outcome) == ("Anger", "ok")
    assert [s.name for s in pred.steps] == ["gate", "answer"]
    assert vlmfer.get_strategy("two-stage").requirements().logprobs is False


def test_logprob_gate_without_logprobs_is_invalid(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("two-stage", gate="logprobs")
    pred, _ = run(strategy, tiny_images["Sad"], Scripted([("Neutral", None)]))
    assert (pred.pred, pred.outcome) == (None, "invalid")
    assert "no log-probabilities" in (pred.reason or "")
    pred, _ = run(strategy, tiny_images["Sad"], Scripted([("Hmm", {"Hmm": -0.1, "Well": -3.0})]))
    assert (pred.pred, pred.outcome) == (None, "invalid")


def test_logprob_gate_with_the_mock(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("two-stage", gate="logprobs")
    pred, ctx = run(strategy, tiny_images["Neutral"], vlmfer.get_predictor("mock/fixed:Neutral"))
    assert pred.pred == "Neutral"
    assert ctx.step("gate").details["p_neutral"] > 0.5


def test_two_stage_needs_neutral_and_records_both_templates() -> None:
    with pytest.raises(ConfigError, match="no 'Neutral'"):
        vlmfer.get_strategy("two-stage", labels=["Happy", "Sad"])
    d = vlmfer.get_strategy("two-stage").describe()
    assert set(d["templates"]) == {"gate", "answer"}
    assert d["templates"]["gate"]["sha256"] == load_template("gate", "gate").sha256
    with pytest.raises(ConfigError, match="neutral_threshold"):
        vlmfer.get_strategy("two-stage", neutral_threshold=1.5)


@pytest.mark.parametrize("text", ["I can't tell.", "Unknown", "I cannot determine the emotion."])
def test_a_gate_that_cannot_tell_is_invalid_whatever_its_logprobs(
    tiny_images: dict[str, Sample], text: str
) -> None:
    strategy = vlmfer.get_strategy("two-stage", gate="logprobs", neutral_threshold=0.25)
    pred, _ = run(strategy, tiny_images["Sad"], Scripted([(text, _lp(0.9))]))
    assert (pred.pred, pred.outcome) == (None, "invalid")
