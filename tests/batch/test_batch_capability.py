"""Batch is a capability of the predictor: the driver asks it, and old import paths warn."""

from __future__ import annotations

from typing import Any

import pytest

import vlmfer
from vlmfer.batch.jobs import job_client
from vlmfer.errors import ConfigError
from vlmfer.predictors.batch import BatchLimits


def test_a_predictor_without_batch_gets_the_list_of_what_offers_it() -> None:
    mock = vlmfer.get_predictor("mock/fixed:Happy")
    assert mock.batch_jobs() is None
    with pytest.raises(ConfigError) as e:
        job_client(mock, "main")
    assert "mock/fixed:Happy (role 'main') offers no provider batch API" in str(e.value)
    assert "openai/<model>, gemini/<model>" in str(e.value)


def test_any_predictor_that_returns_a_job_client_offers_batch() -> None:
    from vlmfer.predictors.mock import MockPredictor

    class Jobs:
        provider = "elsewhere"
        limits = BatchLimits(max_requests=3)

    class WithBatch(MockPredictor):
        provider = "elsewhere"  # not a name the driver knows

        def batch_jobs(self) -> Any:
            return Jobs()

        async def batch_request(self, prompt: Any) -> Any:
            return {}, {}

        def parse_batch_result(self, body: Any, context: Any) -> Any:
            raise NotImplementedError

    base = vlmfer.get_predictor("mock/fixed:Happy")
    p = WithBatch(base.model, base.options)  # type: ignore[attr-defined]
    client = job_client(p)
    assert client.provider == "elsewhere" and client.limits.max_requests == 3


@pytest.mark.parametrize(("old", "new", "name"), [
    ("vlmfer.batch.openai_jobs", "vlmfer.predictors.openai_batch", "OpenAIJobs"),
    ("vlmfer.batch.gemini_jobs", "vlmfer.predictors.gemini_batch", "GeminiJobs"),
])
def test_the_old_job_client_modules_still_import_with_a_warning(
    old: str, new: str, name: str
) -> None:
    import importlib

    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new):
        cls = getattr(module, name)
    assert cls is getattr(importlib.import_module(new), name)
    from vlmfer.batch.engine import BatchPredictor
    from vlmfer.predictors.batch import BatchCapable

    assert BatchPredictor is BatchCapable


def test_batch_run_is_the_deprecated_name_of_batch_driver() -> None:
    import vlmfer.batch
    from vlmfer.batch.driver import BatchDriver

    with pytest.warns(DeprecationWarning, match="use BatchDriver"):
        assert vlmfer.batch.BatchRun is BatchDriver
