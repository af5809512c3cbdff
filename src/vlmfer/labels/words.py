"""The word tables (synonyms, lexicon cues) and the per-label-set index built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from vlmfer.errors import ConfigError
from vlmfer.labels.sets import NEUTRAL
from vlmfer.labels.text import _Matcher, _phrase_tokens


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


@dataclass(frozen=True)
class _Target:
    labels: tuple[str, ...]  # the labels of the set this phrase names; empty if out of set
    concept: str | None  # the emotion concept, when the phrase is in the synonym table
    source: Literal["label", "synonym"]

    @property
    def names(self) -> tuple[str, ...]:
        return self.labels or ((self.concept,) if self.concept else ())


@dataclass(frozen=True)
class _AnyEmotion:
    forms: tuple[str, ...]
    synonyms: tuple[str, ...]


@lru_cache(maxsize=1)
def _any_emotion() -> _AnyEmotion:
    raw = _read_json("label_synonyms.json")["any_emotion"]
    return _AnyEmotion(tuple(raw["forms"]), tuple(raw["synonyms"]))


@lru_cache(maxsize=1)
def _not_typos() -> frozenset[str]:
    return frozenset(w.casefold() for w in _read_json("label_synonyms.json")["not_typos"])


# A misspelt word is read as a label word only when it is long enough that a one-letter
# slip cannot turn another common word into it ("bad" is not "sad", "dear" is not "fear").
_TYPO_MIN = 5  # shortest word (answer's or table's) that may differ by one edit
_TYPO_LONG = 8  # shortest synonym (and answer word) that may be read through a typo
_TYPO_CACHE_MAX = 50_000


class _Typos:
    """Misspelt label words: ``suprise`` -> ``surprise``, when only one label is close.

    Targets are the label names of the set, the forms of every emotion and the CAER
    synonyms of eight letters or more. A word is corrected only when it is not itself a
    word of the tables (or a listed real word), starts with the same letter as the target,
    and every target at the smallest distance names the same label (else: no correction).
    """

    def __init__(
        self, targets: dict[str, _Target], long_only: frozenset[str], known: frozenset[str]
    ) -> None:
        self._targets = targets
        self._long_only = long_only  # synonyms: both words need _TYPO_LONG letters
        self._words = tuple(targets)
        self._known = known
        self._cache: dict[str, str | None] = {}

    def correct(self, token: str) -> str | None:
        """The table word ``token`` is a misspelling of, or None."""
        try:
            return self._cache[token]
        except KeyError:
            pass
        out = self._lookup(token)
        if len(self._cache) >= _TYPO_CACHE_MAX:
            self._cache.clear()
        self._cache[token] = out
        return out

    def _lookup(self, token: str) -> str | None:
        n = len(token)
        if n < _TYPO_MIN - 1 or token in self._known or not token.isalpha():
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        found = process.extract(token, self._words, scorer=OSA.distance, score_cutoff=1, limit=None)
        best: int | None = None
        close: list[str] = []
        for word, dist, _ in found:
            shortest = min(n, len(word))
            # Two edits would reach real words: disrupted, discussing, haziness, surpassed.
            if word[0] != token[0] or dist > 1:
                continue
            if word in self._long_only and shortest < _TYPO_LONG:
                continue  # "started" is not a misspelt "startled"
            if shortest < _TYPO_MIN and not (n == _TYPO_MIN - 1 and len(word) == _TYPO_MIN):
                continue  # a four-letter word only as a dropped letter of a five-letter one
            if best is None or dist < best:
                best, close = int(dist), [word]
            elif dist == best:
                close.append(word)
        names = {self._targets[w].names for w in close}
        return close[0] if len(names) == 1 else None


@dataclass(frozen=True)
class _LabelIndex:
    labels: tuple[str, ...]
    concept_labels: dict[str, tuple[str, ...]]
    phrases: dict[tuple[str, ...], _Target]
    matcher: _Matcher[_Target]
    label_keys: frozenset[tuple[str, ...]]
    longest: int  # words in the longest label or synonym
    typos: _Typos
    any_emotion: str | None  # the gate's "an emotion" label ("Emotion"), if the set has one


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
    # The two-stage gate asks "Neutral or Emotion?": its "Emotion" stands for every
    # emotion the set has no label of its own for, so "Sad" or "not neutral" answers it.
    any_forms = {_phrase_tokens(w) for w in _any_emotion().forms}
    any_emotion = next((x for x in labels if _phrase_tokens(x) in any_forms), None)
    if any_emotion is not None:
        target = _Target((any_emotion,), None, "synonym")
        for word in (*_any_emotion().forms, *_any_emotion().synonyms):
            phrases.setdefault(_phrase_tokens(word), target)
    for c in _concepts():
        own = concept_labels.get(c.name, ())
        if not own and any_emotion is not None and c.name != NEUTRAL:
            own = (any_emotion,)
        target = _Target(own, c.name, "synonym")
        for word in c.words:
            phrases.setdefault(_phrase_tokens(word), target)
    keys = frozenset(_phrase_tokens(label) for label in labels)
    longest = max(len(p) for p in phrases)
    return _LabelIndex(
        labels, concept_labels, phrases, _Matcher(phrases), keys, longest,
        _typos(labels, phrases), any_emotion,
    )  # fmt: skip


def _typos(labels: tuple[str, ...], phrases: dict[tuple[str, ...], _Target]) -> _Typos:
    targets: dict[str, _Target] = {}
    long_only: set[str] = set()
    for label in labels:
        key = _phrase_tokens(label)
        if len(key) == 1:
            targets[key[0]] = phrases[key]
    for c in _concepts():
        target = phrases[_phrase_tokens(c.forms[0])]
        for word in c.forms:
            # Out-of-set forms of seven letters or more only: short ones (tired, proud)
            # sit one letter away from too many everyday words.
            if len(word) >= _TYPO_MIN and (c.caer or len(word) >= 7):
                targets.setdefault(word.casefold(), phrases[_phrase_tokens(word)])
        if c.caer:
            for word in c.synonyms:
                if len(word) >= _TYPO_LONG and " " not in word and word not in targets:
                    targets[word.casefold()] = target
                    long_only.add(word.casefold())
    known = frozenset(t for key in phrases for t in key) | _not_typos()
    return _Typos(targets, frozenset(long_only), known)
