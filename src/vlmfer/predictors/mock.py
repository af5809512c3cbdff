"""``mock/<policy>``: a deterministic, offline predictor for tests, docs and demos.

No HTTP and no randomness: every answer is drawn from a distribution by a hash
of the media content, the prompt text and the seed, so the same run gives the
same answers on any machine.

Policies
    ``fixed:<Label>``    always that label.
    ``neutral-biased``   Neutral with probability ``neutral_rate``; otherwise
                         mostly the gold label (when known).
    ``confusion:<file>`` answers drawn from the gold label's row of a confusion
                         matrix (JSON, see ``load_confusion``).
    ``oracle``           the gold label.
    ``uniform``          any label, equally likely.
    ``refuse``/``block`` a refusal / a safety block (non-answers).
    ``echo``             repeats the prompt text.

The gold label
    A predictor receives only a ``Prompt``, so the mock looks the gold up by
    media: the ``gold`` option (SHA-256 or path -> label), the ``gold_file``
    option (a JSON mapping or a CSV ``path,label`` manifest), the ``gold`` table
    of a confusion file, then (``gold_from_folder``, on by default) the parent
    folder name, which is the label in every built-in dataset layout. With no
    gold, gold-dependent policies draw from the labels' overall rates.

Questions
    The candidate labels are the constraint's, else ``Prompt.label_order``,
    else the known label names mentioned in the prompt text. With media and no
    candidates the mock writes a short description of the expression it
    "sees"; a text-only question with candidates (mapping a description to a
    label) is answered from the facial cues the description names.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlmfer.errors import ConfigError, MediaError
from vlmfer.predictors import tokens
from vlmfer.predictors._common import candidate_labels, record_sent, top_k
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.options import MockOptions
from vlmfer.types import Capabilities, Media, Prompt, Response, Usage, file_sha256

# The CAER label set (vlmfer.CAER_LABELS), the default vocabulary.
DEFAULT_LABELS = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
# CAER-S's train split spells Anger as Angry.
_ALIASES = {"angry": "Anger", "happiness": "Happy", "sadness": "Sad", "surprised": "Surprise"}

# Facial cues used in descriptions, and recognised again when mapping them.
_CUES: dict[str, tuple[str, str]] = {
    "anger": ("frowning with a furrowed brow and tightened lips", "angry"),
    "disgust": ("wrinkling the nose with a raised upper lip", "disgusted"),
    "fear": ("wide-eyed with raised, drawn-together brows", "fearful"),
    "happy": ("smiling, with raised cheeks", "happy"),
    "neutral": ("relaxed, with no marked movement of brows or mouth", "calm"),
    "sad": ("looking down with the corners of the mouth pulled down", "sad"),
    "surprise": ("open-mouthed with raised eyebrows", "surprised"),
}

POLICIES = ("fixed:<Label>", "neutral-biased", "confusion:<file.json>", "oracle", "uniform",
            "refuse", "block", "echo")
REFUSAL_TEXT = "I'm sorry, but I can't help with assessing this person's emotions."


def _cue(label: str) -> tuple[str, str]:
    return _CUES.get(label.lower(), (f"showing {label.lower()}", label.lower()))


class Confusion:
    """A confusion matrix: ``rows[gold][pred]`` probabilities, plus an optional gold table."""

    def __init__(
        self, labels: list[str], rows: dict[str, dict[str, float]], gold: dict[str, str]
    ) -> None:
        self.labels = labels
        self.rows = rows
        self.gold = gold

    def marginal(self) -> dict[str, float]:
        n = len(self.rows)
        return {p: sum(row[p] for row in self.rows.values()) / n for p in self.labels}


def load_confusion(path: Path) -> Confusion:
    """Read a confusion matrix (rows are gold labels, columns predictions).

    Either ``{"labels": [...], "matrix": [[...], ...]}`` (counts or
    probabilities) or ``{"Happy": {"Happy": 8, "Neutral": 2}, ...}``; both may
    carry ``"gold": {"<sha256 or path>": "<label>"}`` to act as the oracle.
    """
    where = f"mock confusion file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror}); give an existing "
                          "JSON file, e.g. mock/confusion:matrix.json") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    gold_raw = data.pop("gold", {}) if isinstance(data.get("gold", {}), dict) else None
    if gold_raw is None:
        raise ConfigError(f"{where}: 'gold' must map media sha256 or path to a label")
    gold = {str(k): str(v) for k, v in gold_raw.items()}
    if "matrix" in data:
        labels = data.get("labels")
        matrix = data["matrix"]
        if not (isinstance(labels, list) and isinstance(matrix, list)
                and len(matrix) == len(labels)
                and all(isinstance(r, list) and len(r) == len(labels) for r in matrix)):
            raise ConfigError(f"{where}: 'matrix' must be a square list of rows, one per "
                              "entry of 'labels'")
        table = {str(g): {str(p): v for p, v in zip(labels, row, strict=True)}
                 for g, row in zip(labels, matrix, strict=True)}
    else:
        table = data
    labels_out: list[str] = list(table)
    rows: dict[str, dict[str, float]] = {}
    for g, row in table.items():
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: row {g!r} must map predicted labels to counts")
        for p in row:
            if p not in labels_out:
                labels_out.append(p)
        try:
            values = {str(p): float(v) for p, v in row.items()}
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: row {g!r} has a non-numeric entry") from None
        total = sum(values.values())
        if total <= 0 or any(v < 0 for v in values.values()):
            raise ConfigError(f"{where}: row {g!r} needs non-negative entries with a "
                              "positive sum")
        rows[str(g)] = values
    for g, row in rows.items():
        total = sum(row.values())
        rows[g] = {p: row.get(p, 0.0) / total for p in labels_out}
    return Confusion(labels_out, rows, gold)


def _load_gold_file(path: Path) -> dict[str, str]:
    where = f"mock gold_file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected an object mapping sha256 or path to label")
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
        raise ConfigError(f"{where}: a CSV gold file needs the columns path,label")
    for row in reader:
        p = Path(row["path"])
        if not p.is_absolute():
            p = path.parent / p
        out[str(p.resolve())] = row["label"]
    return out


def _unit(*parts: str) -> float:
    """A number in [0, 1) determined by its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class MockPredictor(Predictor):
    """Deterministic offline answers; see the module docstring for policies."""

    provider = "mock"

    def __init__(self, model: str, options: MockOptions | None = None) -> None:
        self.model = model
        self.options = options or MockOptions()
        self.policy, _, self.arg = model.partition(":")
        self.confusion: Confusion | None = None
        if self.policy == "fixed":
            if not self.arg:
                raise ConfigError("mock/fixed needs a label, e.g. mock/fixed:Happy")
        elif self.policy == "confusion":
            if not self.arg:
                raise ConfigError("mock/confusion needs a file, e.g. mock/confusion:matrix.json")
            self.confusion = load_confusion(Path(self.arg))
        elif self.policy not in ("neutral-biased", "oracle", "uniform", "refuse", "block",
                                 "echo") or self.arg:
            raise ConfigError(
                f"unknown mock policy {model!r}. Valid policies: {', '.join(POLICIES)}"
            )
        self.gold: dict[str, str] = {}
        if self.confusion is not None:
            self.gold.update(self.confusion.gold)
        if self.options.gold_file is not None:
            self.gold.update(_load_gold_file(self.options.gold_file))
        self.gold.update(self.options.gold or {})
        vocab = list(self.options.labels or [])
        if self.confusion is not None:
            vocab += [lab for lab in self.confusion.labels if lab not in vocab]
        vocab += [lab for lab in DEFAULT_LABELS if lab not in vocab]
        if self.policy == "fixed" and self.arg.lower() not in {v.lower() for v in vocab}:
            vocab.append(self.arg)
        self.vocabulary = vocab
        self.capabilities = Capabilities(
            image=True, video=True, video_as_frames=True, max_images=10_000,
            logprobs=True, enum_output=True, json_schema=True,
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options.public()}

    def cache_identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {"name": self.name, "seed": self.options.seed}
        if self.policy == "neutral-biased":
            ident["neutral_rate"] = self.options.neutral_rate
        if self.confusion is not None:
            ident["confusion"] = self.confusion.rows
        return ident

    def cost_usd(self, response: Response) -> float | None:
        """The mock is free (a known zero, unlike an unknown price)."""
        return 0.0

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        return tokens.text_tokens(prompt.system) + tokens.text_tokens(prompt.text) + (
            tokens.GEMINI_IMAGE_TOKENS * len(prompt.media)
        )

    # ------------------------------------------------------------------ answers

    def _find_labels(self, text: str) -> list[str]:
        found = []
        for label in self.vocabulary:
            if re.search(rf"\b{re.escape(label)}\b", text, flags=re.IGNORECASE):
                found.append(label)
        return found

    def _gold(self, media: Sequence[Media]) -> tuple[str | None, str]:
        for m in media:
            for key in (m.sha256, str(m.path), str(m.path.resolve())):
                if key and key in self.gold:
                    return self.gold[key], "map"
        if self.options.gold_from_folder:
            for m in media:
                folder = m.path.parent.name.lower()
                for label in self.vocabulary:
                    if label.lower() == folder:
                        return label, "folder"
                alias = _ALIASES.get(folder)
                if alias in self.vocabulary:
                    return alias, "folder"
        return None, "none"

    def _distribution(self, candidates: list[str], gold: str | None) -> dict[str, float]:
        n = len(candidates)
        uniform = {c: 1.0 / n for c in candidates}
        gold_c = next((c for c in candidates if gold and c.lower() == gold.lower()), None)
        if self.policy == "fixed":
            hit = next((c for c in candidates if c.lower() == self.arg.lower()), None)
            return {c: float(c == hit) for c in candidates} if hit else uniform
        if self.policy == "oracle":
            return {c: float(c == gold_c) for c in candidates} if gold_c else uniform
        if self.policy == "neutral-biased":
            neutral = next((c for c in candidates if c.lower() == "neutral"), None)
            rest = [c for c in candidates if c != neutral]
            mass = 1.0 - self.options.neutral_rate if neutral else 1.0
            dist = {c: 0.0 for c in candidates}
            if neutral:
                dist[neutral] = self.options.neutral_rate
            if gold_c and gold_c != neutral and rest:
                dist[gold_c] += 0.75 * mass
                others = [c for c in rest if c != gold_c] or [gold_c]
                for c in others:
                    dist[c] += 0.25 * mass / len(others)
            elif rest:
                for c in rest:
                    dist[c] += mass / len(rest)
            elif neutral:
                dist[neutral] = 1.0
            return dist
        if self.policy == "confusion" and self.confusion is not None:
            row = None
            if gold is not None:
                row = next((r for g, r in self.confusion.rows.items()
                            if g.lower() == gold.lower()), None)
            source = row if row is not None else self.confusion.marginal()
            lower = {k.lower(): v for k, v in source.items()}
            dist = {c: lower.get(c.lower(), 0.0) for c in candidates}
            total = sum(dist.values())
            return {c: v / total for c, v in dist.items()} if total > 0 else uniform
        return uniform

    @staticmethod
    def _draw(dist: dict[str, float], u: float) -> str:
        acc = 0.0
        last = next(iter(dist))
        for label, p in dist.items():
            if p <= 0:
                continue
            acc += p
            last = label
            if u < acc:
                return label
        return last

    def _logprobs(self, dist: dict[str, float], answer: str, k: int) -> dict[str, float]:
        n = len(dist)
        # Peaked on the answer (so it is the argmax, as at temperature 0) but
        # informative, and smoothed so no label has log(0).
        mixed = {c: 0.6 * (c == answer) + 0.4 * (0.98 * p + 0.02 / n) for c, p in dist.items()}
        ranked = sorted(mixed.items(), key=lambda kv: -kv[1])[: max(1, k)]
        return {c: math.log(p) for c, p in ranked}

    async def _media_keys(self, media: Sequence[Media]) -> list[Media]:
        out = []
        for m in media:
            if m.sha256 is None:
                try:
                    digest = await asyncio.to_thread(file_sha256, m.path)
                except OSError as exc:
                    raise MediaError(m.path, f"cannot read it ({exc.strerror})") from None
                m = m.model_copy(update={"sha256": digest})
            out.append(m)
        return out

    async def predict(self, prompt: Prompt) -> Response:
        """Answer deterministically; never touches the network."""
        media = await self._media_keys(prompt.media)
        usage_in = self.estimate_input_tokens(prompt)
        details: dict[str, Any] = {"policy": self.model}
        # The mock reads every generation option as given: all of them count as sent.
        record_sent(details, prompt.options.model_dump())

        def done(text: str | None, **fields: Any) -> Response:
            usage = Usage(input_tokens=usage_in, output_tokens=tokens.text_tokens(text))
            return Response(text=text, usage=usage, model_version=f"mock-{self.model}",
                            cost_usd=0.0, simulated=True, details=details, **fields)

        if self.policy == "refuse":
            return done(None, status="refused", reason=REFUSAL_TEXT, finish_reason="stop")
        if self.policy == "block":
            return done(None, status="blocked", reason="SAFETY", finish_reason="content_filter")
        if self.policy == "echo":
            return done(prompt.text, finish_reason="stop")

        gold, source = self._gold(media)
        details.update(gold=gold, gold_source=source)
        key = "|".join(m.sha256 or "" for m in media)
        u = _unit(str(self.options.seed), key, prompt.system or "", prompt.text)
        candidates = candidate_labels(prompt) or self._find_labels(prompt.text)

        if not candidates:
            if not media:
                return done("There is no image or video to describe, and no labels to "
                            "choose from.", finish_reason="stop")
            # A description question: describe the expression of the drawn label.
            label = self._draw(self._distribution(list(self.vocabulary), gold), u)
            cue, adjective = _cue(label)
            details["described"] = label
            return done(f"The person is {cue}; the expression looks {adjective}.",
                        finish_reason="stop")

        dist = self._distribution(candidates, gold)
        answer = None
        if not media:
            # Mapping a description: recognise the cues it names.
            lowered = prompt.text.lower()
            hits = [c for c in candidates if _cue(c)[0] in lowered]
            if len(hits) == 1:
                answer = hits[0]
                dist = {c: float(c == answer) for c in candidates}
                details["mapped_by"] = "cue"
        if answer is None and self.policy == "fixed" and not any(
            c.lower() == self.arg.lower() for c in candidates
        ):
            # Fixed means fixed, even when the label is not among the choices.
            kind = prompt.constraint.kind if prompt.constraint else None
            text = json.dumps({"label": self.arg}) if kind == "json_schema" else self.arg
            return done(text, finish_reason="stop")
        if answer is None:
            answer = self._draw(dist, u)
        kind = prompt.constraint.kind if prompt.constraint else None
        text = json.dumps({"label": answer}) if kind == "json_schema" else answer
        logprobs = None
        if prompt.options.logprobs:
            logprobs = self._logprobs(dist, answer, top_k(prompt, candidates))
        return done(text, finish_reason="stop", logprobs=logprobs)
