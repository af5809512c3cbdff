"""Deprecated: moved to ``vlmfer.predictors.openai_batch`` (batch is a capability of the
predictor: ``predictor.batch_jobs()``)."""

from __future__ import annotations

from vlmfer.batch._moved import forward

__getattr__ = forward(__name__, "vlmfer.predictors.openai_batch")
