"""The Predictor contract: one async call to a model, reported faithfully.

A predictor never sleeps, retries or caches: the engine owns time. It raises
``PredictorError`` (classified retryable or not) when a call fails, and returns
a ``Response`` whose ``status`` says whether the model answered at all.

``predict`` runs concurrently: the engine awaits up to ``concurrency`` calls at
once on one event loop, and work a predictor pushes to threads
(``asyncio.to_thread``) runs in parallel. A shared native object (an OpenCV
cascade, a tokenizer, a model that is not thread-safe) needs a lock, or one copy
per thread.
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
    #: ``{"name": ..., "version": ...}`` of the distribution that registered the
    #: provider. ``vlmfer.get_predictor`` sets it; None for a predictor built directly.
    distribution: dict[str, str] | None = None
    #: Whether an answer depends on this distribution's code, not on the request alone.
    #: True (the default, right for local models and most plugins): the distribution's
    #: name and version join the cache key, so a new release never reuses answers of the
    #: old code. A remote API whose every request is described by ``cache_identity()``
    #: and the prompt may set False, so that upgrading the package keeps the cache.
    code_in_cache_identity: ClassVar[bool] = True

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
        """What, besides the prompt, makes an answer from this predictor distinct.

        Cover everything that changes the answer to the same prompt: the model
        (weights path *and* a hash or revision of the weights, not only the
        folder name), the endpoint (``base_url``), options that shape the request
        or the computation (dtype, device when it changes numerics, decoding and
        preprocessing options, prompt formatting, chat template) and a version of
        your own code when it is not released as a new distribution version.
        Never a key. The engine adds the prompt (media hashes, media settings,
        generation options) and, see ``code_in_cache_identity``, the
        distribution's name and version.
        """
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


def cache_identity_of(predictor: Predictor) -> dict[str, Any]:
    """The identity the engine keys cached answers by (with the prompt).

    ``cache_identity()``, plus the registering distribution's name and version when
    the answer depends on its code (``code_in_cache_identity``): fixing a plugin and
    releasing it never serves the answers of the old code.
    """
    identity = dict(predictor.cache_identity())
    dist = getattr(predictor, "distribution", None)
    if dist is not None and getattr(predictor, "code_in_cache_identity", True):
        identity["distribution"] = dict(dist)
    return identity
