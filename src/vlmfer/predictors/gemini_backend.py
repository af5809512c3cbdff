"""Deprecated alias of :mod:`vlmfer.predictors.gemini` (renamed in 0.2; removed in 0.3)."""

from __future__ import annotations

import warnings

from vlmfer.predictors.gemini import *  # noqa: F403
from vlmfer.predictors.gemini import GeminiPredictor

warnings.warn(
    "vlmfer.predictors.gemini_backend is deprecated; import from vlmfer.predictors.gemini",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["GeminiPredictor"]
