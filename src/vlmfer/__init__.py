"""vlmfer: how well do vision-language models recognise facial expressions?

The public API is importable from here. Heavy modules (SDKs, PyAV, matplotlib,
scikit-learn) load only when used, so ``import vlmfer`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vlmfer._version import __version__

_EXPORTS: dict[str, str] = {
    # labels
    "CAER_LABELS": "vlmfer.labels",
    "SIX_LABELS": "vlmfer.labels",
    "NEUTRAL": "vlmfer.labels",
    "parse_label": "vlmfer.labels",
    # types
    "Sample": "vlmfer.types",
    "Media": "vlmfer.types",
    "MediaSpec": "vlmfer.types",
    "Prompt": "vlmfer.types",
    "Response": "vlmfer.types",
    "Usage": "vlmfer.types",
    "Step": "vlmfer.types",
    "Prediction": "vlmfer.types",
    "LabelMatch": "vlmfer.types",
    "Capabilities": "vlmfer.types",
    "GenerationOptions": "vlmfer.types",
    "ResponseConstraint": "vlmfer.types",
    # behaviour
    "Dataset": "vlmfer.datasets.base",
    "Predictor": "vlmfer.predictors.base",
    "Strategy": "vlmfer.strategies.base",
    "SampleContext": "vlmfer.strategies.base",
    "Verdict": "vlmfer.strategies.base",
    "Requirements": "vlmfer.strategies.base",
    "Metric": "vlmfer.metrics.base",
    # running
    "evaluate": "vlmfer.evaluation",
    "evaluate_async": "vlmfer.evaluation",
    "Run": "vlmfer.results",
    "load_runs": "vlmfer.results",
    # registry
    "hookimpl": "vlmfer.hookspecs",
    "get_dataset": "vlmfer.plugins",
    "get_predictor": "vlmfer.plugins",
    "get_strategy": "vlmfer.plugins",
    "get_metric": "vlmfer.plugins",
    "get_registry": "vlmfer.plugins",
    # errors
    "VlmferError": "vlmfer.errors",
    "ConfigError": "vlmfer.errors",
    "MediaError": "vlmfer.errors",
    "PredictorError": "vlmfer.errors",
    "UnknownDatasetError": "vlmfer.errors",
    "UnknownPredictorError": "vlmfer.errors",
    "UnknownStrategyError": "vlmfer.errors",
    "UnknownMetricError": "vlmfer.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # explicit re-exports, for type checkers only
    from vlmfer.datasets.base import Dataset as Dataset
    from vlmfer.errors import ConfigError as ConfigError
    from vlmfer.errors import MediaError as MediaError
    from vlmfer.errors import PredictorError as PredictorError
    from vlmfer.errors import UnknownDatasetError as UnknownDatasetError
    from vlmfer.errors import UnknownMetricError as UnknownMetricError
    from vlmfer.errors import UnknownPredictorError as UnknownPredictorError
    from vlmfer.errors import UnknownStrategyError as UnknownStrategyError
    from vlmfer.errors import VlmferError as VlmferError
    from vlmfer.evaluation import evaluate as evaluate
    from vlmfer.evaluation import evaluate_async as evaluate_async
    from vlmfer.hookspecs import hookimpl as hookimpl
    from vlmfer.labels import CAER_LABELS as CAER_LABELS
    from vlmfer.labels import NEUTRAL as NEUTRAL
    from vlmfer.labels import SIX_LABELS as SIX_LABELS
    from vlmfer.labels import parse_label as parse_label
    from vlmfer.metrics.base import Metric as Metric
    from vlmfer.plugins import get_dataset as get_dataset
    from vlmfer.plugins import get_metric as get_metric
    from vlmfer.plugins import get_predictor as get_predictor
    from vlmfer.plugins import get_registry as get_registry
    from vlmfer.plugins import get_strategy as get_strategy
    from vlmfer.predictors.base import Predictor as Predictor
    from vlmfer.results import Run as Run
    from vlmfer.results import load_runs as load_runs
    from vlmfer.strategies.base import Requirements as Requirements
    from vlmfer.strategies.base import SampleContext as SampleContext
    from vlmfer.strategies.base import Strategy as Strategy
    from vlmfer.strategies.base import Verdict as Verdict
    from vlmfer.types import Capabilities as Capabilities
    from vlmfer.types import GenerationOptions as GenerationOptions
    from vlmfer.types import LabelMatch as LabelMatch
    from vlmfer.types import Media as Media
    from vlmfer.types import MediaSpec as MediaSpec
    from vlmfer.types import Prediction as Prediction
    from vlmfer.types import Prompt as Prompt
    from vlmfer.types import Response as Response
    from vlmfer.types import ResponseConstraint as ResponseConstraint
    from vlmfer.types import Sample as Sample
    from vlmfer.types import Step as Step
    from vlmfer.types import Usage as Usage


#: Old names, kept for one release (the module they live in warns on use).
_DEPRECATED: dict[str, str] = {"StepContext": "vlmfer.strategies.base"}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        return getattr(importlib.import_module(_DEPRECATED[name]), name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmfer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
