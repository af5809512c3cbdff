"""Deprecated alias of :mod:`vlmfer.predictors.openai` (renamed in 0.2; removed in 0.3)."""

from __future__ import annotations

import warnings

from vlmfer.predictors.openai import *  # noqa: F403
from vlmfer.predictors.openai import OpenAIPredictor

warnings.warn(
    "vlmfer.predictors.openai_backend is deprecated; import from vlmfer.predictors.openai",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["OpenAIPredictor"]
