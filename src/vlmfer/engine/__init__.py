"""The engine: it owns time (concurrency, rate limits, retries, the cache, resume, progress).

- ``core``: ``Engine``, ``EngineContext`` (what a strategy's ``ctx`` is), ``drive``;
- ``preflight``: capability checks, the capability probe and the run's media settings,
  before any paid call;
- ``manifest``: ``build_manifest``, from the components' own descriptions;
- ``progress``: the progress display;
- ``run``: ``execute``, one run folder from start (or resume) to the last sample;
- ``cache``, ``limits``, ``rundir``: the response cache, the budgets, the run folder;
- ``config`` and ``experiment``: experiment files, and the components they name.

The engine imports nothing from ``vlmfer.metrics`` or ``vlmfer.report``. Import the
public names from here, not from the module that defines them today: they are loaded on
first use (``import vlmfer.engine`` stays light) and may move between modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: name -> (module, attribute there).
_EXPORTS: dict[str, tuple[str, str]] = {
    "Engine": ("vlmfer.engine.core", "Engine"),
    "EngineContext": ("vlmfer.engine.core", "EngineContext"),
    # The engine's implementation of the strategies' SampleContext protocol.
    "SampleContext": ("vlmfer.engine.core", "EngineContext"),
    "EngineOptions": ("vlmfer.engine.core", "EngineOptions"),
    "drive": ("vlmfer.engine.core", "drive"),
    "record_step": ("vlmfer.engine.core", "record_step"),
    "failed_step": ("vlmfer.engine.core", "failed_step"),
    "check_capabilities": ("vlmfer.engine.preflight", "check_capabilities"),
    "build_manifest": ("vlmfer.engine.manifest", "build_manifest"),
    "execute": ("vlmfer.engine.run", "execute"),
    "Execution": ("vlmfer.engine.run", "Execution"),
    "ResponseCache": ("vlmfer.engine.cache", "ResponseCache"),
    "cache_key": ("vlmfer.engine.cache", "cache_key"),
    "RateLimiter": ("vlmfer.engine.limits", "RateLimiter"),
    "RunFolder": ("vlmfer.engine.rundir", "RunFolder"),
    "RunDir": ("vlmfer.engine.rundir", "RunDir"),  # deprecated name of RunFolder
    "read_predictions": ("vlmfer.engine.rundir", "read_predictions"),
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # explicit re-exports, for type checkers only
    from vlmfer.engine.cache import ResponseCache as ResponseCache
    from vlmfer.engine.cache import cache_key as cache_key
    from vlmfer.engine.core import Engine as Engine
    from vlmfer.engine.core import EngineContext as EngineContext
    from vlmfer.engine.core import EngineContext as SampleContext  # noqa: F401
    from vlmfer.engine.core import EngineOptions as EngineOptions
    from vlmfer.engine.core import drive as drive
    from vlmfer.engine.core import failed_step as failed_step
    from vlmfer.engine.core import record_step as record_step
    from vlmfer.engine.limits import RateLimiter as RateLimiter
    from vlmfer.engine.manifest import build_manifest as build_manifest
    from vlmfer.engine.preflight import check_capabilities as check_capabilities
    from vlmfer.engine.run import Execution as Execution
    from vlmfer.engine.run import execute as execute
    from vlmfer.engine.rundir import RunFolder as RunFolder
    from vlmfer.engine.rundir import read_predictions as read_predictions


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'vlmfer.engine' has no attribute {name!r}")
    module, attr = target
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
