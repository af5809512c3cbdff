"""The provider side of a batch: which job client a predictor offers.

Batch is a capability of the predictor (``Predictor.batch_jobs()``, see
``vlmfer.predictors.batch``): the OpenAI and Gemini predictors return their job clients,
and so can a plugin's. This module only asks; it knows no provider by name.
"""

from __future__ import annotations

import logging

from vlmfer.errors import ConfigError
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.batch import (
    BatchCapable,
    JobClient,
    JobPoll,
    RawResult,
    first_error,
)

__all__ = ["BatchCapable", "JobClient", "JobPoll", "RawResult", "first_error", "job_client",
           "no_batch_error"]

log = logging.getLogger("vlmfer")


def no_batch_error(predictor: Predictor, role: str | None = None) -> ConfigError:
    """The error for a predictor that offers no provider batch API."""
    who = f"{predictor.name} (role {role!r})" if role else predictor.name
    return ConfigError(
        f"{who} offers no provider batch API: its predictor's batch_jobs() returns None. "
        "Batch mode works with predictors that offer one: openai/<model>, gemini/<model>, "
        "and plugins that implement batch_jobs(), e.g. anthropic/<model> from "
        "vlmfer-anthropic (`vlmfer plugins` lists what is installed). Choose such a model, "
        "or run without --batch"
    )


def job_client(predictor: Predictor, role: str | None = None) -> JobClient:
    """The batch job client that ``predictor`` offers, or a ``ConfigError`` saying which
    predictors offer one."""
    client = predictor.batch_jobs()
    if client is None or not isinstance(predictor, BatchCapable):
        raise no_batch_error(predictor, role)
    return client
