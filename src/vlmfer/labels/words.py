"""The word tables (synonyms, lexicon cues) and the per-label-set index built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from vlmfer.errors import ConfigError
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
class _LabelIndex:
    labels: tuple[str, ...]
    concept_labels: dict[str, tuple[str, ...]]
    phrases: dict[tuple[str, ...], _Target]
    matcher: _Matcher[_Target]
    label_keys: frozenset[tuple[str, ...]]
    longest: int  # words in the longest label or synonym


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
