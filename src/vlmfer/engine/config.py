"""Experiment files: TOML with [dataset], [model], [strategy], [media] and [run] tables.

Known keys are validated here; plugin-specific keys pass through to the
dataset, predictor or strategy, whose own option models reject unknown keys.
Command-line flags and ``--set table.key=value`` override the file.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import typing
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


#: The tables of an experiment file, in the order the docs give them.
TABLES = ("dataset", "model", "strategy", "media", "run")


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


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model that holds the last key of ``loc`` (Experiment for a table name)."""
    model: type[BaseModel] = Experiment
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        found = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not found:
            return None
        model = found[0]
    return model


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """``unknown table [modle] (did you mean [model]?)``, listing the valid names."""
    name = str(loc[-1])
    model = _model_at(loc)
    valid = sorted(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if len(loc) == 1:
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        return (f"unknown table [{name}]{hint}; the tables are "
                + ", ".join(f"[{t}]" for t in TABLES))
    where = ".".join(str(x) for x in loc)
    hint = f" (did you mean {close[0]!r}?)" if close else " (check its spelling)"
    return (f"unknown key {where!r}{hint}; valid keys in [{loc[0]}]: {', '.join(valid)} "
            "(docs/running.md)")


def _format_validation(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" and loc:
            lines.append(_unknown_key(loc))
            continue
        name = ".".join(str(x) for x in loc)
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        # Literal and enum messages already list the valid values ("should be 'a' or 'b'").
        lines.append(f"{name}: {e['msg']}{shown}")
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


def _parse_value(raw: str, key: str = "") -> Any:
    """``--set`` values are TOML values when they parse as one, else plain strings.

    A table or array (``{...}``/``[...]``) may also be written as JSON; one that parses
    as neither is an error, never a string.
    """
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as e:
        if not raw.strip().startswith(("{", "[")):
            return raw
        try:
            return json.loads(raw)
        except ValueError:
            raise ConfigError(
                f"--set {key}={raw}: not a TOML inline table/array ({e}) nor JSON. Write it "
                f"as TOML, e.g. --set '{key or 'model.extra_body'}={{top_k = 20, "
                'chat_template_kwargs = {enable_thinking = false}}\' or as JSON, e.g. '
                f'--set \'{key or "model.extra_body"}={{"top_k": 20}}\''
            ) from None


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
    node[path[-1]] = _parse_value(raw, key.strip())


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
