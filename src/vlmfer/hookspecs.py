"""The plugin hooks. Each takes one ``register`` callable; plugins hand objects to it.

These docstrings are the hooks reference (docs/hooks.md is checked against them).
Annotate a hook's argument with its own ``Register*`` protocol, so that a type
checker catches a wrong object before the registry does::

    @hookimpl
    def register_predictors(register: RegisterPredictors) -> None:
        register("myproxy", myproxy_predictor)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:  # type-only: the hooks sit below the kinds they register
    from vlmfer.datasets.base import Dataset
    from vlmfer.metrics.base import Metric
    from vlmfer.predictors.base import Predictor
    from vlmfer.strategies.base import Strategy

PROJECT = "vlmfer"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The untyped form of every hook's argument (what plugins written before the
#: ``Register*`` protocols annotate with). Still accepted.
Register = Callable[..., None]

#: ``factory(model, **options)``: builds the predictor for ``"provider/model"``.
PredictorFactory = Callable[..., "Predictor"]
#: ``factory(root=..., split=..., **options)``; a ``Dataset`` class is one.
DatasetFactory = Callable[..., "Dataset"]


class RegisterPredictors(Protocol):
    """The ``register`` of ``register_predictors``: ``register(provider, factory)``."""

    def __call__(self, provider: str, factory: PredictorFactory, /) -> None: ...


class RegisterStrategies(Protocol):
    """The ``register`` of ``register_strategies``: ``register(name, StrategyClass)``."""

    def __call__(self, name: str, cls: type[Strategy], /) -> None: ...


class RegisterDatasets(Protocol):
    """The ``register`` of ``register_datasets``: ``register(name, factory)``."""

    def __call__(self, name: str, factory: DatasetFactory, /) -> None: ...


class RegisterMetrics(Protocol):
    """The ``register`` of ``register_metrics``: ``register(name, function)``."""

    def __call__(self, name: str, function: Metric, /) -> None: ...


@hookspec
def register_predictors(register: RegisterPredictors) -> None:
    """Register predictor providers.

    Call ``register(provider, factory)`` where ``factory(model, **options)``
    returns a ``vlmfer.Predictor``. Users then ask for ``"provider/model"``.
    """


@hookspec
def register_strategies(register: RegisterStrategies) -> None:
    """Register prompting strategies: ``register(name, StrategyClass)``.

    The class is a ``vlmfer.Strategy`` subclass with an ``Options`` pydantic model.
    """


@hookspec
def register_datasets(register: RegisterDatasets) -> None:
    """Register dataset loaders: ``register(name, factory)``.

    ``factory(root=..., split=..., **options)`` returns a ``vlmfer.Dataset``.
    """


@hookspec
def register_metrics(register: RegisterMetrics) -> None:
    """Register metrics: ``register(name, function)``.

    ``function(y_true, y_pred, *, labels=None, ...)`` is pure, in scikit-learn style.
    """
