"""Label sets, and turning a model's text into one label or an explicit non-answer.

``parse_label`` reads the answer to a "which of these labels?" question.
``map_description`` maps a free description of a face to a label: it is the
``lexicon`` mapper of the free-description strategy. Neither ever guesses:
when the text does not name exactly one label of the given set, the result
has ``label=None`` and ``how`` says why.

``how`` is a rule name (see ``RULES``), optionally followed by ``": "`` and a
detail, as in ``"out-of-set: Neutral"``; ``rule_of(match.how)`` gives the rule.
The word tables are data (``vlmfer/data/*.json``) and are rendered in
docs/labels.md.

>>> parse_label("The person appears to be happy.", CAER_LABELS).label
'Happy'
>>> parse_label("Neutral", SIX_LABELS).how
'out-of-set: Neutral'
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field

from vlmfer.errors import ConfigError
from vlmfer.types import LabelMatch, Record

__all__ = [
    "CAER_LABELS",
    "NEUTRAL",
    "RULES",
    "SIX_LABELS",
    "LexiconScores",
    "lexicon_table_markdown",
    "map_description",
    "parse_label",
    "rule_of",
    "score_description",
    "synonym_table_markdown",
]

#: Scores closer than this are a tie, and a tie names no label (never the first one).
TIE_EPS = 1e-9

CAER_LABELS: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
NEUTRAL = "Neutral"
#: The CAER labels without Neutral: the "excluding Neutral: forced six-way" label set.
SIX_LABELS: tuple[str, ...] = tuple(x for x in CAER_LABELS if x != NEUTRAL)

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
    "lexicon": "map_description: the best-scoring label beats the runner-up by the margin",
    "empty": "no text (None, empty or whitespace)",
    "refusal": "the model declined to answer",
    "unknown": "the model said it cannot tell ('unknown', 'cannot determine', ...)",
    "ambiguous": "two or more different emotions are named, or one is both stated and negated",
    "negated": "the only emotions named are negated ('not happy')",
    "out-of-set": "the emotion named is not in the given label set",
    "no-label": "no emotion word at all",
    "lexicon-tie": "map_description: the best two scores are closer than the margin",
    "lexicon-no-cue": "map_description: no cue of the lexicon in the description",
}


def rule_of(how: str) -> str:
    """The rule name of a ``LabelMatch.how``: ``rule_of("out-of-set: Neutral") == "out-of-set"``."""
    return how.split(":", 1)[0]


# ---------------------------------------------------------------------------
# Text normalisation and phrase matching (shared by both mappers)

_QUOTES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "\u201c": '"', "\u201d": '"'}
)
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bcan'?t\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
    (
        re.compile(r"\b(do|does|did|is|are|was|were|has|have|had|would|could|should|must)nt\b"),
        r"\1 not",
    ),
    (re.compile(r"\bi'm\b"), "i am"),
)
_TOKEN = re.compile(r"[^\W_]+|[.,;:!?]")
_PUNCT = frozenset(".,;:!?")
# A negation or damping word does not reach across these.
_STOP = frozenset(
    {".", ";", ":", "!", "?", ",", "but", "however", "although", "though", "yet", "whereas"}
)
_NEGATORS = frozenset(
    {
        "not", "no", "never", "without", "nor", "neither", "hardly", "barely", "scarcely",
        "lack", "lacks", "lacking", "nothing", "none",
    }
)  # fmt: skip
# "no doubt she is happy", "not only happy": the negator does not negate what follows.
_NEG_EXCEPT_NEXT = frozenset({"only", "just", "doubt", "question", "wonder", "matter"})
_NEG_BIGRAMS = frozenset(
    {("rather", "than"), ("instead", "of"), ("other", "than"), ("opposed", "to")}
)
# A negated mention passes its negation on through a list: "no fear, anger or disgust".
_COORD = frozenset({",", "or", "nor", "and", "any", "even"})
_GAP = 2  # words a "~" in a lexicon cue may stand for
_PARSE_WINDOW = 5  # words before a label word searched for a negation


def _normalize(text: str) -> str:
    t = text.casefold().translate(_QUOTES)
    for pattern, repl in _CONTRACTIONS:
        t = pattern.sub(repl, t)
    return t


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_normalize(text))


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    """Tokens of a table phrase; ``~`` is kept as a gap marker."""
    parts: list[str] = []
    for chunk in phrase.split("~"):
        if parts:
            parts.append("~")
        parts.extend(t for t in _tokens(chunk) if t not in _PUNCT)
    return tuple(parts)


T = TypeVar("T")


@dataclass(frozen=True)
class _Hit(Generic[T]):
    start: int
    end: int
    target: T
    negated: bool
    damped: bool


class _Matcher(Generic[T]):
    """Longest-first matcher of token phrases (with optional ``~`` gaps) over a token list."""

    def __init__(self, phrases: dict[tuple[str, ...], T]) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        for pattern, target in phrases.items():
            by_first.setdefault(pattern[0], []).append((pattern, target))
        for entries in by_first.values():
            entries.sort(key=lambda e: (-sum(p != "~" for p in e[0]), e[0].count("~")))
        self._by_first = by_first

    def _match(
        self, pattern: tuple[str, ...], toks: list[str], i: int
    ) -> tuple[int, list[int]] | None:
        j, k = i, 0
        gaps: list[int] = []
        while k < len(pattern):
            p = pattern[k]
            if p == "~":
                want = pattern[k + 1]
                for g in range(_GAP + 1):
                    pos = j + g
                    if pos >= len(toks) or any(toks[q] in _PUNCT for q in range(j, pos)):
                        return None
                    if toks[pos] == want:
                        gaps.extend(range(j, pos))
                        j, k = pos + 1, k + 2
                        break
                else:
                    return None
            elif j < len(toks) and toks[j] == p:
                j, k = j + 1, k + 1
            else:
                return None
        return j, gaps

    def find(
        self, toks: list[str], *, window: int, damping: frozenset[str] = frozenset()
    ) -> list[_Hit[T]]:
        hits: list[_Hit[T]] = []
        covered: set[int] = set()
        i = 0
        while i < len(toks):
            found = None
            for pattern, target in self._by_first.get(toks[i], ()):
                m = self._match(pattern, toks, i)
                if m is not None:
                    found = (m, target)
                    break
            if found is None:
                i += 1
                continue
            (end, gaps), target = found
            negated = _negated_before(toks, i, window, covered) or any(
                toks[g] in _NEGATORS for g in gaps
            )
            if not negated and hits and hits[-1].negated:
                prev = hits[-1]
                if all(toks[q] in _COORD for q in range(prev.end, i)):
                    negated = True
            damped = bool(damping) and (
                any(toks[g] in damping for g in gaps) or _word_before(toks, i, 2, covered, damping)
            )
            hits.append(_Hit(i, end, target, negated, damped))
            covered.update(range(i, end))
            i = end
        return hits


def _negated_before(toks: list[str], start: int, window: int, covered: set[int]) -> bool:
    for j in range(start - 1, max(-1, start - window - 1), -1):
        t = toks[j]
        if t in _STOP or j in covered:
            return False
        if t in _NEGATORS and not (j + 1 < len(toks) and toks[j + 1] in _NEG_EXCEPT_NEXT):
            return True
        if j + 1 < start and (t, toks[j + 1]) in _NEG_BIGRAMS:
            return True
    return False


def _word_before(
    toks: list[str], start: int, window: int, covered: set[int], words: frozenset[str]
) -> bool:
    for j in range(start - 1, max(-1, start - window - 1), -1):
        if toks[j] in _STOP or j in covered:
            return False
        if toks[j] in words:
            return True
    return False


# ---------------------------------------------------------------------------
# Data tables (loaded once, on first use)


@dataclass(frozen=True)
class _Concept:
    name: str
    caer: bool
    forms: tuple[str, ...]
    synonyms: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return self.forms + self.synonyms


@dataclass(frozen=True)
class _Cue:
    cue: str
    variants: tuple[str, ...]
    weights: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class _Lexicon:
    emotion_word_weight: float
    margin: float
    negation_window: int
    damping_words: frozenset[str]
    damping_factor: float
    cues: tuple[_Cue, ...]


def _read_json(name: str) -> Any:
    path = resources.files("vlmfer").joinpath("data").joinpath(name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # a broken install, not a user error
        raise RuntimeError(f"vlmfer data file {name} is missing or invalid: {exc}") from exc


@lru_cache(maxsize=1)
def _concepts() -> tuple[_Concept, ...]:
    raw = _read_json("label_synonyms.json")
    out: list[_Concept] = []
    for section, caer in (("labels", True), ("out_of_set", False)):
        for name, entry in raw[section].items():
            out.append(
                _Concept(name, caer, tuple(entry["forms"]), tuple(entry.get("synonyms", ())))
            )
    return tuple(out)


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    raw = _read_json("emotion_lexicon.json")
    cues = tuple(
        _Cue(
            c["cue"],
            tuple(c.get("variants", ())),
            tuple((k, float(v)) for k, v in c["weights"].items()),
        )
        for c in raw["cues"]
    )
    return _Lexicon(
        emotion_word_weight=float(raw["emotion_word_weight"]),
        margin=float(raw["margin"]),
        negation_window=int(raw["negation_window"]),
        damping_words=frozenset(raw["damping_words"]),
        damping_factor=float(raw["damping_factor"]),
        cues=cues,
    )


# ---------------------------------------------------------------------------
# Per-label-set indexes (cached: a run uses one or two label sets)


@dataclass(frozen=True)
class _Target:
    labels: tuple[str, ...]  # the labels of the set this phrase names; empty if out of set
    concept: str | None  # the emotion concept, when the phrase is in the synonym table
    source: Literal["label", "synonym"]

    @property
    def names(self) -> tuple[str, ...]:
        return self.labels or ((self.concept,) if self.concept else ())


@dataclass(frozen=True)
class _LabelIndex:
    labels: tuple[str, ...]
    concept_labels: dict[str, tuple[str, ...]]
    phrases: dict[tuple[str, ...], _Target]
    matcher: _Matcher[_Target]
    label_keys: frozenset[tuple[str, ...]]
    longest: int  # words in the longest label or synonym


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise ConfigError(
            f"labels must be a sequence of label names such as vlmfer.CAER_LABELS, "
            f"not the single string {labels!r}; pass ({labels!r},) for a one-label set"
        )
    out = tuple(labels)
    if not out:
        raise ConfigError("labels is empty: give at least one label name, e.g. vlmfer.CAER_LABELS")
    bad = [x for x in out if not isinstance(x, str)]
    if bad:
        raise ConfigError(
            f"labels {list(out)!r}: {bad!r} are not strings; give label names such as "
            f"{list(CAER_LABELS)!r}"
        )
    return out


def _concept_of(label: str) -> str | None:
    key = _phrase_tokens(label)
    for c in _concepts():
        if key == _phrase_tokens(c.name) or any(key == _phrase_tokens(w) for w in c.forms):
            return c.name
    return None


@lru_cache(maxsize=256)
def _label_index(labels: tuple[str, ...]) -> _LabelIndex:
    phrases: dict[tuple[str, ...], _Target] = {}
    concept_labels: dict[str, tuple[str, ...]] = {}
    for label in labels:
        key = _phrase_tokens(label)
        if not key:
            raise ConfigError(
                f"labels {list(labels)!r}: {label!r} is not a label name (it needs a letter "
                f"or a digit)"
            )
        if key in phrases:
            other = phrases[key].labels[0]
            raise ConfigError(
                f"labels {list(labels)!r}: {other!r} and {label!r} are the same label once case "
                f"and punctuation are ignored; keep one of them"
            )
        concept = _concept_of(label)
        phrases[key] = _Target((label,), concept, "label")
        if concept is not None:
            concept_labels[concept] = (*concept_labels.get(concept, ()), label)
    for c in _concepts():
        target = _Target(concept_labels.get(c.name, ()), c.name, "synonym")
        for word in c.words:
            phrases.setdefault(_phrase_tokens(word), target)
    keys = frozenset(_phrase_tokens(label) for label in labels)
    longest = max(len(p) for p in phrases)
    return _LabelIndex(labels, concept_labels, phrases, _Matcher(phrases), keys, longest)


# ---------------------------------------------------------------------------
# parse_label


def _m(label: str | None, how: str, candidates: Sequence[str] = ()) -> LabelMatch:
    return LabelMatch(label=label, how=how, candidates=list(candidates))


# Whole answers that say "I cannot tell" (compared after normalisation).
_UNKNOWN_ANSWERS = frozenset(
    {
        "unknown", "none", "n a", "na", "null", "nan", "other", "unclear", "uncertain",
        "undetermined", "indeterminate", "not sure", "unsure", "no idea", "no answer",
        "can not determine", "can not tell", "can not say", "cannot be determined",
        "can not be determined", "i do not know", "do not know", "not determinable",
        "none of the above", "none of these", "not applicable", "unable to determine",
    }
)  # fmt: skip
_UNKNOWN = re.compile(
    r"\b(?:unknown|undetermined|indeterminate|not\s+determinable"
    r"|can\s+not\s+(?:(?:really|reliably|accurately|confidently)\s+)?(?:be\s+)?"
    r"(?:determined?|tell|told|say|identif\w*|infer\w*|judged?|assess\w*|classif\w*)"
    r"|unable\s+to\s+(?:(?:really|reliably|accurately|confidently)\s+)?"
    r"(?:determine|tell|say|identify|infer|judge|assess|classify)"
    r"|(?:impossible|not\s+possible)\s+to\s+(?:determine|tell|say|identify|infer|judge)"
    r"|i\s+do\s+not\s+know|no\s+way\s+to\s+(?:tell|know|determine)"
    r"|(?:not\s+enough|insufficient)\s+(?:information|detail|context|visual\s+information))\b"
)
_HEDGE = re.compile(
    r"\b(?:unclear|uncertain|not\s+sure|unsure|hard\s+to\s+(?:tell|say)"
    r"|difficult\s+to\s+(?:tell|say|determine))\b"
)
_REFUSAL = re.compile(
    r"\b(?:i\s+am\s+sorry|sorry\s*,?\s+(?:but\s+)?i\b|i\s+apologi[sz]e|as\s+an\s+ai\b"
    r"|i\s+(?:am\s+)?(?:can\s+not|will\s+not|unable\s+to|not\s+able\s+to|do\s+not)\s+"
    r"(?:\w+\s+){0,2}?(?:help|assist|comply|provide|identify|analy[sz]\w*|recogni[sz]\w*"
    r"|speculate|classify|infer|guess|fulfil\w*|make\s+(?:judg|assum|infer)\w*|do\s+that)\b"
    r"|against\s+(?:my|the)\s+(?:guidelines|polic\w+)|i\s+(?:must|have\s+to)\s+decline"
    r"|i\s+am\s+not\s+(?:comfortable|permitted|allowed))"
)
_MARKUP = re.compile(r"```[A-Za-z0-9_+-]*|[*#`]+|_{2,}|</?[A-Za-z][\w-]*>")
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_FINAL = re.compile(
    r"\bfinal\s+(?:answer|label|prediction|classification|emotion|verdict|choice|decision"
    r"|response|output)s?\b(?:\s*(?:is|would\s+be|will\s+be|should\s+be|must\s+be)\b)?"
    r"\s*[:=\-\u2013\u2014]?"
    r"|\b(?:answer|prediction|classification|verdict)\s*"
    r"(?:(?:is|would\s+be|will\s+be|should\s+be|must\s+be)\b\s*[:=\-\u2013\u2014]?"
    r"|[:=\-\u2013\u2014])"
    r"|\bi\s*(?:would\s+|will\s+|'d\s+|'ll\s+)?(?:choose|pick|select|go\s+with"
    r"|classify\s+(?:it|this|them|the\s+\w+)\s+as)\b\s*:?",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:in\s+conclusion|in\s+summary|to\s+conclude|to\s+summari[sz]e|overall|all\s+in\s+all"
    r"|in\s+short|therefore|thus|hence|consequently)\b\s*[,:]?",
    re.IGNORECASE,
)
_KV = re.compile(
    r"^\s*(?:[-\u2022>]+\s*|\d+[.)]\s*)?(?:the\s+|my\s+)?"
    r"(?:predicted\s+|detected\s+|dominant\s+|primary\s+|main\s+|overall\s+)?"
    r"(label|emotion|emotional\s+state|expression|facial\s+expression|answer|prediction"
    r"|class|category|classification|output|result|response|mood|feeling|sentiment)"
    r"\s*[:=\-\u2013\u2014]\s*(.*?)\s*$",
    re.IGNORECASE,
)
_SEGMENT = re.compile(
    r"[.;(!?]|\s[-\u2013\u2014]\s|\b(?:because|since|as|given|due\s+to|based\s+on|with)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n")
_WORDY = re.compile(r"[^\W_]")
_JSON_KEYS = frozenset(
    {
        "label", "labels", "answer", "final_answer", "final_label", "emotion", "emotions",
        "emotion_label", "predicted_label", "predicted_emotion", "predicted_class",
        "prediction", "final_prediction", "final_emotion", "class", "class_label", "category",
        "classification", "result", "output", "dominant_emotion", "primary_emotion",
        "expression", "facial_expression",
    }
)  # fmt: skip
_DEFINITE_NONE = frozenset({"unknown", "ambiguous", "negated", "out-of-set", "refusal"})


def _target_match(target: _Target, how: str) -> LabelMatch:
    if len(target.labels) == 1:
        return _m(target.labels[0], how, target.labels)
    if target.labels:
        return _m(None, "ambiguous: " + ", ".join(target.labels), target.labels)
    return _m(None, f"out-of-set: {target.concept}", target.names)


def _clean(text: str, idx: _LabelIndex, raw: str | None = None) -> LabelMatch | None:
    """The whole of ``text`` is one label, synonym or "unknown", up to markup.

    ``raw`` is the text before markup was removed; "exact" is judged on it.
    """
    words = [t for t in _tokens(text) if t not in _PUNCT]
    if not words or len(words) > idx.longest:
        return None
    target = idx.phrases.get(tuple(words))
    if target is not None:
        if target.source == "synonym":
            how = "synonym"
        elif (text if raw is None else raw).strip().casefold() == target.labels[0].casefold():
            how = "exact"
        else:
            how = "normalized"
        return _target_match(target, how)
    if " ".join(words) in _UNKNOWN_ANSWERS:
        return _m(None, "unknown")
    return None


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _mentions(text: str, idx: _LabelIndex) -> tuple[list[str], list[str], list[str]]:
    """The labels named, the emotions negated and the out-of-set emotions named in ``text``."""
    toks = _tokens(text)
    pos: list[str] = []
    neg: list[str] = []
    out: list[str] = []
    for hit in idx.matcher.find(toks, window=_PARSE_WINDOW):
        names = hit.target.names
        if hit.negated:
            neg.extend(names)
        elif hit.target.labels:
            pos.extend(names)
        else:
            out.extend(names)
    return _unique(pos), _unique(neg), _unique(out)


def _scan(text: str, idx: _LabelIndex) -> LabelMatch:
    """Every emotion word in ``text``, with negation: one label or a reason."""
    pos, neg, out = _mentions(text, idx)
    if not (pos or neg or out):
        norm = _normalize(text)
        if _UNKNOWN.search(norm) or _HEDGE.search(norm):
            return _m(None, "unknown")
        return _m(None, "no-label")
    if pos and len(pos) + len(out) > 1:
        named = pos + out
        return _m(None, "ambiguous: " + ", ".join(named), named)
    both = [p for p in pos if p in neg]
    if both:
        return _m(None, f"ambiguous: {both[0]} is both stated and negated", both)
    if pos:
        return _m(pos[0], "sentence", pos)
    if out:
        return _m(None, "out-of-set: " + ", ".join(out), out)
    return _m(None, "negated: " + ", ".join(neg), neg)


def _parse_value(value: str, idx: _LabelIndex) -> LabelMatch | None:
    """Read a short answer (after a prefix or marker, or a JSON value); None if no emotion word."""
    m = _clean(value, idx)
    if m is not None:
        return m
    segment = _SEGMENT.split(value, maxsplit=1)[0]
    if segment != value:
        m = _clean(segment, idx)
        if m is not None:
            return m
    m = _scan(_SENTENCE_END.split(value.strip(), maxsplit=1)[0], idx)
    return None if rule_of(m.how) == "no-label" else m


def _with_how(m: LabelMatch, how: str) -> LabelMatch:
    return m if m.label is None else _m(m.label, how, m.candidates)


def _key_value(line: str, idx: _LabelIndex) -> re.Match[str] | None:
    """A ``key: value`` line, unless its "key" is a label of the set (``Emotion - smiling``)."""
    kv = _KV.match(line)
    if kv is None or _phrase_tokens(kv.group(1)) in idx.label_keys:
        return None
    return kv


def _leading(first_line: str, plain: str, idx: _LabelIndex) -> LabelMatch | None:
    """A bare label, then an explanation that names no other label: ``Surprise (mouth open)``."""
    segment = _SEGMENT.split(first_line, maxsplit=1)[0]
    if segment == first_line:
        return None
    m = _clean(segment, idx)
    if m is None or m.label is None:
        return None
    start = plain.find(segment) + len(segment)
    pos, neg, _ = _mentions(plain[start:], idx)
    if any(p != m.label for p in pos) or m.label in neg:
        return None
    return _m(m.label, "leading", m.candidates)


def _brace_end(text: str, start: int) -> int | None:
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _json_objects(text: str) -> Iterator[Any]:
    start = text.find("{")
    while start != -1:
        end = _brace_end(text, start)
        if end is None:
            return
        chunk = text[start : end + 1]
        obj: Any = None
        try:
            obj = json.loads(chunk)
        except ValueError:
            try:  # single-quoted, Python-style dicts are common too
                obj = ast.literal_eval(chunk)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                obj = None
        if isinstance(obj, dict):
            yield obj
            start = text.find("{", end + 1)
        else:
            start = text.find("{", start + 1)


def _json_values(obj: Any, depth: int = 0) -> Iterator[Any]:
    """Values of recognised keys, searching nested objects."""
    if depth > 3:
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            norm = re.sub(r"[\W_]+", "_", str(key).casefold()).strip("_")
            if norm in _JSON_KEYS and not isinstance(value, dict):
                yield value
            else:
                yield from _json_values(value, depth + 1)
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                yield from _json_values(item, depth + 1)


def _from_json(text: str, idx: _LabelIndex) -> LabelMatch | None:
    objects = list(_json_objects(text))
    for obj in reversed(objects):  # the last object is the answer after any reasoning
        values = list(_json_values(obj))
        if not values:
            continue
        results: list[LabelMatch] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None or (isinstance(item, str) and not item.strip()):
                    results.append(_m(None, "unknown: the JSON answer is empty"))
                elif isinstance(item, str):
                    m = _parse_value(item, idx)
                    if m is not None:
                        results.append(m)
        labels = _unique([r.label for r in results if r.label is not None])
        if len(labels) == 1:
            return _m(labels[0], "json", labels)
        if len(labels) > 1:
            return _m(None, "ambiguous: " + ", ".join(labels), labels)
        if results:
            return results[0]
    return None


def _clause_after(plain: str, end: int) -> str:
    newline = plain.find("\n", end)
    line = plain[end : newline if newline != -1 else len(plain)]
    if _WORDY.search(line):
        return line
    if newline == -1:
        return ""
    # "Final answer:" alone on its line: the answer is on the next one.
    return next((x for x in plain[newline + 1 :].splitlines() if x.strip()), "")


def _from_markers(
    pattern: re.Pattern[str], plain: str, idx: _LabelIndex, how: str
) -> LabelMatch | None:
    negated: LabelMatch | None = None
    for marker in reversed(list(pattern.finditer(plain))):
        m = _parse_value(_clause_after(plain, marker.end()), idx)
        if m is None:
            continue
        # "The answer is Happy. The answer is not Sad.": a negation alone defers to an
        # earlier marker that names a label.
        if rule_of(m.how) == "negated":
            negated = negated or m
            continue
        return _with_how(m, how)
    return negated


def parse_label(text: str | None, labels: Sequence[str]) -> LabelMatch:
    """Read one label of ``labels`` from a model's answer, or say why there is none.

    Rules, in precedence order (the first that decides wins):

    1. ``empty``: no text.
    2. ``exact`` / ``normalized`` / ``synonym``: the whole answer is a label (up to case,
       quotes, brackets, markdown and punctuation) or a synonym of one; a whole answer that
       is an emotion outside ``labels`` is ``out-of-set``, and "unknown", "N/A" ... are
       ``unknown``.
    3. ``prefix``: a one-line ``Label: Fear`` / ``Emotion - anger``.
    4. ``json``: the last JSON object with a ``label`` / ``emotion`` / ``answer`` ... key.
    5. ``final-answer``: the clause after the last "final answer" / "the answer is".
    6. ``conclusion``: the clause after the last "therefore" / "in conclusion" / "overall".
    7. ``first-line``: the first line is a bare label and no other line is one.
    8. ``prefix``: the last ``Emotion: X`` line with a bare label as X.
    9. ``leading``: a bare label, then an explanation naming no other label of the set
       (``Surprise - her mouth is open``).
    10. ``refusal``, then ``unknown`` ("cannot determine", "I don't know", ...).
    11. ``sentence``: every emotion word in the text, with negation: exactly one label named
        and nothing else → that label; otherwise ``ambiguous``, ``negated``, ``out-of-set``
        or ``no-label``.

    Labels match case-insensitively and come back in the spelling of ``labels``. Synonyms
    apply to labels that name a known emotion (``"Angry"`` stands for anger too); any other
    label (``"Emotion"``) matches only its own name.

    >>> parse_label("**Happy**", CAER_LABELS).how
    'normalized'
    >>> parse_label("Sad or Neutral", CAER_LABELS).how
    'ambiguous: Sad, Neutral'
    """
    idx = _label_index(_check_labels(labels))
    if text is None or not text.strip():
        return _m(None, "empty")
    # A reasoning model's thinking block is not its answer, when an answer follows it.
    answer = _THINKING.sub("", text)
    if answer.strip():
        text = answer
    plain = _MARKUP.sub("", text.translate(_QUOTES))
    m = _clean(text, idx) or _clean(plain, idx, raw=text)
    if m is not None:
        return m
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if len(lines) == 1:
        kv = _key_value(lines[0], idx)
        if kv is not None:
            m = _parse_value(kv.group(2), idx)
            if m is not None:
                return _with_how(m, "prefix")
    if "{" in text:
        m = _from_json(text, idx)
        if m is not None:
            return m
    m = _from_markers(_FINAL, plain, idx, "final-answer") or _from_markers(
        _CONCLUSION, plain, idx, "conclusion"
    )
    if m is not None:
        return m
    if len(lines) > 1:
        first = _clean(lines[0], idx)
        if first is not None and not any(
            (c := _clean(line, idx)) is not None and c.label is not None for line in lines[1:]
        ):
            return _with_how(first, "first-line")
        for line in reversed(lines):
            kv = _key_value(line, idx)
            if kv is not None:
                value = kv.group(2)
                m = _clean(value, idx) or _clean(_SEGMENT.split(value, maxsplit=1)[0], idx)
                if m is not None:
                    return _with_how(m, "prefix")
    m = _leading(lines[0], plain, idx) if lines else None
    if m is not None:
        return m
    norm = _normalize(plain)
    if _REFUSAL.search(norm):
        return _m(None, "refusal")
    if _UNKNOWN.search(norm):
        return _m(None, "unknown")
    return _scan(plain, idx)


# ---------------------------------------------------------------------------
# map_description: the "lexicon" mapper of free descriptions


class LexiconScores(Record):
    """What the lexicon found in a description.

    ``scores`` maps a label of the set (or, for an emotion outside it, the emotion's
    name) to its summed cue weight, highest first. ``cues`` lists the cues counted
    (``"smiling -> Happy +2"``); ``negated`` the cues ignored because they were negated.
    """

    scores: dict[str, float] = Field(default_factory=dict)
    cues: list[str] = Field(default_factory=list)
    negated: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class _CueTarget:
    cue: str
    weights: tuple[tuple[str, float], ...]  # label (or out-of-set concept) -> weight


@dataclass(frozen=True)
class _LexiconIndex:
    labels: tuple[str, ...]
    order: dict[str, int]
    matcher: _Matcher[_CueTarget]


@lru_cache(maxsize=64)
def _lexicon_index(labels: tuple[str, ...]) -> _LexiconIndex:
    lex = _lexicon()
    idx = _label_index(labels)

    def names(concept: str) -> tuple[str, ...]:
        return idx.concept_labels.get(concept, (concept,))

    phrases: dict[tuple[str, ...], _CueTarget] = {}
    for c in _concepts():
        for word in c.words:
            weights = tuple((n, lex.emotion_word_weight) for n in names(c.name))
            phrases.setdefault(_phrase_tokens(word), _CueTarget(word, weights))
    for cue in lex.cues:
        weights = tuple((n, w) for concept, w in cue.weights for n in names(concept))
        for phrase in (cue.cue, *cue.variants):
            phrases[_phrase_tokens(phrase)] = _CueTarget(cue.cue, weights)
    for label in labels:  # a label's own name always counts for it
        phrases[_phrase_tokens(label)] = _CueTarget(label, ((label, lex.emotion_word_weight),))
    order = {name: i for i, name in enumerate((*labels, *(c.name for c in _concepts())))}
    return _LexiconIndex(labels, order, _Matcher(phrases))


def _fmt(x: float) -> str:
    return f"{x:g}"


def score_description(text: str | None, labels: Sequence[str]) -> LexiconScores:
    """Score a free description of a face against ``labels`` with the emotion lexicon.

    >>> score_description("She is smiling broadly.", CAER_LABELS).scores
    {'Happy': 2.0}
    """
    index = _lexicon_index(_check_labels(labels))
    if not text:
        return LexiconScores()
    lex = _lexicon()
    toks = _tokens(_MARKUP.sub("", text))
    best: dict[str, tuple[_CueTarget, float]] = {}
    negated: list[str] = []
    for hit in index.matcher.find(toks, window=lex.negation_window, damping=lex.damping_words):
        if hit.negated:
            negated.append(hit.target.cue)
            continue
        factor = lex.damping_factor if hit.damped else 1.0
        # a cue counts once, however often it is repeated
        if hit.target.cue not in best or best[hit.target.cue][1] < factor:
            best[hit.target.cue] = (hit.target, factor)
    scores: dict[str, float] = {}
    cues: list[str] = []
    for target, factor in best.values():
        parts = []
        for name, weight in target.weights:
            scores[name] = scores.get(name, 0.0) + weight * factor
            parts.append(f"{name} +{_fmt(weight * factor)}")
        cues.append(f"{target.cue} -> {', '.join(parts)}")
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], index.order.get(kv[0], 1 << 30), kv[0]))
    return LexiconScores(scores=dict(ranked), cues=cues, negated=_unique(negated))


def map_description(
    text: str | None, labels: Sequence[str], *, margin: float | None = None
) -> LabelMatch:
    """Map a free description of a facial expression to one label of ``labels``, or None.

    Deterministic and offline: cue words and phrases of the emotion lexicon
    (``vlmfer/data/emotion_lexicon.json``) and the emotion words of the synonym table add
    weight to emotions; negated cues ("not smiling", "no tears") are ignored. The best
    emotion wins (``how="lexicon"``) only if its score beats the runner-up by ``margin``
    (the table's default when None) and it is in ``labels``. Otherwise ``label`` is None
    and ``how`` says why: ``empty``, ``refusal``, ``lexicon-no-cue``, ``lexicon-tie`` or
    ``out-of-set``. ``candidates`` lists the cues counted, then the negated ones as
    ``"not <cue>"``.

    >>> map_description("Wide eyes, raised eyebrows and an open mouth.", CAER_LABELS).label
    'Surprise'
    """
    labels_t = _check_labels(labels)
    lex = _lexicon()
    need = lex.margin if margin is None else margin
    if margin is not None and margin < 0:
        raise ConfigError(
            f"margin={margin!r}: the lexicon margin must be >= 0 (default {lex.margin})"
        )
    if text is None or not text.strip():
        return _m(None, "empty")
    if _REFUSAL.search(_normalize(text)):
        return _m(None, "refusal")
    s = score_description(text, labels_t)
    candidates = [*s.cues, *(f"not {c}" for c in s.negated)]
    if not s.scores:
        return _m(None, "lexicon-no-cue", candidates)
    ranked = list(s.scores.items())
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if top - second < need:
        close = ", ".join(f"{n}={_fmt(v)}" for n, v in ranked[:2] if v > top - need)
        return _m(None, f"lexicon-tie: {close} (margin {_fmt(need)})", candidates)
    if best not in labels_t:
        return _m(None, f"out-of-set: {best}", candidates)
    return _m(best, "lexicon", candidates)


# ---------------------------------------------------------------------------
# Documentation tables (docs/labels.md embeds these; a test keeps them in sync)

_BEGIN = "<!-- BEGIN {name} (generated by python -m vlmfer.labels; do not edit) -->"
_END = "<!-- END {name} -->"


def synonym_table_markdown() -> str:
    """The synonym table as a Markdown table, as embedded in docs/labels.md."""
    rows = ["| Emotion | Set | Forms | Synonyms |", "|---|---|---|---|"]
    for c in _concepts():
        rows.append(
            f"| {c.name} | {'CAER' if c.caer else 'out-of-set'} | {', '.join(c.forms)} "
            f"| {', '.join(c.synonyms) or '-'} |"
        )
    return "\n".join(rows)


def lexicon_table_markdown() -> str:
    """The emotion lexicon's cues as a Markdown table, as embedded in docs/labels.md."""
    lex = _lexicon()
    rows = ["| Cue | Also matches | Weights |", "|---|---|---|"]
    for cue in lex.cues:
        weights = ", ".join(f"{k} {_fmt(v)}" for k, v in cue.weights)
        variants = ", ".join(f"`{v}`" for v in cue.variants) or "-"
        rows.append(f"| `{cue.cue}` | {variants} | {weights} |")
    return "\n".join(rows)


def _doc_blocks() -> dict[str, str]:
    return {"synonym-table": synonym_table_markdown(), "lexicon-table": lexicon_table_markdown()}


def _render_docs(doc: str) -> str:
    """``doc`` with every generated block replaced by the current tables."""
    for name, body in _doc_blocks().items():
        begin, end = _BEGIN.format(name=name), _END.format(name=name)
        head, sep, rest = doc.partition(begin)
        _, sep2, tail = rest.partition(end)
        if not (sep and sep2):
            raise ValueError(f"the docs have no {begin!r} ... {end!r} block")
        doc = f"{head}{begin}\n{body}\n{end}{tail}"
    return doc


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vlmfer.labels docs/labels.md  (rewrites its generated tables)")
        return 2
    path = Path(argv[0])
    path.write_text(_render_docs(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
