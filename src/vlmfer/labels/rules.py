"""The ``how`` vocabulary of a ``LabelMatch``: every rule name, and building matches."""

from __future__ import annotations

from collections.abc import Sequence

from vlmfer.types import LabelMatch

#: Every rule that can appear (before any ": detail") in ``LabelMatch.how``.
RULES: dict[str, str] = {
    "exact": "the whole answer is a label, up to case and surrounding spaces",
    "normalized": "the whole answer is a label once quotes, brackets, markdown and punctuation go",
    "synonym": "the whole answer is a synonym or inflection of one label's emotion",
    "prefix": "a 'Label: X' / 'Emotion - X' line names one label",
    "json": "a JSON object's label/emotion/answer key names one label",
    "final-answer": "the clause after the last 'final answer' / 'the answer is' names one label",
    "conclusion": "the clause after the last 'therefore' / 'in conclusion' names one label",
    "first-line": "the first line is a bare label and no other line is",
    "leading": "the answer starts with a bare label and its explanation names no other label",
    "sentence": "exactly one label is named, not negated, and nothing else is",
    "typo": "the label comes from a misspelling close to one label only ('suprise')",
    "json-scores": "a JSON object of per-label scores: the top one (a tie names no label)",
    "correction": "the answer after the last statement that takes back what came before",
    "lexicon": "map_description: the best-scoring label beats the runner-up by the margin",
    "empty": "no text (None, empty or whitespace)",
    "refusal": "the model declined to answer",
    "unknown": "the model said it cannot tell ('unknown', 'cannot determine', ...)",
    "ambiguous": "two or more different emotions are named, or one is both stated and negated",
    "negated": "the only emotions named are negated ('not happy')",
    "out-of-set": "the emotion named is not in the given label set",
    "no-label": "no emotion word at all",
    "retracted": "the answer takes back its label and names none after it ('Sad? No.')",
    "hedge": "the only label is asked about, not stated ('Sad?')",
    "truncated": "cut off at the token limit, and no whole answer or 'Final answer:' line",
    "garbled": "the only emotion word sits inside broken text ('per\\ufffdAnger\\ufffd')",
    "lexicon-tie": "map_description: the best two scores are closer than the margin",
    "lexicon-no-cue": "map_description: no cue of the lexicon in the description",
}


def rule_of(how: str) -> str:
    """The rule name of a ``LabelMatch.how``: ``rule_of("out-of-set: Neutral") == "out-of-set"``."""
    return how.split(":", 1)[0]


def _m(label: str | None, how: str, candidates: Sequence[str] = ()) -> LabelMatch:
    return LabelMatch(label=label, how=how, candidates=list(candidates))


def _with_how(m: LabelMatch, how: str) -> LabelMatch:
    return m if m.label is None else _m(m.label, how, m.candidates)
