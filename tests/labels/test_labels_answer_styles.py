"""A corpus of real answer styles: a wrong label is far worse than no label.

``answer_styles.jsonl`` holds a few hundred answers in the styles models give (self-
corrections, hedges, negations, typos, JSON, reasoning that ends in a verdict, refusals,
echoed label lists, broken text) over several label sets, each with the label a careful
reader takes from it, or null. The bar (issue 12): no wrong label at all, and at least
95 % of the answers that state one label read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlmfer.labels import RULES, parse_label, rule_of

CORPUS = Path(__file__).with_name("answer_styles.jsonl")


def _corpus() -> tuple[dict[str, tuple[str, ...]], list[dict[str, Any]]]:
    head, *rows = CORPUS.read_text(encoding="utf-8").splitlines()
    sets = {k: tuple(v) for k, v in json.loads(head)["sets"].items()}
    return sets, [json.loads(r) for r in rows]


def test_the_corpus_is_large_and_varied() -> None:
    sets, rows = _corpus()
    assert len(rows) >= 300
    assert {r["set"] for r in rows} == set(sets)
    assert sum(r["label"] is None for r in rows) >= 80
    for r in rows:
        assert r["label"] is None or r["label"] in sets[r["set"]], r


def test_no_wrong_label_and_at_least_95_percent_read() -> None:
    sets, rows = _corpus()
    wrong, missed, stated = [], [], 0
    for r in rows:
        m = parse_label(r["text"], sets[r["set"]])
        assert rule_of(m.how) in RULES, (r, m)
        if r["label"] is not None:
            stated += 1
            if m.label is None:
                missed.append((r["text"], m.how))
        if m.label is not None and m.label != r["label"]:
            wrong.append((r["set"], r["text"], r["label"], m))
    assert not wrong, "wrong labels:\n" + "\n".join(map(repr, wrong))
    assert len(missed) <= 0.05 * stated, f"{len(missed)} of {stated} missed: {missed}"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # issue 18: the negation reaches five words back; one word shorter gives Happy.
        ("She is not really very much that happy.", None),
        ("He is not at all very angry.", None),
        ("She is not sad; really very much that happy.", "Happy"),
    ],
)
def test_the_negation_window_is_five_words(text: str, label: str | None) -> None:
    assert parse_label(text, ("Happy", "Sad", "Anger")).label == label
