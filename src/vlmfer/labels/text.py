"""Text normalisation and phrase matching with negation, shared by both mappers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

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


_REFUSAL = re.compile(
    r"\b(?:i\s+am\s+sorry|sorry\s*,?\s+(?:but\s+)?i\b|i\s+apologi[sz]e|as\s+an\s+ai\b"
    r"|i\s+(?:am\s+)?(?:can\s+not|will\s+not|unable\s+to|not\s+able\s+to|do\s+not)\s+"
    r"(?:\w+\s+){0,2}?(?:help|assist|comply|provide|identify|analy[sz]\w*|recogni[sz]\w*"
    r"|speculate|classify|infer|guess|fulfil\w*|make\s+(?:judg|assum|infer)\w*|do\s+that)\b"
    r"|against\s+(?:my|the)\s+(?:guidelines|polic\w+)|i\s+(?:must|have\s+to)\s+decline"
    r"|i\s+am\s+not\s+(?:comfortable|permitted|allowed))"
)
_MARKUP = re.compile(r"```[A-Za-z0-9_+-]*|[*#`]+|_{2,}|</?[A-Za-z][\w-]*>")


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
