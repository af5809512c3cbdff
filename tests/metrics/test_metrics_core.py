"""The metric functions on small cases worked out by hand."""

from __future__ import annotations

import doctest
import math
import re
import subprocess
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import pytest

import vlmfer
from vlmfer.metrics import (
    FORCED_SIX_WAY,
    SUBSET,
    MetricInputError,
    accuracy,
    bootstrap_ci,
    cohen_kappa,
    confusion_matrix,
    correctness,
    counts_form,
    excluding_neutral_subset,
    forced_six_way,
    macro_f1,
    neutral_rate,
    per_class,
    uar,
)
from vlmfer.metrics import calibration as calibration_module
from vlmfer.metrics import core as core_module
from vlmfer.metrics import stats as stats_module

L7 = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
L3 = ["Happy", "Neutral", "Sad"]

# gold:  H H H N N S S S
# pred:  H N refused N N S H None
GOLD = ["Happy", "Happy", "Happy", "Neutral", "Neutral", "Sad", "Sad", "Sad"]
PRED: list[str | None] = ["Happy", "Neutral", "refused", "Neutral", "Neutral", "Sad", "Happy",
                          None]


def test_accuracy_counts_non_answers_as_wrong() -> None:
    assert accuracy(GOLD, PRED, labels=L3) == pytest.approx(4 / 8)
    # Dropping the non-answers would inflate WAR: that is not what is reported.
    assert accuracy(GOLD, PRED, labels=L3) < 4 / 6


def test_uar_is_the_mean_recall_over_gold_labels() -> None:
    # recalls: Happy 1/3, Neutral 2/2, Sad 1/3
    assert uar(GOLD, PRED, labels=L3) == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    # Labels with no gold sample are left out of the mean, so passing 7 labels changes nothing.
    assert uar(GOLD, PRED, labels=L7) == pytest.approx(uar(GOLD, PRED, labels=L3))


def test_macro_f1_by_hand() -> None:
    # Happy: tp1 fp1 fn2 -> 2/5; Neutral: tp2 fp1 fn0 -> 4/5; Sad: tp1 fp0 fn2 -> 2/4
    assert macro_f1(GOLD, PRED, labels=L3) == pytest.approx((2 / 5 + 4 / 5 + 2 / 4) / 3)
    # A label predicted but never gold scores F1 = 0 and counts in the mean.
    assert macro_f1(["A", "A"], ["A", "B"], labels=["A", "B", "C"]) == pytest.approx(
        (2 / 3 + 0) / 2
    )


def test_confusion_matrix_puts_non_answers_in_their_own_columns() -> None:
    cm = confusion_matrix(GOLD, PRED, labels=L3)
    assert cm.labels == L3
    assert cm.columns == [*L3, "invalid", "refused", "blocked", "error"]
    assert cm.matrix == [
        [1, 1, 0, 0, 1, 0, 0],
        [0, 2, 0, 0, 0, 0, 0],
        [1, 0, 1, 1, 0, 0, 0],
    ]
    assert cm.as_array().sum() == len(GOLD)
    normalized = cm.row_normalized()
    assert normalized[0][0] == pytest.approx(1 / 3)
    assert sum(v for v in normalized[1] if v is not None) == pytest.approx(1.0)


def test_labels_fix_the_row_order() -> None:
    cm = confusion_matrix(GOLD, PRED, labels=["Sad", "Neutral", "Happy"])
    assert cm.labels == ["Sad", "Neutral", "Happy"]
    assert cm.matrix[0][:3] == [1, 0, 1]
    # An empty row has no proportions rather than a division by zero.
    assert confusion_matrix([], [], labels=["A"]).row_normalized() == [[None] * 5]


def test_a_predicted_string_outside_the_labels_is_invalid_not_a_label() -> None:
    cm = confusion_matrix(["A", "B"], ["Contempt", "B"], labels=["A", "B"])
    assert cm.matrix == [[0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]]
    # Without labels=, it is a label like any other (as in scikit-learn).
    assert confusion_matrix(["A", "B"], ["Contempt", "B"]).labels == ["A", "B", "Contempt"]


def test_per_class_marks_undefined_values_as_nan() -> None:
    table = per_class(GOLD, PRED, labels=[*L3, "Fear"])
    assert list(table) == [*L3, "Fear"]
    assert table["Happy"] == {"precision": 0.5, "recall": pytest.approx(1 / 3),
                              "f1": pytest.approx(0.4), "support": 3}
    assert table["Sad"]["precision"] == 1.0
    fear = table["Fear"]
    assert fear["support"] == 0 and math.isnan(fear["precision"]) and math.isnan(fear["recall"])
    assert math.isnan(fear["f1"])


def test_neutral_rate_against_the_gold_rate() -> None:
    assert neutral_rate(GOLD, PRED, labels=L3) == pytest.approx(3 / 8)
    assert neutral_rate(GOLD, GOLD, labels=L3) == pytest.approx(2 / 8)
    assert neutral_rate(["calm", "joy"], ["calm", "calm"], neutral="calm") == 1.0
    # A label set without Neutral has no Neutral rate.
    assert math.isnan(neutral_rate(["Happy"], ["Happy"], labels=["Happy", "Sad"]))
    assert neutral_rate(["Happy"], ["Happy"]) == 0.0


def test_cohen_kappa_by_hand() -> None:
    # 2x2: [[2, 1], [0, 1]]: p_o = 3/4, p_e = (3*2 + 1*2)/16 = 1/2 -> kappa = 1/2
    assert cohen_kappa(["A", "A", "A", "B"], ["A", "A", "B", "B"]) == pytest.approx(0.5)
    assert math.isnan(cohen_kappa(["A", "A"], ["A", "A"]))


def test_correctness_is_per_sample() -> None:
    assert correctness(GOLD, PRED, labels=L3).tolist() == [
        True, False, False, True, True, True, False, False,
    ]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "message"),
    [
        (["A", "B"], ["A"], None,
         "y_true has 2 values but y_pred has 1; they must be aligned sample by sample"),
        (["A", "X"], ["A", "A"], ["A", "B"],
         "gold value 'X' at index 1 is not one of labels ['A', 'B']; pass labels= that include"),
        ([None], ["A"], ["A"], "gold value None at index 0"),
        ([["A"]], ["A"], ["A"], "gold value ['A'] at index 0"),
        (["A"], ["A"], ["A", "refused"], "'refused' is a non-answer outcome name"),
        (["error"], ["error"], None,
         "(reserved: invalid, refused, blocked, error); rename that class"),
        (["A"], ["A"], ["A", "B", "A", "B", "C"], "labels must be unique; repeated: ['A', 'B']"),
        (["A"], ["A"], ["A", ""], "labels must be non-empty strings"),
    ],
)
def test_bad_input_is_explained(
    y_true: list[str], y_pred: list[str | None], labels: list[str] | None, message: str
) -> None:
    with pytest.raises(MetricInputError, match=re.escape(message)):
        accuracy(y_true, y_pred, labels=labels)
    assert issubclass(MetricInputError, ValueError)


def test_anything_that_is_not_a_label_string_is_an_invalid_answer() -> None:
    # A parser bug may hand over a number or a list; it is counted, never an error or a label.
    odd: list[Any] = [None, 3, ["A"], {"label": "A"}, "A"]
    cm = confusion_matrix(["A"] * 5, odd, labels=["A", "B"])
    assert cm.matrix == [[1, 0, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
    assert accuracy(["A"] * 5, odd, labels=["A", "B"]) == pytest.approx(1 / 5)


def test_correctness_checks_gold_against_the_labels_like_every_metric() -> None:
    with pytest.raises(MetricInputError, match="gold value 'Happy' at index 0"):
        correctness(["Happy"], ["Happy"], labels=["Sad"])


def test_a_row_of_one_sample_normalizes_to_one_and_nothing_warns() -> None:
    cm = confusion_matrix(["A"], ["A"], labels=["A", "B"])
    with warnings.catch_warnings():
        # 0/0 cells are defined as None/NaN on purpose; numpy must not warn about them.
        warnings.simplefilter("error")
        assert cm.row_normalized() == [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [None] * 6]
        table = per_class(["A"], ["A"], labels=["A", "B"])
    assert table["A"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


# --- the bootstrap: confusion-matrix forms ------------------------------------------------


def test_a_plugin_metric_with_a_counts_form_is_bootstrapped_from_matrices() -> None:
    calls: list[int] = []

    @counts_form(lambda labels, kwargs, given: core_module.cm_accuracy)
    def my_accuracy(
        y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
    ) -> float:
        calls.append(1)
        return accuracy(y_true, y_pred, labels=labels)

    def plain_accuracy(
        y_true: Sequence[str], y_pred: Sequence[str | None], *, labels: Sequence[str] | None = None
    ) -> float:
        calls.append(1)
        return accuracy(y_true, y_pred, labels=labels)

    gold, pred = GOLD * 10, PRED * 10
    interval = bootstrap_ci(my_accuracy, gold, pred, labels=L3, n_boot=200, seed=1)
    # The point value and the 200 draws are all scored as matrices.
    assert calls == []
    assert interval == bootstrap_ci("accuracy", gold, pred, labels=L3, n_boot=200, seed=1)
    # Without a counts form the metric is called once per draw, and still works.
    lo, hi = bootstrap_ci(plain_accuracy, gold, pred, labels=L3, n_boot=200, seed=1)
    assert len(calls) == 1 + 200 and lo <= 0.5 <= hi


def test_the_neutral_rate_interval_follows_its_options_and_label_set() -> None:
    # neutral= names the class to count, in the bootstrap as in the point value.
    assert bootstrap_ci(neutral_rate, ["joy", "calm"], ["calm", "calm"], labels=["joy", "calm"],
                        n_boot=50, neutral="calm") == (1.0, 1.0)
    # A given label set without Neutral has no Neutral rate; an inferred one has rate 0.
    lo, hi = bootstrap_ci(neutral_rate, ["Happy", "Sad"], ["Happy", "Sad"],
                          labels=["Happy", "Sad"], n_boot=50)
    assert math.isnan(lo) and math.isnan(hi)
    assert bootstrap_ci(neutral_rate, ["Happy", "Sad"], ["Happy", "Sad"], n_boot=50) == (0.0, 0.0)


# --- the two "excluding Neutral" conventions --------------------------------------------


def test_subset_keeps_seven_way_answers_so_neutral_is_wrong() -> None:
    result = excluding_neutral_subset(GOLD, PRED, L3)
    # Non-Neutral gold: H H H S S S with answers H N refused S H None -> 2 of 6.
    assert result == {"convention": SUBSET, "available": True, "n": 6,
                      "accuracy": pytest.approx(2 / 6), "uar": pytest.approx(1 / 3),
                      "macro_f1": pytest.approx((2 / 5 + 2 / 4) / 2)}
    assert SUBSET == "excluding Neutral: subset"


def test_forced_six_way_takes_the_best_non_neutral_score() -> None:
    scores = [
        {"Happy": 0.6, "Neutral": 0.3, "Sad": 0.1},
        {"Happy": 0.3, "Neutral": 0.6, "Sad": 0.1},  # Neutral answer; best other is Happy
        None,  # refused: wrong without scores
        {"Neutral": 0.9, "Sad": 0.1},
        {"Neutral": 0.9, "Happy": 0.1},
        {"Sad": 0.7, "Happy": 0.3},
        {"Happy": 0.4, "Neutral": 0.4, "Sad": 0.2},
        None,  # None: a non-answer
    ]
    result = forced_six_way(GOLD, scores, L3, y_pred=PRED)
    # Non-Neutral gold: H H H S S S -> forced H H refused S H invalid -> 3 of 6.
    assert result["convention"] == FORCED_SIX_WAY == "excluding Neutral: forced six-way"
    assert result["available"] is True and result["n"] == 6
    assert result["accuracy"] == pytest.approx(3 / 6)
    assert result["uar"] == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_forced_six_way_without_scores_is_unavailable_with_a_reason() -> None:
    result = forced_six_way(GOLD, [None] * len(GOLD), L3, y_pred=PRED)
    assert result["available"] is False
    assert "4 of 6 non-Neutral samples have no per-class scores" in result["reason"]
    assert "six-class" in result["reason"]
    # Without y_pred every non-Neutral sample needs scores.
    assert forced_six_way(GOLD, [None] * len(GOLD), L3)["reason"].startswith("6 of 6")


def test_ties_are_misses_never_the_first_label_and_absent_labels_are_skipped() -> None:
    for gold in ("Happy", "Sad"):  # a tie is wrong whichever label is gold
        result = forced_six_way([gold], [{"Happy": 0.5, "Sad": 0.5, "Neutral": 0.0}], L3)
        assert result["available"] is True and result["accuracy"] == 0.0
    result = forced_six_way(["Sad"], [{"Sad": 0.1, "Neutral": 0.9}], L3)
    assert result["accuracy"] == 1.0
    # Only a Neutral score: there is no six-way answer to take, and none is guessed.
    assert forced_six_way(["Sad"], [{"Neutral": 1.0}], L3)["available"] is False


def test_excluding_neutral_needs_a_neutral_label() -> None:
    with pytest.raises(MetricInputError, match="have no 'Neutral'"):
        excluding_neutral_subset(["Happy"], ["Happy"], ["Happy", "Sad"])
    with pytest.raises(MetricInputError, match="have no 'Neutral'"):
        forced_six_way(["Happy"], [None], ["Happy", "Sad"])
    with pytest.raises(MetricInputError, match="aligned"):
        forced_six_way(["Happy"], [None, None], L3)
    with pytest.raises(MetricInputError, match="aligned"):
        excluding_neutral_subset(["Happy"], [], L3)


# --- registry, docs and imports -----------------------------------------------------------


def test_metrics_are_found_by_name() -> None:
    metric = vlmfer.get_metric("uar")
    assert metric(GOLD, PRED, labels=L3) == uar(GOLD, PRED, labels=L3)
    cm = vlmfer.get_metric("confusion_matrix")(GOLD, PRED, labels=L3)
    assert cm.columns[-4:] == ["invalid", "refused", "blocked", "error"]


@pytest.mark.parametrize("module", [core_module, stats_module, calibration_module])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


HEAVY = "{m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas', 'matplotlib'}"


def _printed(*lines: str) -> list[str]:
    """What a fresh interpreter prints, run with these lines of code."""
    out = subprocess.run([sys.executable, "-c", "import sys\n" + "\n".join(lines)],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_metrics_import_scikit_learn_only_when_a_metric_is_computed() -> None:
    printed = _printed(
        "import vlmfer.metrics, vlmfer.metrics.plugin",
        f"print(sorted({HEAVY}))",
        "vlmfer.metrics.uar(['A', 'B'], ['A', 'refused'])",
        f"print(sorted({HEAVY}))",
    )
    # Called on lists, the metrics compute with scikit-learn, imported on first use.
    assert printed[0] == "[]" and "'sklearn']" in printed[1:]


def test_a_run_summary_imports_neither_scikit_learn_nor_scipy() -> None:
    # summarize takes every point value from the confusion matrix, the bootstrap's arithmetic:
    # a run does not pay about 1.5 s of CPU to import scikit-learn and SciPy.
    printed = _printed(
        "from vlmfer.metrics.summary import summarize",
        "L = ['Anger', 'Happy', 'Neutral']",
        "preds = [dict(sample_id=str(i), gold=L[i % 3], pred=L[i * 2 % 3], outcome='ok',"
        " group=str(i // 2)) for i in range(60)]",
        "m = summarize(preds, L, metrics=['cohen_kappa'])",
        f"print(m['accuracy'], sorted({HEAVY}))",
    )
    assert printed == ["0.3333333333333333", "[]"]


def test_loading_the_registry_imports_no_numpy() -> None:
    # The registry loads every plugin module at start-up, this package's metrics among them;
    # NumPy waits until a metric is computed, so the first request goes out sooner.
    printed = _printed(
        "from vlmfer.plugins import get_registry",
        "get_registry()",
        "import vlmfer.cli, vlmfer.evaluation, vlmfer.metrics",
        "print('numpy' in sys.modules)",
        "print(vlmfer.metrics.accuracy(['A'], ['A']), 'numpy' in sys.modules)",
    )
    assert printed == ["False", "1.0", "True"]
