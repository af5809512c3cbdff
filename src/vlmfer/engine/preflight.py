"""Checks made before the first paid call, and the run's media settings.

A video dataset with an image-only model, logprobs asked of a predictor that has
none, gold classes the strategy cannot answer: each fails at start-up with a
message that names what would work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterator, Mapping
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.errors import CapabilityError, ConfigError
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.probe import Needs, ProbedPredictor
from vlmfer.strategies.base import Strategy
from vlmfer.types import MediaSpec, Response, Sample, Usage


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


def adapt_strategy(
    strategy: Strategy, predictors: Mapping[str, Predictor]
) -> tuple[Strategy, list[str]]:
    """The strategy the main predictor can serve, and what was changed to get it.

    A strategy that needs log-probabilities from a predictor without them may offer a
    variant (``Strategy.adapt``: ``calibrated`` switches to its sampling fallback); the
    change is said at start-up and recorded in the manifest's strategy options.
    """
    main = predictors["main"]
    if not strategy.requirements().logprobs or main.capabilities.logprobs:
        return strategy, []
    adapted = strategy.adapt(main.capabilities)
    if adapted is None:
        return strategy, []
    variant, note = adapted
    return variant, [f"{main.name}: {note}"]


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


class ExcludingGold(Dataset):
    """A dataset without the samples whose gold label is in ``excluded``.

    A strategy that cannot answer some gold labels by design (``six-class`` and
    Neutral) runs on the rest; ``describe()`` records how many were left out.
    """

    name = "excluding-gold"  # replaced per instance by the base dataset's name

    def __init__(self, base: Dataset, excluded: tuple[str, ...]) -> None:
        self.base = base
        self.excluded = excluded
        self.labels = tuple(x for x in base.labels if x not in excluded)
        self.splits = base.splits
        self.split = base.split
        self.media_kind = base.media_kind
        counts = base.class_counts()
        self._counts = {k: v for k, v in counts.items() if k not in excluded}
        self.left_out = {k: v for k, v in counts.items() if k in excluded and v}
        self._n = sum(1 for s in base if s.label not in excluded)

    def __getattr__(self, attr: str) -> Any:  # root, options, ... of the base dataset
        if attr == "base":
            raise AttributeError(attr)
        return getattr(self.base, attr)

    def __iter__(self) -> Iterator[Sample]:
        return (s for s in self.base if s.label not in self.excluded)

    def iter_except(self, skip: Container[str] = frozenset()) -> Iterator[Sample]:
        return (s for s in self.base.iter_except(skip) if s.label not in self.excluded)

    def __len__(self) -> int:
        return self._n

    def class_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def split_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = self.base.split_counts()  # type: ignore[attr-defined]
        return {split: {k: v for k, v in c.items() if k not in self.excluded}
                for split, c in counts.items()}

    def fingerprint(self) -> str:
        text = f"{self.base.fingerprint()} excluding gold {sorted(self.excluded)}"
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "excluded_gold": dict(self.left_out)}


def answerable(dataset: Dataset, strategy: Strategy) -> tuple[Dataset, dict[str, int]]:
    """The dataset a run asks: without the gold labels the strategy excludes by design.

    Returns the dataset (itself when nothing is left out) and the samples left out per
    gold label. A strategy declares such labels as ``excluded_gold`` (``six-class``:
    Neutral, the "excluding Neutral: forced six-way" convention).
    """
    excluded = tuple(getattr(strategy, "excluded_gold", ()) or ())
    if not excluded:
        return dataset, {}
    counts = dataset.class_counts()
    if not any(counts.get(label) for label in excluded):
        return dataset, {}
    subset = type(dataset.name, (ExcludingGold,), {"name": dataset.name})(dataset, excluded)
    return subset, dict(subset.left_out)


def left_out_note(strategy: Strategy, left_out: dict[str, int]) -> str:
    """The sentence that says which samples a run left out, and why."""
    what = ", ".join(f"{n} {label}" for label, n in left_out.items())
    return (f"{strategy.name}: left out {what} sample(s): its labels exclude "
            f"{'/'.join(left_out)} (the 'excluding Neutral: forced six-way' convention); "
            "the run asks the other samples")


def model_warnings(predictors: dict[str, Predictor]) -> list[str]:
    """Warnings about the models a run uses: retired, retiring, or without a known price.

    Each model is named once, however many roles it plays.
    """
    from vlmfer.plugins import predictor_factories
    from vlmfer.predictors.catalog import known_models
    from vlmfer.predictors.catalog import model_warnings as catalog_warnings

    models = known_models(predictor_factories())
    probe = Response(text="", usage=Usage(input_tokens=1000, output_tokens=10))
    out: list[str] = []
    for predictor in predictors.values():
        provider, _, model = predictor.name.partition("/")
        for text in catalog_warnings(provider, model, models=models,
                                     price_known=predictor.cost_usd(probe) is not None):
            if text not in out:
                out.append(text)
    return out
