"""Deprecated: moved to ``vlmfer.predictors.gemini_batch`` (batch is a capability of the
predictor: ``predictor.batch_jobs()``)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_NEW = "vlmfer.predictors.gemini_batch"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn(f"vlmfer.batch.gemini_jobs is deprecated: import {name} from {_NEW}, or "
                  "use predictor.batch_jobs()", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(_NEW), name)
