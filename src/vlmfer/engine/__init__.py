"""The engine: it owns time (concurrency, rate limits, retries, the cache, resume, progress).

- ``core``: ``Engine``, ``EngineContext`` (what a strategy's ``ctx`` is), ``drive``;
- ``preflight``: capability checks and the run's media settings, before any paid call;
- ``manifest``: ``build_manifest``, from the components' own descriptions;
- ``progress``: the progress bar;
- ``run``: ``execute``, one run folder from start (or resume) to the last sample;
- ``cache``, ``limits``, ``rundir``: the response cache, the budgets, the run folder;
- ``config`` and ``experiment``: experiment files, and the components they name.

The engine imports nothing from ``vlmfer.metrics`` or ``vlmfer.report``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Engine": "vlmfer.engine.core",
    "EngineContext": "vlmfer.engine.core",
    "EngineOptions": "vlmfer.engine.core",
    "drive": "vlmfer.engine.core",
    "check_capabilities": "vlmfer.engine.preflight",
    "build_manifest": "vlmfer.engine.manifest",
    "execute": "vlmfer.engine.run",
    "Execution": "vlmfer.engine.run",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from vlmfer.engine.core import Engine as Engine
    from vlmfer.engine.core import EngineContext as EngineContext
    from vlmfer.engine.core import EngineOptions as EngineOptions
    from vlmfer.engine.core import drive as drive
    from vlmfer.engine.manifest import build_manifest as build_manifest
    from vlmfer.engine.preflight import check_capabilities as check_capabilities
    from vlmfer.engine.run import Execution as Execution
    from vlmfer.engine.run import execute as execute


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
