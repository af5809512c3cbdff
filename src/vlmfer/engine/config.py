"""Experiment files: TOML with [dataset], [model], [strategy], [media] and [run] tables.

Known keys are validated here; plugin-specific keys pass through to the
dataset, predictor or strategy, whose own option models reject unknown keys.
Command-line flags and ``--set table.key=value`` override the file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlmfer.engine.core import RunSettings
from vlmfer.errors import ConfigError
from vlmfer.presets import DEFAULT_OPENAI_MODEL
from vlmfer.secrets import key_fields
from vlmfer.types import MediaSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib



class _Open(BaseModel):
    """Known keys are typed; the rest are options for the plugin."""

    model_config = ConfigDict(extra="allow")

    def plugin_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetConfig(_Open):
    name: str = "caer-s"
    root: str | None = None
    split: str | None = None


class ModelConfig(_Open):
    name: str = f"openai/{DEFAULT_OPENAI_MODEL}"
    base_url: str | None = None


class StrategyConfig(_Open):
    name: str = "single-shot"


class RunConfig(RunSettings):
    """The ``[run]`` table: the engine's settings, plus where and how the command runs."""

    out: str | None = None
    quiet: bool = False
    batch: bool = False


class Experiment(BaseModel):
    """One experiment file, after CLI overrides."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    media: MediaSpec | None = None
    run: RunConfig = Field(default_factory=RunConfig)

    def default_out(self) -> str:
        parts = [self.dataset.name, self.dataset.split or "default",
                 self.model.name.replace("/", "-"), self.strategy.name]
        return "runs/" + re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(parts))


def _format_validation(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key {loc!r} (check its spelling; see docs/running.md)")
        else:
            lines.append(f"{loc}: {e['msg']}")
    return f"{where}: " + "; ".join(lines)


def load_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such experiment file") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from e
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return data


def _parse_value(raw: str) -> Any:
    """``--set`` values are TOML values when they parse as one, else plain strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_set(data: dict[str, Any], assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if not sep or len(path) < 2:
        raise ConfigError(
            f"--set {assignment!r}: write it as table.key=value, e.g. strategy.mapper=llm or "
            "run.concurrency=16 (tables: dataset, model, strategy, media, run)"
        )
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a table")
        node = child
    node[path[-1]] = _parse_value(raw)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in a file are relative to that file, not to the shell."""
    ds = data.get("dataset", {})
    if isinstance(ds, dict) and isinstance(ds.get("root"), str) and ds["root"]:
        root = Path(ds["root"]).expanduser()
        ds["root"] = str(root if root.is_absolute() else base / root)
    st = data.get("strategy", {})
    if isinstance(st, dict) and isinstance(st.get("template"), str):
        t = Path(st["template"]).expanduser()
        st["template"] = str(t if t.is_absolute() else base / t)
    run = data.get("run", {})
    if isinstance(run, dict) and isinstance(run.get("out"), str):
        out = Path(run["out"]).expanduser()
        run["out"] = str(out if out.is_absolute() else base / out)


def load_experiment(
    path: Path | None = None,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    sets: list[str] | None = None,
) -> Experiment:
    """Read an experiment file (optional), then apply flag overrides and ``--set``s."""
    data: dict[str, Any] = {}
    where = "command line"
    if path is not None:
        data = load_toml(path)
        _resolve_paths(data, path.parent)
        where = str(path)
    for table, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                data.setdefault(table, {})[key] = value
    for assignment in sets or []:
        apply_set(data, assignment)
    leaked = key_fields(data)
    if leaked:
        raise ConfigError(
            f"{where}: {', '.join(leaked)} sets a key: keys come only from the environment "
            "(OPENAI_API_KEY, GEMINI_API_KEY / GOOGLE_API_KEY). Remove it and export it instead"
        )
    try:
        return Experiment.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, where)) from e
