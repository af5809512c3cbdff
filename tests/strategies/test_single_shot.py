"""single-shot and six-class against the mock predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from strategy_harness import SEED_PROMPT, run

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.strategies.base import CallFailed, Requirements
from vlmfer.strategies.single_shot import SixClass
from vlmfer.strategies.templates import load_template
from vlmfer.types import Response, Sample

SEVEN = list(vlmfer.CAER_LABELS)
SIX = [x for x in SEVEN if x != "Neutral"]


def test_single_shot_one_call_exact_step(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("single-shot")
    sample = tiny_images["Happy"]
    pred, ctx = run(strategy, sample, vlmfer.get_predictor("mock/oracle"))
    assert (pred.pred, pred.outcome) == ("Happy", "ok")
    assert [s.name for s in pred.steps] == ["answer"]
    step = pred.steps[0]
    assert step.model == "mock/oracle"
    assert step.text_sent == SEED_PROMPT.replace("video", "image")
    assert step.label_order == SEVEN
    assert step.template is not None
    assert step.template == load_template("seed", "label").ref
    assert step.prompt_hash == ctx.prompts[0].hash()
    assert step.parsed is not None and step.parsed.label == "Happy"
    assert ctx.prompts[0].constraint is None


def test_single_shot_on_a_real_face(happy_face: Sample) -> None:
    pred, ctx = run(
        vlmfer.get_strategy("single-shot"), happy_face, vlmfer.get_predictor("mock/oracle")
    )
    assert (pred.pred, pred.outcome) == ("Happy", "ok")
    assert ctx.prompts[0].media[0].sha256 is not None


@pytest.mark.parametrize(
    ("policy", "outcome"), [("mock/refuse", "refused"), ("mock/block", "blocked")]
)
def test_refusals_and_blocks_are_outcomes_not_labels(
    tiny_images: dict[str, Sample], policy: str, outcome: str
) -> None:
    for name in ("single-shot", "six-class"):
        pred, _ = run(vlmfer.get_strategy(name), tiny_images["Sad"], vlmfer.get_predictor(policy))
        assert pred.outcome == outcome
        assert pred.pred is None
        assert pred.reason and pred.reason.startswith("answer:")


def test_unparseable_answers_are_invalid(tiny_images: dict[str, Sample]) -> None:
    # "echo" repeats the prompt, which names every label: no single label.
    pred, ctx = run(
        vlmfer.get_strategy("single-shot"), tiny_images["Sad"], vlmfer.get_predictor("mock/echo")
    )
    assert (pred.outcome, pred.pred) == ("invalid", None)
    parsed = ctx.step("answer").parsed
    assert parsed is not None
    assert parsed.label is None
    # An out-of-set answer is not mapped to the nearest label either.
    pred, _ = run(
        vlmfer.get_strategy("single-shot"), tiny_images["Sad"],
        vlmfer.get_predictor("mock/fixed:Pain"),
    )
    assert (pred.outcome, pred.pred) == ("invalid", None)
    assert "Pain" in (pred.reason or "")


def test_constrained_enum_and_json_schema(tiny_images: dict[str, Sample]) -> None:
    sample = tiny_images["Surprise"]
    for kind in ("enum", "json_schema"):
        strategy = vlmfer.get_strategy("single-shot", constrained=kind)
        assert strategy.requirements() == Requirements(
            enum_output=kind == "enum", json_schema=kind == "json_schema"
        )
        pred, ctx = run(strategy, sample, vlmfer.get_predictor("mock/oracle"))
        assert (pred.pred, pred.outcome) == ("Surprise", "ok")
        constraint = ctx.prompts[0].constraint
        assert constraint is not None
        assert (constraint.kind, constraint.labels) == (kind, SEVEN)
    assert vlmfer.get_strategy("single-shot").requirements() == Requirements()


def test_any_label_set(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("single-shot", labels=["Happy", "Neutral"])
    pred, ctx = run(strategy, tiny_images["Happy"], vlmfer.get_predictor("mock/oracle"))
    assert pred.pred == "Happy"
    assert "Emotion List: Happy, Neutral\n" in ctx.step("answer").text_sent
    assert strategy.labels == ("Happy", "Neutral")


def test_six_class_is_forced_six_way(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("six-class")
    assert strategy.labels == tuple(SIX)
    pred, ctx = run(strategy, tiny_images["Fear"], vlmfer.get_predictor("mock/oracle"))
    assert (pred.pred, pred.outcome) == ("Fear", "ok")
    step = ctx.step("answer")
    assert step.label_order == SIX
    assert "Emotion List: Anger, Disgust, Fear, Happy, Sad, Surprise\n" in step.text_sent
    assert step.template == load_template("seed", "label").ref
    # A Neutral answer is not in the six-way set: invalid, never a label.
    pred, _ = run(strategy, tiny_images["Fear"], vlmfer.get_predictor("mock/fixed:Neutral"))
    assert (pred.pred, pred.outcome) == (None, "invalid")


def test_six_class_needs_a_neutral_to_remove() -> None:
    with pytest.raises(ConfigError, match="have no 'Neutral'"):
        vlmfer.get_strategy("six-class", labels=["Happy", "Sad"])
    with pytest.raises(ConfigError, match="fewer than two"):
        vlmfer.get_strategy("six-class", labels=["Happy", "Neutral"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temprature": 0}, "unknown option 'temprature' (did you mean 'temperature'?)"),
        ({"labels": ["Happy"]}, "at least two labels"),
        ({"labels": ["Happy", "happy"]}, "duplicate label"),
        ({"labels": ["Happy", "none"]}, "'none' cannot be a label"),
        ({"label_order": "random"}, "label_order"),
        ({"constrained": "regex"}, "constrained"),
        ({"media": {"frame": "uniform:8"}}, "media.frame"),
        ({"temperature": -1}, "temperature"),
    ],
)
def test_bad_options_name_the_strategy_and_the_choices(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        vlmfer.get_strategy("single-shot", **options)
    text = str(info.value)
    assert message in text
    assert "strategy 'single-shot'" in text
    assert "Valid options: labels, template, label_order" in text


class _Failing(vlmfer.Predictor):
    provider = "fake"

    def __init__(self) -> None:
        self.model = "failing"
        self.capabilities = vlmfer.Capabilities()

    async def predict(self, prompt: vlmfer.Prompt) -> vlmfer.Response:
        raise vlmfer.PredictorError("HTTP 500 after the last attempt", retryable=True)


def test_call_failures_propagate(tiny_images: dict[str, Sample]) -> None:
    with pytest.raises(CallFailed) as info:
        run(vlmfer.get_strategy("single-shot"), tiny_images["Sad"], _Failing())
    assert info.value.step == "answer"


def test_describe_is_manifest_ready() -> None:
    d = vlmfer.get_strategy("six-class", label_order="shuffle", order_seed=3).describe()
    assert d["name"] == "six-class"
    assert d["labels"] == SIX
    assert d["options"]["label_order"] == "shuffle" and d["options"]["order_seed"] == 3
    assert d["templates"]["answer"]["sha256"] == load_template("seed", "label").sha256
    assert d["templates"]["answer"]["version"] == "1"


def test_an_answer_starved_by_the_default_cap_is_asked_with_room(
    tiny_images: dict[str, Sample],
) -> None:
    """A reasoning model can spend the whole default cap thinking: no text, finish reason
    length. It is asked once more with room; a cap the user set is never raised."""
    from strategy_harness import Scripted

    from vlmfer.strategies.common import REASONING_MAX_TOKENS, STEP_MAX_TOKENS

    starved = Response(text="", finish_reason="length")
    predictor = Scripted([starved, "Happy"])
    pred, ctx = run(vlmfer.get_strategy("single-shot"), tiny_images["Happy"], predictor)
    assert (pred.pred, pred.outcome) == ("Happy", "ok")
    assert [s.name for s in pred.steps] == ["answer", "answer-more-tokens"]
    caps = [p.options.max_tokens for p in predictor.prompts]
    assert caps == [STEP_MAX_TOKENS["label"], REASONING_MAX_TOKENS]
    assert ctx.step("answer-more-tokens").parsed is not None

    predictor = Scripted([starved])
    strategy = vlmfer.get_strategy("single-shot", max_tokens=16)
    pred, _ = run(strategy, tiny_images["Happy"], predictor)
    assert (pred.pred, pred.outcome) == (None, "invalid")
    assert [p.options.max_tokens for p in predictor.prompts] == [16]


def test_six_class_runs_on_the_non_neutral_samples_of_a_dataset_with_neutral(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    make_caer_s_like(tmp_path / "CAER-S", per_class=2, splits=("test",))
    strategy = vlmfer.get_strategy("six-class")
    assert isinstance(strategy, SixClass)
    assert strategy.excluded_gold == ("Neutral",)
    run = vlmfer.evaluate(
        vlmfer.get_dataset("caer-s", root=tmp_path / "CAER-S", split="test"),
        vlmfer.get_predictor("mock/oracle"), strategy, out=tmp_path / "run",
        progress=False, n_boot=10)
    golds = {p.gold for p in run.predictions}
    assert None not in golds and sorted(g for g in golds if g is not None) == SIX
    assert len(run.predictions) == 12 and run.outcomes["ok"] == 12
    assert run.manifest["dataset"]["excluded_gold"] == {"Neutral": 2}
    assert run.metrics["n"] == 12
