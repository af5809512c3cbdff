"""The plugin hooks. Each takes one ``register`` callable; plugins hand objects to it.

These docstrings are the hooks reference (docs/hooks.md is checked against them).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "vlmfer"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_predictors(register: Register) -> None:
    """Register predictor providers.

    Call ``register(provider, factory)`` where ``factory(model, **options)``
    returns a ``vlmfer.Predictor``. Users then ask for ``"provider/model"``.
    """


@hookspec
def register_strategies(register: Register) -> None:
    """Register prompting strategies: ``register(name, StrategyClass)``.

    The class is a ``vlmfer.Strategy`` subclass with an ``Options`` pydantic model.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset loaders: ``register(name, factory)``.

    ``factory(root=..., split=..., **options)`` returns a ``vlmfer.Dataset``.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: ``register(name, function)``.

    ``function(y_true, y_pred, *, labels=None, ...)`` is pure, in scikit-learn style.
    """


