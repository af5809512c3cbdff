"""The Predictor contract: one async call to a model, reported faithfully.

A predictor never sleeps, retries or caches: the engine owns time. It raises
``PredictorError`` (classified retryable or not) when a call fails, and returns
a ``Response`` whose ``status`` says whether the model answered at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from vlmfer.types import Capabilities, Prompt, Response

if TYPE_CHECKING:
    from vlmfer.predictors.batch import JobClient


class Predictor(ABC):
    """A model predictor, addressed as ``provider/model``."""

    #: The provider prefix it is registered under (``openai``, ``gemini``, ``mock``).
    provider: ClassVar[str]
    #: The model id (configuration, never hard-coded in strategies).
    model: str
    capabilities: Capabilities

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    @abstractmethod
    async def predict(self, prompt: Prompt) -> Response:
        """Make exactly one model call (media preparation runs in a worker thread)."""

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        """Input tokens expected before the call (for TPM budgets and dry runs)."""
        return max(1, len(prompt.text) // 4) + 85 * len(prompt.media)

    def cost_usd(self, response: Response) -> float | None:
        """Price of one response, or None when the price is unknown (never 0 by default)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Name and options for the run manifest. Never includes a key."""
        return {"name": self.name}

    def cache_identity(self) -> dict[str, Any]:
        """What, besides the prompt, makes an answer from this predictor distinct."""
        return {"name": self.name}

    def batch_jobs(self) -> JobClient | None:
        """The provider batch API for this predictor, or None (the default): no batch.

        A predictor that returns a job client also implements ``batch_request`` and
        ``parse_batch_result`` (see ``vlmfer.predictors.batch``); then ``vlmfer run
        --batch`` and ``vlmfer batch`` drive it, at the provider's batch price.
        """
        return None

    async def aclose(self) -> None:
        """Release clients and clean up provider-side resources (uploads)."""
        return None
