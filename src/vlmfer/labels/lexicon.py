"""``map_description``: the ``lexicon`` mapper of free descriptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field

from vlmfer.errors import ConfigError
from vlmfer.labels.rules import _m
from vlmfer.labels.sets import _check_labels
from vlmfer.labels.text import (
    _MARKUP,
    _REFUSAL,
    _Matcher,
    _normalize,
    _phrase_tokens,
    _tokens,
    _unique,
)
from vlmfer.labels.words import _concepts, _label_index, _lexicon
from vlmfer.types import LabelMatch, Record


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
