"""From an ``Experiment`` (TOML + flags) to its components, and the dry run.

Running it is ``vlmfer.evaluation.run_experiment``, above the engine, since a run
ends by writing metrics and the report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vlmfer.datasets.base import Dataset
from vlmfer.engine.config import Experiment
from vlmfer.engine.core import EngineOptions, RunSettings
from vlmfer.engine.preflight import (
    adapt_strategy,
    answerable,
    check_capabilities,
    left_out_note,
    model_warnings,
    run_media_spec,
)
from vlmfer.errors import ConfigError, MediaError, MissingKeyError
from vlmfer.plugins import get_dataset, get_metric, get_predictor, get_strategy
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Pending, SampleContext, Strategy, Verdict
from vlmfer.types import Media, MediaSpec, Prompt, Response, Sample, Usage


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
    strategy, changed = adapt_strategy(strategy, {"main": predictor, **roles})
    for note in changed:
        if notes is not None:
            notes.append(note)
        else:
            logging.getLogger("vlmfer").warning("vlmfer: %s", note)
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
            return await strategy.decide(sample, ctx_typed)
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


#: Samples whose first prompts the dry run's cost estimate is based on.
ESTIMATE_SAMPLES = 20
#: Bad files listed one by one in a dry run; the rest are counted.
BAD_LISTED = 20


def spread(samples: Iterable[Sample], k: int) -> list[Sample]:
    """Up to ``k`` samples spread across gold classes, in dataset order within each class."""
    by_label: dict[str | None, list[Sample]] = {}
    for sample in samples:
        by_label.setdefault(sample.label, []).append(sample)
    out: list[Sample] = []
    queues = list(by_label.values())
    while len(out) < k and any(queues):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def check_media(media: Media, spec: MediaSpec) -> str | None:
    """Why ``media`` cannot be used, from its header, or None when it looks fine.

    Cheap: an image's header and checksums (no full decode), a video's container header.
    """
    from vlmfer.media import probe_video

    try:
        if media.kind == "video":
            probe_video(media.path, quick=True)
            return None
        size = media.path.stat().st_size
        if size == 0:
            return "file is empty (0 bytes)"
        from PIL import Image

        with Image.open(media.path) as img:
            width, height = img.width, img.height
            img.verify()
        if width * height > spec.max_pixels:
            return (f"{width}x{height} is over the pixel cap max_pixels={spec.max_pixels} "
                    "(raise it in [media] if you trust this file)")
    except MediaError as e:
        return e.reason
    except FileNotFoundError:
        return "file does not exist"
    except Exception as e:  # Pillow raises many types for a broken file
        return f"cannot decode it as an image ({type(e).__name__}: {e})"
    return None


def _fmt(mime: str) -> str:
    sub = mime.partition("/")[2].removeprefix("x-").upper()
    return {"X-MSVIDEO": "AVI", "QUICKTIME": "MOV"}.get(sub, sub)


def request_carries(predictor: Predictor, prompt: Prompt) -> str:
    """What one request will carry, e.g. "8 frames, 712×400 JPEG" or "1 video, AVI 3.0 s".

    The first sample's media goes through the media layer exactly as the predictor's
    call would prepare it (nothing is sent).
    """
    from vlmfer.media import prepare_media

    caps = predictor.capabilities
    pieces = []
    for m in prompt.media:
        as_: Literal["image", "frames", "video"] = "image"
        if m.kind == "video":
            # A predictor's own video_mode option wins over the run's [media] one.
            mode = getattr(getattr(predictor, "options", None), "video_mode", "auto")
            if mode == "auto":
                mode = prompt.media_spec.video_mode
            as_ = "video" if caps.video and mode != "frames" else "frames"
        try:
            prepared = prepare_media(m, prompt.media_spec, as_=as_)
        except (MediaError, ValueError) as e:
            pieces.append(f"{m.path.name}: cannot be prepared ({e})")
            continue
        parts = prepared.parts
        if not parts:
            pieces.append("no media part")
            continue
        first = parts[0]
        size = f"{first.width}×{first.height}" if first.width and first.height else "?"
        if as_ == "video":
            probe = prepared.record.get("probe") or {}
            mime = str(prepared.record.get("mime_type") or first.mime_type)
            text = f"1 video, {_fmt(mime)} {float(probe.get('duration_s') or 0):.1f} s, {size}"
            if prepared.record.get("transcoded"):
                text += " (transcoded)"
            limit = getattr(getattr(predictor, "options", None), "inline_limit_bytes", None)
            if isinstance(limit, int):
                inline = len(first.data) * 4 // 3 + len(prompt.text.encode()) <= limit
                text += ", inline" if inline else ", uploaded through the Files API"
        elif as_ == "frames":
            text = f"{len(parts)} frames, {size} {_fmt(first.mime_type)}"
        else:
            text = f"1 image, {size} {_fmt(first.mime_type)}"
        pieces.append(text)
    return "; ".join(pieces) or "text only"


def dry_run(exp: Experiment) -> str:
    """Counts per class, media checks, what a request carries, token and cost estimates
    and the first prompt. Sends nothing."""
    notes: list[str] = []
    parts = build(exp, notes=notes)
    ds, left_out = answerable(parts.dataset, parts.strategy)
    predictors = {"main": parts.predictor, **parts.roles}
    check_capabilities(ds, parts.strategy, predictors, media=parts.options.media)
    notes = [f"warning: {w}" for w in model_warnings(predictors)] + notes
    counts = ds.class_counts()
    lines = [
        f"dataset   {ds.name} split={ds.split} n={len(ds)} fingerprint={ds.fingerprint()[:12]}",
        "classes   " + ", ".join(f"{k}={v}" for k, v in counts.items()),
        *_split_lines(ds),
    ]
    if left_out:
        lines.append(f"left out  {left_out_note(parts.strategy, left_out)}")
    lines += [
        f"model     {parts.predictor.name}",
        f"strategy  {parts.strategy.name}",
        f"out       {parts.out}",
    ]
    spec = run_media_spec(parts.strategy, parts.options.media)
    bad: list[tuple[str, str]] = []
    good: list[Sample] = []
    for sample in ds:
        why = check_media(sample.media, spec)
        if why is None:
            good.append(sample)
        else:
            bad.append((sample.id, why))
    if not good and not bad:
        raise ConfigError(f"dataset {ds.name!r} selects no samples: nothing to run")
    if bad:
        lines.append(f"media     {len(bad)} of {len(ds)} file(s) cannot be used; each would end "
                     "in an error outcome (fix or remove them first):")
        lines += [f"  {sid}: {why}" for sid, why in bad[:BAD_LISTED]]
        if len(bad) > BAD_LISTED:
            lines.append(f"  ... and {len(bad) - BAD_LISTED} more")
    else:
        lines.append(f"media     all {len(ds)} file(s) open and look sound (headers checked)")
    if not good:
        lines += notes
        lines.append("dry run: no request was sent")
        return "\n".join(lines)
    picked = spread(good, ESTIMATE_SAMPLES)
    estimates = []
    for sample in picked:
        captured = first_prompt(parts.strategy, sample, parts.options.media)
        if captured is not None:
            estimates.append((sample, *captured))
    if estimates:
        first, step, prompt = estimates[0]
        lines.append(f"request   {request_carries(parts.predictor, prompt)} "
                     f"(first call, e.g. sample {first.id})")
        tokens = [parts.predictor.estimate_input_tokens(p) for _, _, p in estimates]
        mean = sum(tokens) / len(tokens)
        units = [parts.predictor.cost_usd(Response(text="x", usage=Usage(
            input_tokens=t, output_tokens=5))) for t in tokens]
        n = len(ds)
        unit = None if any(u is None for u in units) else sum(
            u for u in units if u is not None) / len(units)
        classes = len({s.label for s, _, _ in estimates})
        based = (f"mean of {len(tokens)} sample(s) across {classes} class(es), "
                 f"range {min(tokens)}–{max(tokens)}")
        total = f"${unit * n:.4f}" if unit is not None else "unknown (no price for model)"
        lines.append(
            f"estimate  ~{mean:.0f} input tokens per first call ({based}); "
            f"~{mean * n:.0f} for {n} samples; cost of first calls {total}")
        if exp.run.batch:
            batch_units = [parts.predictor.cost_usd(Response(
                text="x", usage=Usage(input_tokens=t, output_tokens=5),
                details={"batch": True})) for t in tokens]
            batch_unit = None if any(u is None for u in batch_units) else sum(
                u for u in batch_units if u is not None) / len(batch_units)
            batch_total = (f"${batch_unit * n:.4f}" if batch_unit is not None
                           else "unknown (no price for model)")
            share = (f", {batch_unit / unit:.0%} of the online price"
                     if unit and batch_unit is not None else "")
            lines.append(f"batch     provider batch API (--batch): cost of first calls "
                         f"{batch_total}{share}; results within 24 h")
        tref = f"{prompt.template.name}@{prompt.template.version}" if prompt.template else "-"
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
