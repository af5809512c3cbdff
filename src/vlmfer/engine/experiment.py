"""From an ``Experiment`` (TOML + flags) to its components, and the dry run.

Running it is ``vlmfer.evaluation.run_experiment``, above the engine, since a run
ends by writing metrics and the report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.engine.config import Experiment
from vlmfer.engine.core import EngineOptions, RunSettings
from vlmfer.engine.preflight import check_capabilities, run_media_spec
from vlmfer.errors import ConfigError, MissingKeyError
from vlmfer.plugins import get_dataset, get_metric, get_predictor, get_strategy
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Pending, SampleContext, Strategy, Verdict
from vlmfer.types import MediaSpec, Prompt, Response, Sample, Usage


@dataclass
class Parts:
    dataset: Dataset
    predictor: Predictor
    strategy: Strategy
    roles: dict[str, Predictor]
    options: EngineOptions
    out: Path


#: Stands in for a missing key during a dry run, which sends nothing.
DRY_RUN_KEY = "dry-run-sends-nothing"


def _predictor(
    spec: str, base_url: str | None, options: dict[str, Any], notes: list[str] | None = None
) -> Predictor:
    opts = dict(options)
    if base_url:
        opts["base_url"] = base_url
    try:
        predictor: Predictor = get_predictor(spec, **opts)
    except MissingKeyError as e:
        if notes is None:  # a real run needs the key
            raise
        notes.append(f"note: {e} (needed for the real run; a dry run sends nothing)")
        predictor = get_predictor(spec, **opts, api_key=DRY_RUN_KEY)
    return predictor


def build(exp: Experiment, *, notes: list[str] | None = None) -> Parts:
    """Make the dataset, predictors and strategy that an experiment names.

    With ``notes`` (a dry run), a missing key becomes a note instead of an error.
    """
    ds_cfg = exp.dataset
    dataset: Dataset = get_dataset(ds_cfg.name, root=ds_cfg.root, split=ds_cfg.split,
                                   **ds_cfg.plugin_options())
    strategy: Strategy = get_strategy(exp.strategy.name, **exp.strategy.plugin_options())
    predictor = _predictor(exp.model.name, exp.model.base_url, exp.model.plugin_options(),
                           notes)
    roles: dict[str, Predictor] = {}
    main_provider = exp.model.name.partition("/")[0]
    for role, spec in strategy.roles().items():
        same = spec.partition("/")[0] == main_provider
        roles[role] = _predictor(spec, exp.model.base_url if same else None, {}, notes)
    run = exp.run
    for name in run.metrics or ():
        get_metric(name)  # an unknown name fails before the first call, listing valid ones
    options = EngineOptions(**run.model_dump(include=set(RunSettings.model_fields)),
                            progress=not run.quiet, media=exp.media)
    out = Path(run.out or exp.default_out())
    return Parts(dataset, predictor, strategy, roles, options, out)


class _Capture:
    """A context that records the first prompt and stops: nothing is sent."""

    def __init__(self, sample: Sample, media_spec: MediaSpec) -> None:
        self._sample = sample
        self.media_spec = media_spec
        self.prompts: list[tuple[str, Prompt]] = []

    @property
    def sample(self) -> Sample:
        return self._sample

    async def ask(self, prompt: Prompt, *, step: str, role: str = "main",
                  parsed: Any = None) -> Response:
        self.prompts.append((step, prompt))
        raise Pending(step)

    def note(self, step: str, **details: Any) -> None:
        return None


def first_prompt(
    strategy: Strategy, sample: Sample, media: MediaSpec | None = None
) -> tuple[str, Prompt] | None:
    """The first prompt ``strategy`` asks for ``sample`` under the run's ``media`` settings."""
    ctx = _Capture(sample, run_media_spec(strategy, media))
    ctx_typed: SampleContext = ctx

    async def go() -> Verdict | None:
        try:
            return await strategy.run(sample, ctx_typed)
        except Pending:
            return None

    asyncio.run(go())
    if not ctx.prompts:
        return None
    step, prompt = ctx.prompts[0]
    if media is not None:  # as the engine does: the run's [media] settings hold for every ask
        prompt = prompt.model_copy(update={"media_spec": media})
    return step, prompt


def _split_lines(ds: Dataset) -> list[str]:
    split_counts = getattr(ds, "split_counts", None)
    if split_counts is None:
        return []
    out = []
    for split, counts in split_counts().items():
        total = sum(counts.values())
        out.append(f"  {split:<10} n={total}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return ["splits on disk (before --limit):", *out]


def dry_run(exp: Experiment) -> str:
    """Counts per class, token and cost estimates and the first prompt. Sends nothing."""
    notes: list[str] = []
    parts = build(exp, notes=notes)
    check_capabilities(parts.dataset, parts.strategy, {"main": parts.predictor, **parts.roles},
                       media=parts.options.media)
    ds = parts.dataset
    counts = ds.class_counts()
    lines = [
        f"dataset   {ds.name} split={ds.split} n={len(ds)} fingerprint={ds.fingerprint()[:12]}",
        "classes   " + ", ".join(f"{k}={v}" for k, v in counts.items()),
        *_split_lines(ds),
        f"model     {parts.predictor.name}",
        f"strategy  {parts.strategy.name}",
        f"out       {parts.out}",
    ]
    sample = next(iter(ds), None)
    if sample is None:
        raise ConfigError(f"dataset {ds.name!r} selects no samples: nothing to run")
    captured = first_prompt(parts.strategy, sample, parts.options.media)
    if captured is not None:
        step, prompt = captured
        tokens = parts.predictor.estimate_input_tokens(prompt)
        probe = Response(text="x", usage=Usage(input_tokens=tokens, output_tokens=5))
        unit = parts.predictor.cost_usd(probe)
        tref = f"{prompt.template.name}@{prompt.template.version}" if prompt.template else "-"
        total = f"${unit * len(ds):.4f}" if unit is not None else "unknown (no price for model)"
        lines.append(
            f"estimate  ~{tokens} input tokens per first call; "
            f"~{tokens * len(ds)} for {len(ds)} samples; cost of first calls {total}")
        if exp.run.batch:
            batch_probe = probe.model_copy(update={"details": {"batch": True}})
            batch_unit = parts.predictor.cost_usd(batch_probe)
            batch_total = (f"${batch_unit * len(ds):.4f}" if batch_unit is not None
                           else "unknown (no price for model)")
            share = (f", {batch_unit / unit:.0%} of the online price"
                     if unit and batch_unit is not None else "")
            lines.append(f"batch     provider batch API (--batch): cost of first calls "
                         f"{batch_total}{share}; results within 24 h")
        lines += [
            f"prompt    (step {step!r}, {len(prompt.media)} media part(s), template {tref})",
        ]
        if prompt.system:
            lines += ["--- system ---", prompt.system]
        lines += ["--- user ---", prompt.text, "---"]
    lines += notes
    lines.append("dry run: no request was sent")
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    if name == "run_experiment":  # moved above the engine; kept here for one release
        import importlib
        import warnings

        warnings.warn("vlmfer.engine.experiment.run_experiment is deprecated; use "
                      "vlmfer.evaluation.run_experiment", DeprecationWarning, stacklevel=2)
        return importlib.import_module("vlmfer.evaluation").run_experiment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
