"""The engine's public names, loaded on first use (``import vlmfer.engine`` stays light).

Import them from here, not from the module that defines them today: the modules
behind these names may be split or moved.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Engine": "vlmfer.engine.run",
    "EngineOptions": "vlmfer.engine.run",
    "SampleContext": "vlmfer.engine.run",
    "evaluate_async": "vlmfer.engine.run",
    "record_step": "vlmfer.engine.run",
    "failed_step": "vlmfer.engine.run",
    "ResponseCache": "vlmfer.engine.cache",
    "cache_key": "vlmfer.engine.cache",
    "RateLimiter": "vlmfer.engine.limits",
    "RunDir": "vlmfer.engine.rundir",
    "read_predictions": "vlmfer.engine.rundir",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # explicit re-exports, for type checkers only
    from vlmfer.engine.cache import ResponseCache as ResponseCache
    from vlmfer.engine.cache import cache_key as cache_key
    from vlmfer.engine.limits import RateLimiter as RateLimiter
    from vlmfer.engine.run import Engine as Engine
    from vlmfer.engine.run import EngineOptions as EngineOptions
    from vlmfer.engine.run import SampleContext as SampleContext
    from vlmfer.engine.run import evaluate_async as evaluate_async
    from vlmfer.engine.run import failed_step as failed_step
    from vlmfer.engine.run import record_step as record_step
    from vlmfer.engine.rundir import RunDir as RunDir
    from vlmfer.engine.rundir import read_predictions as read_predictions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmfer.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
