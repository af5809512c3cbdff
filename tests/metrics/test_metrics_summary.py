"""``summarize``: metrics.json from hand-built predictions, as the report reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlmfer.errors import UnknownMetricError
from vlmfer.hookspecs import Register, hookimpl
from vlmfer.metrics import MetricInputError, bootstrap_ci, summarize
from vlmfer.plugins import Registry
from vlmfer.types import Prediction, Step, Usage

L7 = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
L3 = ["Happy", "Neutral", "Sad"]

KEYS = {
    "n", "n_unlabelled", "accuracy", "uar", "macro_f1", "cohen_kappa", "ci", "bootstrap",
    "per_class", "confusion_matrix", "neutral_rate", "gold_neutral_rate", "outcomes",
    "excluding_neutral", "usage", "cost_usd", "cost_known_calls", "predicted_distribution",
    "gold_distribution", "calibration",
    # the docs' name for accuracy, the two conventions and what the intervals resampled
    "war", "answered_only", "conventions", "error_reasons", "ci_resampling", "n_groups",
    "metrics",
    # where the answers came from: snapshots, a simulator, what was really sent
    "model_snapshots", "mixed_snapshots", "simulated", "sent_parameters",
}


def _step(cost: float | None = 0.001, *, cached: bool = False, tokens: int = 100) -> Step:
    return Step(
        name="answer", model="mock/oracle", prompt_hash="h", text_sent="Which emotion?",
        usage=Usage(input_tokens=tokens, output_tokens=3, thinking_tokens=5,
                    cached_input_tokens=10),
        cached=cached, cost_usd=cost,
    )


def _pred(i: int, gold: str | None, answer: str, *, steps: list[Step] | None = None,
          scores: dict[str, float] | None = None) -> Prediction:
    outcome = "ok" if answer not in ("invalid", "refused", "blocked", "error") else answer
    return Prediction(
        sample_id=f"s{i:03d}", gold=gold, pred=answer if outcome == "ok" else None,
        outcome=outcome, reason=None if outcome == "ok" else f"{outcome} by test",
        steps=[_step()] if steps is None else steps, scores=scores,
    )


# gold:   H H H N N S S S
# answer: H N refused N N S H invalid
ANSWERS = [("Happy", "Happy"), ("Happy", "Neutral"), ("Happy", "refused"), ("Neutral", "Neutral"),
           ("Neutral", "Neutral"), ("Sad", "Sad"), ("Sad", "Happy"), ("Sad", "invalid")]


def _run() -> list[Prediction]:
    return [_pred(i, g, a) for i, (g, a) in enumerate(ANSWERS)]


def test_the_metrics_json_structure() -> None:
    m = summarize(_run(), L3, n_boot=200)
    assert set(m) == KEYS
    assert m["n"] == 8 and m["n_unlabelled"] == 0
    assert m["accuracy"] == pytest.approx(4 / 8)
    assert m["uar"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert m["macro_f1"] == pytest.approx((2 / 5 + 4 / 5 + 2 / 4) / 3)
    for name in ("accuracy", "uar", "macro_f1"):
        assert type(m[name]) is float
    assert m["per_class"]["Happy"] == {"precision": 0.5, "recall": pytest.approx(1 / 3),
                                       "f1": pytest.approx(0.4), "support": 3}
    assert m["outcomes"] == {"ok": 6, "invalid": 1, "refused": 1, "blocked": 0, "error": 0}
    assert m["neutral_rate"] == pytest.approx(3 / 8)
    assert m["gold_neutral_rate"] == pytest.approx(2 / 8)
    assert m["bootstrap"] == {"n_boot": 200, "seed": 0, "level": 0.95, "method": "percentile"}
    assert m["calibration"] is None
    # Plain JSON: no NaN, no numpy types.
    assert json.loads(json.dumps(m, allow_nan=False)) == m


def test_non_answers_are_columns_never_labels() -> None:
    m = summarize(_run(), L3, n_boot=50)
    cm = m["confusion_matrix"]
    assert cm["labels"] == L3
    assert cm["columns"] == [*L3, "invalid", "refused", "blocked", "error"]
    assert cm["matrix"] == [
        [1, 1, 0, 0, 1, 0, 0],
        [0, 2, 0, 0, 0, 0, 0],
        [1, 0, 1, 1, 0, 0, 0],
    ]
    assert m["predicted_distribution"] == {"Happy": 2, "Neutral": 3, "Sad": 1, "invalid": 1,
                                           "refused": 1, "blocked": 0, "error": 0}
    assert m["gold_distribution"] == {"Happy": 3, "Neutral": 2, "Sad": 3}
    assert set(m["per_class"]) == set(L3)


def test_ci_shape_and_determinism() -> None:
    preds = [_pred(i, g, a) for i, (g, a) in enumerate(ANSWERS * 20)]
    m = summarize(preds, L3, seed=7, n_boot=500)
    assert set(m["ci"]) == {"accuracy", "war", "uar", "macro_f1", "cohen_kappa", "neutral_rate"}
    assert m["ci"]["war"] == m["ci"]["accuracy"]
    for name, (lo, hi) in m["ci"].items():
        assert lo <= m[name] <= hi and lo < hi
    assert summarize(preds, L3, seed=7, n_boot=500) == m
    assert summarize(preds, L3, seed=8, n_boot=500)["ci"] != m["ci"]
    # The same seed gives the same interval as bootstrap_ci on the labels.
    y_true = [str(p.gold) for p in preds]
    y_pred = [p.pred if p.outcome == "ok" else p.outcome for p in preds]
    assert tuple(m["ci"]["uar"]) == bootstrap_ci("uar", y_true, y_pred, labels=L3, seed=7,
                                                 n_boot=500)


def test_both_excluding_neutral_conventions() -> None:
    m = summarize(_run(), L3, n_boot=50)
    subset = m["excluding_neutral"]["subset"]
    assert subset["convention"] == "excluding Neutral: subset"
    assert subset["n"] == 6 and subset["accuracy"] == pytest.approx(2 / 6)
    forced = m["excluding_neutral"]["forced_six_way"]
    assert forced["convention"] == "excluding Neutral: forced six-way"
    assert forced["available"] is False and "no per-class scores" in forced["reason"]

    with_scores = []
    for p in _run():
        scores = None
        if p.outcome == "ok":
            scores = {lab: 0.1 for lab in L3}
            scores[p.pred or ""] = 0.6
            if p.pred == "Neutral":
                scores[str(p.gold) if p.gold != "Neutral" else "Sad"] = 0.3  # second best
        with_scores.append(p.model_copy(update={"scores": scores}))
    m = summarize(with_scores, L3, n_boot=50)
    forced = m["excluding_neutral"]["forced_six_way"]
    # H H H S S S -> H H(second best) refused S H invalid
    assert forced["available"] is True and forced["n"] == 6
    assert forced["accuracy"] == pytest.approx(3 / 6)
    assert m["excluding_neutral"]["subset"]["accuracy"] == pytest.approx(2 / 6)


def test_usage_and_cost() -> None:
    preds = _run()
    preds[0] = preds[0].model_copy(update={"steps": [_step(0.002), _step(None, cached=True)]})
    m = summarize(preds, L3, n_boot=10)
    assert m["usage"] == {"input_tokens": 900, "output_tokens": 27, "thinking_tokens": 45,
                          "cached_input_tokens": 90, "calls": 9, "cached_calls": 1}
    # A cached call was not paid for in this run, even when its cost is not recorded.
    assert m["cost_usd"] == pytest.approx(0.009)
    assert m["cost_known_calls"] == 8


def test_cost_is_null_when_any_paid_call_has_no_price() -> None:
    preds = _run()
    preds[3] = preds[3].model_copy(update={"steps": [_step(None)]})
    m = summarize(preds, L3, n_boot=10)
    assert m["cost_usd"] is None
    assert m["cost_known_calls"] == 7
    assert json.loads(json.dumps(m))["cost_usd"] is None


def test_a_label_set_without_neutral_has_null_neutral_fields() -> None:
    preds = [_pred(0, "Happy", "Happy"), _pred(1, "Sad", "Happy"), _pred(2, "Sad", "error")]
    m = summarize(preds, ["Happy", "Sad"], n_boot=10)
    assert m["neutral_rate"] is None and m["gold_neutral_rate"] is None
    assert m["excluding_neutral"] is None
    assert m["accuracy"] == pytest.approx(1 / 3)


def test_unlabelled_samples_are_counted_but_not_scored() -> None:
    preds = [*_run(), _pred(99, None, "Happy")]
    m = summarize(preds, L3, n_boot=10)
    assert m["n"] == 8 and m["n_unlabelled"] == 1
    assert m["outcomes"]["ok"] == 7
    assert m["usage"]["calls"] == 9
    assert m["accuracy"] == pytest.approx(4 / 8)


def test_empty_and_all_non_answer_runs() -> None:
    empty = summarize([], L7, n_boot=10)
    assert empty["n"] == 0 and empty["accuracy"] is None and empty["ci"]["uar"] == [None, None]
    assert empty["gold_neutral_rate"] is None and empty["cost_usd"] == 0.0
    assert json.dumps(empty, allow_nan=False)
    failed = [_pred(i, g, "error", steps=[]) for i, (g, _) in enumerate(ANSWERS)]
    m = summarize(failed, L3, n_boot=10)
    assert m["accuracy"] == 0.0 and m["uar"] == 0.0 and m["macro_f1"] == 0.0
    assert m["ci"]["accuracy"] == [0.0, 0.0]
    assert m["predicted_distribution"]["error"] == 8
    assert m["neutral_rate"] == 0.0
    assert m["usage"]["calls"] == 0 and m["cost_usd"] == 0.0


def test_calibration_block_from_stored_scores() -> None:
    # A Neutral-biased scorer: every answer is Neutral, but the scores still carry the class.
    preds = []
    for i in range(30):
        gold = L3[i % 3]
        scores = {lab: 0.1 for lab in L3}
        scores[gold] += 0.3
        scores["Neutral"] += 0.45
        preds.append(_pred(i, gold, "Neutral", scores=scores))
    preds.append(_pred(30, "Sad", "blocked"))
    m = summarize(preds, L3, n_boot=10)
    cal = m["calibration"]
    assert cal["n_with_scores"] == 30
    assert cal["raw_argmax"]["neutral_rate"] == pytest.approx(30 / 31)
    assert cal["batch_calibrated"]["accuracy"] == pytest.approx(30 / 31)
    assert cal["batch_calibrated"]["neutral_rate"] == pytest.approx(10 / 31)
    assert set(cal["raw_argmax"]) == {"accuracy", "uar", "macro_f1", "neutral_rate"}
    assert sum(cal["prior"].values()) == pytest.approx(1.0)
    assert m["excluding_neutral"]["forced_six_way"]["accuracy"] == pytest.approx(20 / 21)


def test_recomputable_from_a_predictions_file(tmp_path: Path) -> None:
    preds = _run()
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in preds), encoding="utf-8")
    rows: list[dict[str, Any]] = [json.loads(line) for line in path.read_text().splitlines()]
    assert summarize(rows, L3, n_boot=100) == summarize(preds, L3, n_boot=100)


@pytest.mark.parametrize(
    ("preds", "message"),
    [
        ([_pred(1, "Happy", "Happy"), _pred(1, "Sad", "Sad")], "sample 's001' appears more than"),
        ([_pred(1, "Contempt", "Happy")], "sample 's001': gold label 'Contempt' is not one of"),
        ([_pred(1, "Happy", "Anger")], "sample 's001': predicted label 'Anger' is not one of"),
        ([{"sample_id": "x", "gold": "Happy", "pred": "Happy"}], "prediction #0 is not a valid"),
    ],
)
def test_bad_predictions_are_explained(preds: list[Any], message: str) -> None:
    with pytest.raises(MetricInputError, match=message):
        summarize(preds, L3, n_boot=10)


def test_bad_labels_are_explained() -> None:
    with pytest.raises(MetricInputError, match="labels is empty"):
        summarize(_run(), [], n_boot=10)
    with pytest.raises(MetricInputError, match="'error' is a non-answer outcome name"):
        summarize(_run(), [*L3, "error"], n_boot=10)


def test_batch_calibration_starts_from_the_raw_scores_not_the_calibrated_ones() -> None:
    from vlmfer.types import Prediction

    labels = ("Happy", "Neutral")
    raw = {"Happy": 0.2, "Neutral": 0.8}
    calibrated = {"Happy": 0.6, "Neutral": 0.4}
    preds = [Prediction(sample_id=f"s{i}", gold="Happy", pred="Happy", outcome="ok",
                        scores=calibrated, extra={"raw_scores": raw}) for i in range(4)]
    out = summarize(preds, labels, n_boot=0)
    assert out["calibration"]["raw_argmax"]["neutral_rate"] == 1.0


def test_calibration_keeps_non_answers_as_their_outcome_even_with_scores() -> None:
    from vlmfer.types import Prediction

    labels = ("Happy", "Neutral")
    scores = {"Happy": 0.9, "Neutral": 0.1}
    preds = [
        Prediction(sample_id="a", gold="Happy", pred="Happy", outcome="ok", scores=scores),
        Prediction(sample_id="b", gold="Happy", pred=None, outcome="error",
                   reason="content-free call failed",
                   extra={"raw_scores": {"Happy": 0.2, "Neutral": 0.8}}),
    ]
    out = summarize(preds, labels, n_boot=0)
    assert out["accuracy"] == 0.5
    assert out["calibration"]["raw_argmax"]["accuracy"] == 0.5
    assert out["calibration"]["batch_calibrated"]["accuracy"] == 0.5


def test_answered_only_leaves_out_refused_blocked_and_error_but_keeps_invalid() -> None:
    # gold:   H H H N N S S S      + S(error) + H(blocked)
    # answer: H N refused N N S H invalid
    preds = [*_run(), _pred(8, "Sad", "error"), _pred(9, "Happy", "blocked")]
    m = summarize(preds, L3, n_boot=200)
    assert m["n"] == 10 and m["accuracy"] == pytest.approx(4 / 10)
    answered = m["answered_only"]
    # refused, error and blocked are left out; invalid is answered and wrong
    assert answered["n"] == 7 and answered["left_out"] == 3
    assert answered["accuracy"] == pytest.approx(4 / 7) == answered["war"]
    assert answered["uar"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    assert answered["macro_f1"] == pytest.approx((2 / 4 + 4 / 5 + 2 / 4) / 3)
    assert set(answered["ci"]) == {"accuracy", "war", "uar", "macro_f1"}
    lo, hi = answered["ci"]["accuracy"]
    assert lo <= answered["accuracy"] <= hi
    # errors stay visible: counted, with their reasons
    assert m["outcomes"]["error"] == 1 and m["error_reasons"] == {"error by test": 1}
    conventions = m["conventions"]
    assert "counts as wrong" in conventions["headline"]
    assert "ok or invalid" in conventions["answered_only"]
    assert "left out of answered_only" in conventions["errors"]


def test_war_is_accuracy_under_the_docs_name() -> None:
    m = summarize(_run(), L3, n_boot=50)
    assert m["war"] == m["accuracy"] and m["ci"]["war"] == m["ci"]["accuracy"]


class _Tables:
    """An inline plugin: one scalar metric without a vectorised form, one table."""

    @hookimpl
    def register_metrics(self, register: Register) -> None:
        def happy_share(y_true: Any, y_pred: Any, *, labels: Any = None) -> float:
            return sum(p == "Happy" for p in y_pred) / len(y_pred) if y_pred else float("nan")

        def answer_counts(y_true: Any, y_pred: Any, *, labels: Any = None) -> dict[str, int]:
            return {str(p): list(y_pred).count(p) for p in sorted(set(map(str, y_pred)))}

        register("happy_share", happy_share)
        register("answer_counts", answer_counts)


def test_a_plugin_metric_reaches_the_summary_with_its_interval() -> None:
    reg = Registry()
    reg.register(_Tables(), name="tables")
    try:
        m = summarize(_run(), L3, n_boot=300, metrics=["happy_share", "answer_counts"],
                      registry=reg)
    finally:
        reg.unregister("tables")
    assert m["happy_share"] == pytest.approx(2 / 8)
    lo, hi = m["ci"]["happy_share"]
    assert lo <= 2 / 8 <= hi and lo < hi
    # a table has no interval
    assert m["answer_counts"] == {"Happy": 2, "Neutral": 3, "Sad": 1, "invalid": 1,
                                  "refused": 1}
    assert "answer_counts" not in m["ci"]
    assert m["metrics"][-2:] == ["happy_share", "answer_counts"]
    # the built-ins took the same path and are all there
    assert {"accuracy", "uar", "macro_f1", "cohen_kappa"} <= set(m["ci"])


def test_an_unknown_or_clashing_metric_name_is_explained() -> None:
    with pytest.raises(UnknownMetricError, match="Did you mean 'macro_f1'"):
        summarize(_run(), L3, n_boot=10, metrics=["macro_f"])
    with pytest.raises(MetricInputError, match=r"would overwrite the metrics\.json field"):
        summarize(_run(), L3, n_boot=10, metrics=["outcomes"])


def _calibrated(i: int, gold: str, *, calibration: str) -> Prediction:
    """As the ``calibrated`` strategy records it: final scores plus the raw ones."""
    raw = {lab: 0.1 for lab in L3}
    raw["Neutral"] = 0.6
    raw[gold] = 0.3 if gold != "Neutral" else 0.8
    final = dict(raw) if calibration == "none" else {lab: 1 / 3 for lab in L3}
    if calibration != "none":
        final[gold] = 0.5
    pred = max(final, key=lambda k: final[k])
    return Prediction(sample_id=f"s{i}", gold=gold, pred=pred, outcome="ok", scores=final,
                      extra={"raw_scores": raw, "calibration": calibration})


@pytest.mark.parametrize(("calibration", "method", "kind"), [
    ("contextual", "contextual calibration", "calibrated"),
    ("none", "none", "raw"),
])
def test_calibration_method_names_what_ran(calibration: str, method: str, kind: str) -> None:
    preds = [_calibrated(i, L3[i % 3], calibration=calibration) for i in range(9)]
    m = summarize(preds, L3, n_boot=10)
    assert m["calibration"]["method"].startswith(method)
    assert m["calibration"]["methods"] == {calibration: 9}
    assert m["calibration"]["batch_method"].startswith("batch calibration")
    forced = m["excluding_neutral"]["forced_six_way"]
    assert forced["scores"] == kind
    # forced six-way reads the final scores: right on every sample when calibrated
    assert forced["accuracy"] == pytest.approx(1.0)


def _answered(i: int, *, model: str = "openai/gpt-4o-mini", snapshot: str | None = None,
              simulated: bool = False, details: dict[str, object] | None = None) -> Prediction:
    step = _step().model_copy(update={"model": model, "model_version": snapshot,
                                      "simulated": simulated, "details": details or {}})
    return _pred(i, "Happy", "Happy", steps=[step])


def test_model_snapshots_count_samples_per_reported_snapshot() -> None:
    preds = [_answered(0, snapshot="gpt-4o-mini-2024-07-18"),
             _answered(1, snapshot="gpt-4o-mini-2024-07-18"),
             _answered(2, snapshot="gpt-4o-mini-2026-01-01"), _answered(3)]
    m = summarize(preds, L3, n_boot=0)
    assert m["model_snapshots"] == {"gpt-4o-mini-2024-07-18": 2, "gpt-4o-mini-2026-01-01": 1}
    assert m["mixed_snapshots"] is True
    one = summarize(preds[:2], L3, n_boot=0)
    assert one["model_snapshots"] == {"gpt-4o-mini-2024-07-18": 2}
    assert one["mixed_snapshots"] is False


def test_two_models_with_one_snapshot_each_are_not_mixed() -> None:
    preds = [_answered(0, snapshot="gpt-4o-mini-2024-07-18"),
             _answered(1, model="gemini/gemini-2.5-flash", snapshot="gemini-2.5-flash")]
    m = summarize(preds, L3, n_boot=0)
    assert m["mixed_snapshots"] is False and len(m["model_snapshots"]) == 2


def test_one_simulated_step_makes_the_run_simulated() -> None:
    real = [_answered(0), _answered(1)]
    assert summarize(real, L3, n_boot=0)["simulated"] is False
    assert summarize([*real, _answered(2, simulated=True)], L3, n_boot=0)["simulated"] is True


def test_sent_parameters_say_what_was_sent_and_what_was_dropped() -> None:
    why = "gpt-5.2 does not accept it (only its default, 1)"
    preds = [
        _answered(i, model="openai/gpt-5.2", details={
            "sent": {"seed": i, "max_completion_tokens": 16},
            "dropped": {"temperature": why}})
        for i in range(2)
    ]
    preds.append(_answered(2, model="openai/gpt-5.2"))  # recorded before vlmfer kept it
    m = summarize(preds, L3, n_boot=0)
    assert m["sent_parameters"] == {"openai/gpt-5.2": {
        "sent": {"max_completion_tokens": 16, "seed": [0, 1]},
        "dropped": {"temperature": why}}}
