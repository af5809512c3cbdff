"""``vlmfer study``: a series of experiments in one command, written up as one table.

A study file names the study, its output folder and its experiments: an explicit list
(``[[experiment]]``, each with the tables of an experiment file and a ``name``) and/or
a ``[matrix]`` crossing lists of models, strategies and datasets. ``[defaults]`` holds
tables every experiment starts from. Each experiment is read by
``vlmfer.engine.config.load_experiment``, exactly as ``vlmfer run`` reads a file, and
runs into ``<out>/<name>/``.

Experiments run one after another in one event loop, each with its own concurrency,
while the RPM/TPM windows are shared per provider and ``base_url``
(``vlmfer.engine.budget``): the calls a run made in the last minute still count when
the next run starts, so a study never exceeds the budget one run is given. Each run
resumes as ``vlmfer run`` does, so re-running the study resumes the whole of it.

At the end, ``study.json``, ``study.md`` and ``index.html`` hold the comparison table
(``vlmfer.report.table``) and a link to each run's report.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlmfer.engine.config import Experiment, _resolve_paths, apply_set, load_experiment, load_toml
from vlmfer.engine.rundir import write_json_atomic
from vlmfer.errors import ConfigError
from vlmfer.types import file_sha256

STUDY_JSON = "study.json"
STUDY_MD = "study.md"
INDEX_HTML = "index.html"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TABLES = ("dataset", "model", "strategy", "media", "run")


class StudyInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    #: The study's folder (relative to the study file); default ``runs/<name>``.
    out: str | None = None
    description: str | None = None


MatrixEntry = str | dict[str, Any]


class Matrix(BaseModel):
    """Lists crossed into experiments; an entry is a name or a table with ``name``
    (and an optional ``tag``, the entry's part of the experiment name)."""

    model_config = ConfigDict(extra="forbid")

    models: list[MatrixEntry] = Field(min_length=1)
    strategies: list[MatrixEntry] = Field(min_length=1)
    datasets: list[MatrixEntry] = Field(min_length=1)


class StudyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    study: StudyInfo
    defaults: dict[str, Any] = Field(default_factory=dict)
    experiment: list[dict[str, Any]] = Field(default_factory=list)
    matrix: Matrix | None = None


@dataclass(frozen=True)
class StudyExperiment:
    """One experiment of a study: its name (= its folder) and its settings."""

    name: str
    experiment: Experiment

    @property
    def out(self) -> Path:
        return Path(self.experiment.run.out or self.name)


@dataclass(frozen=True)
class Study:
    """A study: a name, a folder and its experiments in order."""

    name: str
    out: Path
    experiments: tuple[StudyExperiment, ...]
    source: Path | None = None
    description: str | None = None
    #: Every run answers from a simulator (the demo): the table marks them all.
    simulated: bool = False

    def run_dirs(self) -> list[Path]:
        return [e.out for e in self.experiments]

    def to_pandas(self) -> Any:
        """One long DataFrame over every run of the study that has started."""
        from vlmfer.results import load_runs

        return load_runs([p for p in self.run_dirs() if (p / "manifest.json").exists()])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "x"


def _entry(value: MatrixEntry, kind: str, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return _slug(value.rpartition("/")[2] if kind == "model" else value), {"name": value}
    table = dict(value)
    if "name" not in table:
        raise ConfigError(f"{where}: [matrix] {kind} entry {value!r} has no 'name'")
    tag = table.pop("tag", None)
    name = str(table["name"])
    return _slug(str(tag) if tag else (name.rpartition("/")[2] if kind == "model" else name)), \
        table


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _entries(spec: StudyFile, where: str) -> list[tuple[str, dict[str, Any]]]:
    entries: list[tuple[str, dict[str, Any]]] = []
    for i, raw in enumerate(spec.experiment, start=1):
        tables = dict(raw)
        name = tables.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: [[experiment]] number {i} has no name; add "
                              "name = \"...\" (it becomes the run's folder)")
        unknown = sorted(set(tables) - set(_TABLES))
        if unknown:
            raise ConfigError(f"{where}: experiment {name!r}: unknown key(s) {unknown}; an "
                              f"experiment holds name and the tables {', '.join(_TABLES)}")
        entries.append((name, tables))
    if spec.matrix is not None:
        m = spec.matrix
        for ds in m.datasets:
            ds_tag, ds_table = _entry(ds, "dataset", where)
            for model in m.models:
                model_tag, model_table = _entry(model, "model", where)
                for strategy in m.strategies:
                    st_tag, st_table = _entry(strategy, "strategy", where)
                    entries.append((f"{ds_tag}_{model_tag}_{st_tag}",
                                    {"dataset": ds_table, "model": model_table,
                                     "strategy": st_table}))
    return entries


def load_study(path: Path | str, *, sets: Sequence[str] = ()) -> Study:
    """Read a study file; ``sets`` (``table.key=value``) apply to every experiment.

    Raises ``ConfigError`` naming the file and the experiment for an unknown key, a
    bad value, a missing or repeated name, or a key written into the file.
    """
    path = Path(path)
    data = load_toml(path)
    where = str(path)
    try:
        spec = StudyFile.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            (f"unknown key {'.'.join(str(x) for x in err['loc'])!r}"
             if err["type"] == "extra_forbidden"
             else f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
            for err in e.errors())
        raise ConfigError(f"{where}: {problems} (a study file has [study], [defaults], "
                          "[[experiment]] and [matrix]; see docs/study.md)") from e
    if not _NAME.match(spec.study.name):
        raise ConfigError(f"{where}: study.name {spec.study.name!r}: use letters, digits, "
                          "'.', '_' and '-'")
    out = Path(spec.study.out or f"runs/{spec.study.name}").expanduser()
    out = out if out.is_absolute() else path.parent / out
    experiments = build_experiments(_entries(spec, where), spec.defaults, out,
                                    base=path.parent, sets=sets, where=where)
    return Study(spec.study.name, out, experiments, source=path,
                 description=spec.study.description)


def build_experiments(
    entries: Sequence[tuple[str, dict[str, Any]]], defaults: dict[str, Any], out: Path, *,
    base: Path | None = None, sets: Sequence[str] = (), where: str = "study",
) -> tuple[StudyExperiment, ...]:
    """Each (name, tables) over ``defaults``, read as ``vlmfer run`` reads a file."""
    if not entries:
        raise ConfigError(f"{where}: the study has no experiment; add [[experiment]] tables "
                          "or a [matrix]")
    seen: set[str] = set()
    result = []
    for name, tables in entries:
        if not _NAME.match(name):
            raise ConfigError(f"{where}: experiment name {name!r} cannot be a folder name; use "
                              "letters, digits, '.', '_' and '-'")
        if name in seen:
            raise ConfigError(f"{where}: two experiments are named {name!r}; each name is a "
                              "folder, so names must be unique")
        seen.add(name)
        data = _merge(defaults, tables)
        if base is not None:
            _resolve_paths(data, base)
        data.setdefault("run", {})["out"] = str(out / name)
        for assignment in sets:
            apply_set(data, assignment)
        try:
            exp = load_experiment(None, overrides=data)
        except ConfigError as e:
            raise ConfigError(f"{where}: experiment {name!r}: {e}") from e
        result.append(StudyExperiment(name, exp))
    return tuple(result)


# ----- running -------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_study_async(study: Study, *, cache_dir: Path | None = None,
                          command: Sequence[str] | None = None) -> dict[str, Any]:
    """Run (or resume) every experiment of ``study``; write and return ``study.json``.

    Every experiment is built and checked first, so a bad one stops the study before
    the first call.
    """
    from vlmfer.engine.budget import shared_budgets
    from vlmfer.engine.cache import ResponseCache
    from vlmfer.engine.experiment import build
    from vlmfer.engine.preflight import check_capabilities
    from vlmfer.evaluation import evaluate_async

    parts = []
    for se in study.experiments:
        try:
            p = build(se.experiment)
            check_capabilities(p.dataset, p.strategy, {"main": p.predictor, **p.roles},
                               media=p.options.media)
        except ConfigError as e:
            raise ConfigError(f"experiment {se.name!r}: {e}") from e
        parts.append(p)
    study.out.mkdir(parents=True, exist_ok=True)
    with shared_budgets():
        for i, (se, p) in enumerate(zip(study.experiments, parts, strict=True), start=1):
            _say(f"[{i}/{len(parts)}] {se.name}: {p.predictor.name} · {p.strategy.name} · "
                 f"{p.dataset.name} (n={len(p.dataset)}) → {p.out}")
            cache = ResponseCache(cache_dir / "responses.sqlite3") if cache_dir else None
            await evaluate_async(p.dataset, p.predictor, p.strategy, out=p.out,
                                 options=p.options, roles=p.roles, cache=cache,
                                 command=command)
            write_outputs(study)  # the table so far: a killed study still has one
    return write_outputs(study)


def run_study(study: Study, *, cache_dir: Path | None = None,
              command: Sequence[str] | None = None) -> dict[str, Any]:
    """``run_study_async`` from synchronous code."""
    return asyncio.run(run_study_async(study, cache_dir=cache_dir, command=command))


def write_outputs(study: Study) -> dict[str, Any]:
    """Write ``study.json``, ``study.md`` and ``index.html`` from the run folders alone.

    Nothing is asked of any model: experiments not run yet are listed as such.
    """
    from vlmfer.report.table import build_table, write_html

    done = [e for e in study.experiments if (e.out / "manifest.json").exists()]
    table = build_table([e.out for e in done], labels=[e.name for e in done],
                        simulated=study.simulated) if done else None
    rows = {r["path"]: r for r in (table or {}).get("runs", [])}
    experiments = []
    for e in study.experiments:
        row = rows.get(str(e.out))
        experiments.append({
            "name": e.name, "folder": _rel(e.out, study.out),
            "status": "not run yet" if row is None else "run",
            "label": None if row is None else row["label"],
            "report": None if row is None else _rel(e.out / "report.html", study.out),
            "model": e.experiment.model.name, "strategy": e.experiment.strategy.name,
            "dataset": e.experiment.dataset.name, "split": e.experiment.dataset.split,
        })
    data: dict[str, Any] = {
        "study": study.name,
        "description": study.description,
        "source": None if study.source is None else {
            "path": str(study.source.resolve()), "sha256": file_sha256(study.source)},
        "experiments": experiments,
        "table": table,
    }
    study.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(study.out / STUDY_JSON, data)
    (study.out / STUDY_MD).write_text(study_markdown(study, data), encoding="utf-8")
    if table is not None:
        links = {r["path"]: f"{_rel(Path(r['path']), study.out)}/report.html"
                 for r in table["runs"]}
        write_html(table, study.out / INDEX_HTML, title=f"vlmfer study: {study.name}",
                   links=links)
    return data


def _rel(path: Path, start: Path) -> str:
    try:
        return path.resolve().relative_to(start.resolve()).as_posix()
    except ValueError:
        return str(path)


def study_markdown(study: Study, data: dict[str, Any]) -> str:
    from vlmfer.report.table import to_markdown

    lines = [f"# Study: {study.name}", ""]
    if study.description:
        lines += [study.description, ""]
    if data["table"] is not None:
        lines += [to_markdown(data["table"]).rstrip(), ""]
    lines += ["## Runs", ""]
    for e in data["experiments"]:
        where = f"[report]({e['report']})" if e["report"] else "not run yet"
        lines.append(f"- `{e['name']}` ({e['model']} · {e['strategy']} · {e['dataset']}): "
                     f"{where}")
    return "\n".join(lines) + "\n"


# ----- dry run -------------------------------------------------------------------------


def dry_run_study(study: Study) -> str:
    """The count and the cost estimate of the whole study. Sends nothing."""
    from vlmfer.engine.experiment import build, first_prompt
    from vlmfer.types import Response, Usage

    head = (f"{'experiment':<36} {'model':<28} {'strategy':<18} {'n':>6} {'~tokens':>10} "
            f"{'cost':>10}")
    lines = [f"study {study.name}: {len(study.experiments)} experiment(s) → {study.out}", "",
             head, "-" * len(head)]
    notes: list[str] = []
    total_n = total_tokens = 0
    total_cost: float | None = 0.0
    for se in study.experiments:
        p = build(se.experiment, notes=notes)
        n = len(p.dataset)
        tokens, cost = 0, None
        sample = next(iter(p.dataset), None)
        captured = first_prompt(p.strategy, sample, p.options.media) if sample else None
        if captured is not None:
            per = p.predictor.estimate_input_tokens(captured[1])
            unit = p.predictor.cost_usd(
                Response(text="x", usage=Usage(input_tokens=per, output_tokens=5)))
            tokens, cost = per * n, None if unit is None else unit * n
        total_n += n
        total_tokens += tokens
        total_cost = None if total_cost is None or cost is None else total_cost + cost
        lines.append(f"{se.name:<36} {p.predictor.name:<28} {p.strategy.name:<18} {n:>6} "
                     f"{tokens:>10} {'unknown' if cost is None else f'${cost:.4f}':>10}")
    lines += ["-" * len(head),
              f"{'total':<84} {total_n:>6} {total_tokens:>10} "
              f"{'unknown' if total_cost is None else f'${total_cost:.4f}':>10}", "",
              "Estimates are of each sample's first call; two-stage and free-description "
              "ask again for some samples. Cached answers are not paid for again.",
              *sorted(set(notes)), "dry run: no request was sent"]
    return "\n".join(lines)


def study_summary(data: dict[str, Any]) -> str:
    """study.json as the printed table (markdown) and the links."""
    from vlmfer.report.table import to_markdown

    out = []
    if data.get("table"):
        out.append(to_markdown(data["table"]))
    return "".join(out)


def load_study_json(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / STUDY_JSON
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{folder}: no {STUDY_JSON}; run `vlmfer study FILE.toml` first") from e
    return loaded
