"""The run directory: manifest.json, predictions.jsonl (append-only) and outputs.

``predictions.jsonl`` is the source of truth. Each finished sample is one line,
appended and flushed at once, so a crash (even ``kill -9``) loses nothing that
finished. A half-written last line is detected and cut off on resume.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vlmfer.errors import ConfigError
from vlmfer.secrets import redact, scrub
from vlmfer.types import Outcome, Prediction, stable_hash

MANIFEST = "manifest.json"
PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
REPORT = "report.html"
CONFUSION_PNG = "confusion_matrix.png"


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


class StepOrigin(BaseModel):
    """What a resume needs of a finished step: which model and snapshot, and whether cached."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str
    model_version: str | None = None
    cached: bool = False


class FinishedSample(BaseModel):
    """What a resume needs of a finished sample: a few fields of its ``Prediction`` line.

    Parsing only these (the texts, prompts and scores are skipped) makes reading a
    finished run of 20 000 samples about four times cheaper than full ``Prediction``s.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    sample_id: str
    outcome: Outcome
    steps: list[StepOrigin] = []


_Line = TypeVar("_Line", Prediction, FinishedSample)


def _parse_line(path: Path, lineno: int, line: bytes, model: type[_Line]) -> _Line:
    try:
        return model.model_validate_json(line)
    except (ValidationError, ValueError) as e:
        raise ConfigError(
            f"{path}:{lineno}: not a valid prediction ({e.__class__.__name__}); "
            "the file is corrupt: fix or delete that line, then run again"
        ) from e


def read_predictions(path: Path, *, repair: bool = False) -> list[Prediction]:
    """Read predictions, dropping a torn last line (and truncating it when ``repair``).

    A malformed line anywhere but at the end is corruption, not a crash artefact,
    and is reported with its line number.
    """
    return _read_lines(path, Prediction, repair=repair)


def _read_lines(path: Path, model: type[_Line], *, repair: bool) -> list[_Line]:
    if not path.exists():
        return []
    raw = path.read_bytes()
    # Only lines that end in a newline were written whole; the rest is a torn tail.
    good_end = raw.rfind(b"\n") + 1
    preds: list[_Line] = []
    seen: set[str] = set()
    for lineno, line in enumerate(raw[:good_end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        pred = _parse_line(path, lineno, line, model)
        if pred.sample_id not in seen:
            seen.add(pred.sample_id)
            preds.append(pred)
    if repair and good_end < len(raw):
        with path.open("r+b") as f:
            f.truncate(good_end)
    return preds


class RunFolder:
    """One run's folder: what ``vlmfer run --out DIR`` writes, read and appended to.

    (``RunDir`` is its old name.)
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            raise ConfigError(
                f"{self.path}: not a run directory (no {MANIFEST}); "
                "pass the --out folder of a `vlmfer run`"
            )
        try:
            data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{self.manifest_path}: not valid JSON ({e})") from e
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # A base_url or a command line can carry credentials: never record them.
        write_json_atomic(self.manifest_path, scrub(manifest))

    def check_identity(self, identity: dict[str, Any]) -> None:
        """Refuse to resume into a folder that holds another experiment."""
        if not self.exists():
            return
        old = self.read_manifest().get("identity")
        if old is None or stable_hash(old) == stable_hash(identity):
            return
        diffs = _diff(old, identity)
        if not diffs:  # only keys that one version of vlmfer records and the other does not
            return
        shown = "; ".join(diffs[:6])
        raise ConfigError(
            f"{self.path} holds a different experiment ({shown}). "
            "Resume it with the same settings, or choose another --out"
        )

    def finished(self) -> list[Prediction]:
        return read_predictions(self.predictions_path, repair=True)

    def finished_samples(self) -> list[FinishedSample]:
        """The finished samples, as much of each as a resume needs (a torn tail repaired)."""
        return _read_lines(self.predictions_path, FinishedSample, repair=True)

    def drop(self, sample_ids: set[str]) -> None:
        """Rewrite predictions.jsonl without these samples (atomically), so they run again."""
        if not sample_ids or not self.predictions_path.exists():
            return
        kept = [p for p in read_predictions(self.predictions_path, repair=True)
                if p.sample_id not in sample_ids]
        tmp = self.predictions_path.with_name(f".{PREDICTIONS}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(p.model_dump_json() + "\n" for p in kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.predictions_path)

    def iter_predictions(self) -> Iterator[Prediction]:
        """Stream the predictions a line at a time (first line per sample; torn tail skipped)."""
        path = self.predictions_path  # a property that builds a Path: once, not a line
        if not path.exists():
            return
        seen: set[str] = set()
        with path.open("rb") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    return  # a torn last line
                if not line.strip():
                    continue
                pred = _parse_line(path, lineno, line, Prediction)
                if pred.sample_id not in seen:
                    seen.add(pred.sample_id)
                    yield pred

    def open_append(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._fh = self.predictions_path.open("a", encoding="utf-8")

    def append(self, pred: Prediction) -> None:
        if self._fh is None:
            self.open_append()
        assert self._fh is not None
        # One write per line, then flush: a kill -9 leaves at most one torn line.
        self._fh.write(redact(pred.model_dump_json()) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        # Keys only one side has come from another vlmfer version: not a difference.
        for key in sorted(set(old) & set(new)):
            out += _diff(old[key], new[key], f"{prefix}{key}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')}: was {old!r}, now {new!r}"]
    return []


def __getattr__(name: str) -> Any:
    if name == "RunDir":  # "run" is the command and its result; this is the folder
        warnings.warn("vlmfer.engine.rundir.RunDir is deprecated; use RunFolder",
                      DeprecationWarning, stacklevel=2)
        return RunFolder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
