"""The answer policy: which label (or description) the emulated model gives.

Everything random is drawn from a RNG seeded with a hash of the config seed, the
media bytes and the question text, so the same request always gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CANONICAL: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")

# Words that name a label in a prompt's list, mapped to the canonical emotion they stand for.
_LABEL_WORDS: dict[str, str] = {
    "anger": "Anger",
    "angry": "Anger",
    "disgust": "Disgust",
    "disgusted": "Disgust",
    "fear": "Fear",
    "fearful": "Fear",
    "happy": "Happy",
    "happiness": "Happy",
    "neutral": "Neutral",
    "sad": "Sad",
    "sadness": "Sad",
    "surprise": "Surprise",
    "surprised": "Surprise",
    "contempt": "Contempt",
}
# Candidates that stand for "any emotion but Neutral" (a Neutral gate's other answer).
_GATE_WORDS = ("emotion", "emotional", "non-neutral", "not neutral", "expressive")
_LABEL_RE = re.compile(
    r"\b(" + "|".join(sorted([*_LABEL_WORDS, *_GATE_WORDS], key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)

#: One description per emotion, free of label names, used when a request has media
#: but no label list. The mapping keywords below recover the emotion from it.
DESCRIPTIONS: dict[str, str] = {
    "Anger": "The brows are drawn down and together, the eyes glare and the lips are pressed "
    "tightly.",
    "Disgust": "The nose is wrinkled and the upper lip is raised in revulsion.",
    "Fear": "The eyes are wide open, the brows are raised and drawn together, and the lips are "
    "stretched back in alarm.",
    "Happy": "The person is smiling broadly with raised cheeks.",
    "Neutral": "The face is relaxed with no particular expression; the mouth is closed and the "
    "gaze is calm.",
    "Sad": "The inner brows are raised, the eyelids droop and the corners of the mouth turn down.",
    "Surprise": "The eyebrows are raised high, the eyes are wide and the jaw has dropped open.",
}
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Anger": (r"\bglar", r"\bscowl", r"\bangr", r"\banger\b", r"\bfurious", r"\brage",
              r"\bclench", r"\birritat", r"\bannoy", r"\bpressed tightly"),
    "Disgust": (r"\bdisgust", r"\brevuls", r"\brepuls", r"\bwrinkled", r"\bgross",
                r"upper lip is raised"),
    "Fear": (r"\bfear", r"\bafraid", r"\bscared", r"\bterrif", r"\bfrighten", r"\bpanic",
             r"\balarm", r"\banxious"),
    "Happy": (r"\bsmil", r"\bhappy\b", r"\bhappiness", r"\bjoy", r"\blaugh", r"\bgrin",
              r"\bcheerful", r"\bdelight"),
    "Neutral": (r"\bneutral", r"\brelaxed", r"no particular expression", r"\bexpressionless",
                r"\bcalm\b", r"\bblank"),
    "Sad": (r"\bsad", r"\bsorrow", r"\bdroop", r"\bcry", r"\btear", r"\bunhappy",
            r"\bgloom", r"\bdowncast", r"mouth turn down"),
    "Surprise": (r"\bsurpris", r"\bastonish", r"\bshock", r"\bamazed", r"\bstartled",
                 r"jaw has dropped", r"raised high"),
}

_DIRECTIVE_RE = re.compile(r"\[\[emu:([^\]]*)\]\]")

PolicyKind = Literal["label", "description", "text", "refuse", "block"]


def parse_directives(texts: Sequence[str]) -> dict[str, str]:
    """Collect ``[[emu:key=value;flag]]`` markers from request text (later ones win)."""
    out: dict[str, str] = {}
    for text in texts:
        for m in _DIRECTIVE_RE.finditer(text):
            for item in re.split(r"[;,]", m.group(1)):
                item = item.strip()
                if not item:
                    continue
                key, _, value = item.partition("=")
                out[key.strip().lower()] = value.strip()
    return out


def strip_directives(text: str) -> str:
    return _DIRECTIVE_RE.sub("", text)


def canonical_of(word: str) -> str | None:
    """The canonical CAER emotion a label word stands for (None for gate words)."""
    w = word.strip().lower()
    if w in _LABEL_WORDS:
        return _LABEL_WORDS[w]
    for c in CANONICAL:
        if c.lower() == w:
            return c
    return None


def is_gate_word(word: str) -> bool:
    return word.strip().lower() in _GATE_WORDS


def labels_in_text(texts: Sequence[str]) -> list[str]:
    """Candidate labels listed in prompt text: the line naming the most label words (>= 2)."""
    best: list[str] = []
    for text in texts:
        for line in strip_directives(text).splitlines():
            found: list[str] = []
            seen: set[str] = set()
            for m in _LABEL_RE.finditer(line):
                word = m.group(1)
                if word.lower() not in seen:
                    seen.add(word.lower())
                    found.append(word)
                elif word[:1].isupper():  # prefer the spelling used as a label
                    found = [word if w.lower() == word.lower() else w for w in found]
            named = [w for w in found if not is_gate_word(w)]
            if len(named) >= 2:
                found = named  # "Emotion List: Anger, ..." names no gate answer
            if len(found) >= 2 and len(found) >= len(best):
                best = found
    return best


def emotion_in_text(texts: Sequence[str]) -> str | None:
    """The canonical emotion a free text describes (keyword vote, first mention breaks ties)."""
    lines = []
    for text in texts:
        for line in strip_directives(text).splitlines():
            if len({m.group(1).lower() for m in _LABEL_RE.finditer(line)}) >= 2:
                line = _LABEL_RE.sub(" ", line)  # a label list names every emotion: drop it
            lines.append(line)
    body = "\n".join(lines).lower()
    best: tuple[int, int, str] | None = None
    for emotion, patterns in _KEYWORDS.items():
        hits = [m.start() for p in patterns for m in re.finditer(p, body)]
        if hits:
            key = (-len(hits), min(hits), emotion)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def load_confusion(path: Path) -> dict[str, dict[str, float]]:
    """Read a row-stochastic gold -> answer matrix.

    Accepts ``{"labels": [...], "matrix": [[...]]}`` (rows are gold) or
    ``{"Happy": {"Happy": 0.8, "Neutral": 0.2}, ...}``. Rows are normalised.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"confusion matrix {path}: cannot read JSON ({e})") from e
    rows: dict[str, dict[str, float]] = {}
    if isinstance(data, dict) and "matrix" in data:
        labels = data.get("labels")
        matrix = data["matrix"]
        if not isinstance(labels, list) or not isinstance(matrix, list) or len(matrix) != len(
            labels
        ):
            raise ValueError(
                f"confusion matrix {path}: 'labels' must be a list and 'matrix' a square list of "
                "rows, one per label (rows = gold, columns = answer)"
            )
        for gold, row in zip(labels, matrix, strict=True):
            if not isinstance(row, list) or len(row) != len(labels):
                raise ValueError(f"confusion matrix {path}: row {gold!r} must have {len(labels)} "
                                 "numbers")
            rows[str(gold)] = {str(a): float(p) for a, p in zip(labels, row, strict=True)}
    elif isinstance(data, dict):
        for gold, row in data.items():
            if not isinstance(row, dict):
                raise ValueError(f"confusion matrix {path}: row {gold!r} must map answer -> p")
            rows[str(gold)] = {str(a): float(p) for a, p in row.items()}
    else:
        raise ValueError(f"confusion matrix {path}: expected a JSON object")
    for gold, row in rows.items():
        total = sum(row.values())
        if total <= 0 or any(p < 0 for p in row.values()):
            raise ValueError(
                f"confusion matrix {path}: row {gold!r} needs non-negative numbers with a "
                "positive sum"
            )
        rows[gold] = {a: p / total for a, p in row.items()}
    return rows


def _rng(*parts: str) -> random.Random:
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def _sample(dist: dict[str, float], rng: random.Random) -> str:
    items = sorted(dist.items())
    total = sum(p for _, p in items)
    x = rng.random() * total
    acc = 0.0
    for label, p in items:
        acc += p
        if x < acc:
            return label
    return items[-1][0]


@dataclass
class Question:
    """What the policy needs to know about one request."""

    texts: list[str]
    media_hashes: list[str]
    constrained: list[str] | None = None
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def has_media(self) -> bool:
        return bool(self.media_hashes)


@dataclass
class Decision:
    """The policy's answer before it is put in a provider's wire format."""

    kind: PolicyKind
    text: str
    label: str | None = None
    candidates: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # candidate -> probability
    gold: str | None = None
    emotion: str | None = None

    def logprobs(self) -> list[tuple[str, float]]:
        """(candidate, log-probability), best first; the answer is always the top one."""
        return sorted(
            ((c, math.log(max(p, 1e-9))) for c, p in self.scores.items()),
            key=lambda t: (-t[1], t[0]),
        )


class Policy:
    """Decides answers for one emulator configuration."""

    def __init__(
        self,
        spec: str,
        *,
        seed: int = 0,
        oracle: dict[str, str] | None = None,
        neutral_rate: float = 0.6,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.oracle = dict(oracle or {})
        self.neutral_rate = neutral_rate
        self.confusion: dict[str, dict[str, float]] | None = None
        if spec.startswith("confusion:"):
            self.confusion = load_confusion(Path(spec[len("confusion:") :]))

    # -- public ---------------------------------------------------------------

    def gold_for(self, media_hashes: Sequence[str]) -> str | None:
        for h in media_hashes:
            if h in self.oracle:
                return self.oracle[h]
        return None

    def decide(self, q: Question) -> Decision:
        spec = q.directives.get("policy", self.spec)
        if "refuse" in q.directives or spec == "refuse":
            return Decision(kind="refuse", text="I'm sorry, but I can't help with that request.")
        if "block" in q.directives or spec == "block":
            return Decision(kind="block", text="")
        rng = _rng(str(self.seed), *q.media_hashes, *(strip_directives(t) for t in q.texts))
        gold = q.directives.get("gold") or self.gold_for(q.media_hashes)
        candidates = q.constrained or labels_in_text(q.texts)
        forced = q.directives.get("answer")

        if not candidates:
            if not q.has_media:
                return Decision(kind="text", text="Please provide an image or a video of a face.")
            emotion = forced or _sample(self._emotion_dist(spec, gold, CANONICAL), rng)
            text = DESCRIPTIONS.get(canonical_of(emotion) or "", f"The face looks {emotion}.")
            return Decision(kind="description", text=text, gold=gold, emotion=emotion)

        if not q.has_media and "gold" not in q.directives:
            # A mapping stage: a faithful reading of the text, whatever the policy.
            mapped = emotion_in_text(q.texts)
            base = {mapped: 1.0} if mapped else self._emotion_dist(spec, gold, CANONICAL)
        else:
            base = self._emotion_dist(spec, gold, CANONICAL)
        if forced:
            base = {forced: 1.0}
        scores = self._project(base, candidates)
        if not scores:
            if q.constrained:
                scores = {c: 1.0 / len(candidates) for c in candidates}
            else:
                literal = max(base.items(), key=lambda kv: kv[1])[0]
                return Decision(kind="label", text=literal, label=literal,
                                candidates=candidates, gold=gold, emotion=literal)
        label = _sample(scores, rng)
        # The answer is the argmax of what the logprobs report, as at temperature 0.
        mixed = {c: 0.5 * p + (0.5 if c == label else 0.0) for c, p in scores.items()}
        for c in candidates:
            mixed.setdefault(c, 0.0)
        return Decision(kind="label", text=label, label=label, candidates=list(candidates),
                        scores=mixed, gold=gold, emotion=canonical_of(label) or label)

    # -- internals ------------------------------------------------------------

    def _emotion_dist(
        self, spec: str, gold: str | None, universe: Sequence[str]
    ) -> dict[str, float]:
        g = (canonical_of(gold) or gold) if gold else None
        if spec.startswith("fixed:"):
            return {spec[len("fixed:") :].strip(): 1.0}
        if spec == "oracle":
            return {g: 1.0} if g else {e: 1.0 for e in universe}
        if spec.startswith("confusion:") and self.confusion is not None:
            row = None
            if gold is not None:
                row = self.confusion.get(gold) or next(
                    (r for k, r in self.confusion.items() if canonical_of(k) == g), None
                )
            if row is None:  # unknown gold: the matrix's column marginal
                marg: dict[str, float] = {}
                for r in self.confusion.values():
                    for a, p in r.items():
                        marg[a] = marg.get(a, 0.0) + p / len(self.confusion)
                return marg
            return dict(row)
        # neutral-biased
        nr = self.neutral_rate
        if g:
            dist = {"Neutral": nr}
            dist[g] = dist.get(g, 0.0) + (1.0 - nr)
            return dist
        others = [e for e in universe if e != "Neutral"]
        dist = {e: (1.0 - nr) / len(others) for e in others}
        dist["Neutral"] = nr
        return dist

    @staticmethod
    def _project(base: dict[str, float], candidates: Sequence[str]) -> dict[str, float]:
        """Move probability from emotions onto the candidates that stand for them."""
        by_canon: dict[str, str] = {}
        gate: str | None = None
        for c in candidates:
            canon = canonical_of(c)
            if canon is not None:
                by_canon.setdefault(canon, c)
            elif is_gate_word(c) and gate is None:
                gate = c
            else:
                by_canon.setdefault(c, c)
        out: dict[str, float] = {}
        for emotion, p in base.items():
            if p <= 0:
                continue
            canon = canonical_of(emotion) or emotion
            target = by_canon.get(canon)
            if target is None and gate is not None and canon != "Neutral":
                target = gate
            if target is not None:
                out[target] = out.get(target, 0.0) + p
        total = sum(out.values())
        return {c: p / total for c, p in out.items()} if total > 0 else {}


def candidates_from_schema(schema: Any) -> tuple[list[str] | None, str | None]:
    """The first string enum in a JSON schema, and the property name that holds it."""

    def walk(node: Any, prop: str | None) -> tuple[list[str] | None, str | None]:
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and enum and all(isinstance(x, str) for x in enum):
                return list(enum), prop
            props = node.get("properties")
            if isinstance(props, dict):
                for name, sub in props.items():
                    found = walk(sub, str(name))
                    if found[0]:
                        return found
            for key in ("items", "anyOf", "oneOf", "allOf", "$defs", "definitions"):
                sub = node.get(key)
                subs = sub.values() if isinstance(sub, dict) and key in ("$defs", "definitions") \
                    else sub if isinstance(sub, list) else [sub] if sub is not None else []
                for s in subs:
                    found = walk(s, prop)
                    if found[0]:
                        return found
        return None, None

    return walk(schema, None)
