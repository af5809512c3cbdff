"""Checks made before the first paid call, and the run's media settings.

A video dataset with an image-only model, logprobs asked of a predictor that has
none, gold classes the strategy cannot answer: each fails at start-up with a
message that names what would work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.errors import CapabilityError, ConfigError
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.probe import Needs, ProbedPredictor
from vlmfer.strategies.base import Strategy
from vlmfer.types import MediaSpec


def strategy_media_spec(strategy: Strategy) -> MediaSpec | None:
    """The strategy's own ``media`` option, for strategies that take one (else None)."""
    spec = getattr(strategy.options, "media", None)
    if isinstance(spec, MediaSpec):
        return spec
    if isinstance(spec, dict):
        return MediaSpec(**spec)
    return None


def run_media_spec(strategy: Strategy, media: MediaSpec | None) -> MediaSpec:
    """The media settings a run uses: its ``[media]`` table, else the strategy's own option.

    Both may be set only when they agree: one run has one way of turning media into bytes.
    """
    own = strategy_media_spec(strategy)
    if media is None:
        return own or MediaSpec()
    if own is not None and own != MediaSpec() and own != media:
        raise ConfigError(
            f"media settings are given twice and differ: the run's [media] "
            f"{media.model_dump(exclude_defaults=True)} and strategy {strategy.name!r}'s "
            f"media option {own.model_dump(exclude_defaults=True)}. Set them in one place, "
            "the [media] table (or evaluate(..., media=...))"
        )
    return media


def media_spec_of(strategy: Strategy) -> MediaSpec:
    """The media spec a strategy puts in its prompts when the run sets none."""
    return strategy_media_spec(strategy) or MediaSpec()


def check_capabilities(
    dataset: Dataset | None, strategy: Strategy, predictors: dict[str, Predictor],
    *, media: MediaSpec | None = None,
) -> None:
    """Fail before the first paid call when a predictor cannot do what is needed.

    ``media`` is the run's ``[media]`` settings (None: the strategy's own).
    """
    from vlmfer.media import check_media_spec

    check_media_spec(run_media_spec(strategy, media))
    main = predictors["main"]
    caps = main.capabilities
    kind = dataset.media_kind if dataset is not None else None
    if kind == "video" and not (caps.video or (caps.video_as_frames and caps.image)):
        raise CapabilityError(
            f"{main.name} cannot take video (it accepts {caps.accepts()}); dataset "
            f"{dataset.name if dataset else ''!r} is video. Use a video-capable model such as "
            "gemini/gemini-3.5-flash, or an image model that takes sampled frames"
        )
    if kind == "image" and not caps.image:
        raise CapabilityError(f"{main.name} cannot take images (it accepts {caps.accepts()})")
    req = strategy.requirements()
    for flag, what in (("logprobs", "log-probabilities"), ("enum_output", "enum output"),
                       ("json_schema", "JSON-schema output")):
        if getattr(req, flag) and not getattr(caps, flag):
            raise CapabilityError(
                f"strategy {strategy.name!r} needs {what}, which {main.name} does not provide. "
                "Use a backend that does (e.g. openai/gpt-5.2), or choose another strategy "
                "or option"
            )
    if dataset is not None:
        gold = {label for label, n in dataset.class_counts().items() if n}
        outside = sorted(gold - set(strategy.labels))
        if outside:
            keep = ",".join(label for label in strategy.labels if label in gold)
            raise ConfigError(
                f"dataset {dataset.name!r} has gold classes {outside} that strategy "
                f"{strategy.name!r} cannot answer (its labels: {list(strategy.labels)}). "
                f"Keep only answerable classes with --classes {keep} (for six-class this is "
                "the 'excluding Neutral: forced six-way' convention), or choose a strategy "
                "whose labels include them"
            )
    missing = set(strategy.roles()) - set(predictors)
    if missing:
        raise ConfigError(
            f"strategy {strategy.name!r} needs predictors for roles {sorted(missing)}"
        )


def needs_of(strategy: Strategy) -> Needs:
    """The server features ``strategy`` relies on."""
    req = strategy.requirements()
    # Requirements has no sampling flag (yet): calibrated's fallback is what samples.
    sampling = bool(getattr(req, "sampling", False)) or \
        getattr(getattr(strategy, "options", None), "fallback", None) == "sampling"
    return Needs(logprobs=req.logprobs, response_format=req.enum_output or req.json_schema,
                 sampling=sampling)


async def probe_predictors(
    predictors: Mapping[str, Predictor], strategy: Strategy
) -> dict[str, Any]:
    """Probe every predictor that talks to a compatible server; the results by role.

    Raises ``ConfigError`` (exit 2) when a server is unusable for this strategy.
    """
    needs = needs_of(strategy)
    out: dict[str, Any] = {}
    for role, predictor in sorted(predictors.items()):
        if not isinstance(predictor, ProbedPredictor):
            continue
        # Only the main predictor answers the strategy's scored questions.
        result = await predictor.probe(needs if role == "main" else Needs())
        if result is not None:
            out[role] = result.model_dump(mode="json")
    return out
