"""The Strategy ↔ engine contract.

A strategy is an async ``run(sample, ctx)`` that *awaits* model answers through
``ctx.ask(prompt, step=...)``. The engine fulfils each ask: online, by the
cache or by a rate-limited, retried predictor call; in batch mode, from the
collected results of earlier rounds. When a batch round has no answer yet,
``ask`` raises ``Pending`` (a ``BaseException``, so a strategy's own
``except Exception`` cannot swallow it) and the engine re-runs the strategy
from the start after the next collection. Strategies must therefore be
deterministic functions of the sample, their options and the answers.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, Field

from vlmfer.types import Capabilities, Outcome, Prompt, Record, Response, Sample


class Pending(BaseException):  # a control-flow signal, not an error
    """Raised by ``ask`` in batch mode when the answer is not collected yet."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


class CallFailed(Exception):
    """Raised by ``ask`` when a call failed after the engine's last attempt."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class SampleContext(Protocol):
    """What a strategy may use while it runs for one sample (its ``ctx``).

    The engine's implementation is ``vlmfer.engine.EngineContext``; tests may
    bring their own. (``StepContext`` is this protocol's old name.)
    """

    @property
    def sample(self) -> Sample: ...

    async def ask(
        self, prompt: Prompt, *, step: str, role: str = "main", parsed: Any = None
    ) -> Response:
        """Get the answer to ``prompt`` from the predictor playing ``role``."""
        ...

    def note(self, step: str, **details: Any) -> None:
        """Attach details (a parse result, a mapper name) to a recorded step."""
        ...


class Verdict(Record):
    """What a strategy decides for one sample: the label or the non-answer, and why.

    It carries no ids, steps or cost: the strategy does not know them. The engine
    wraps it into the ``vlmfer.Prediction`` that ``predictions.jsonl`` stores,
    adding ``sample_id``, ``gold``, ``group``, every ``Step`` (prompt hash, response,
    usage, latency, cache hit) and ``cost_usd`` (their sum). ``pred``, ``outcome``,
    ``reason``, ``scores`` and ``extra`` are copied over as they are.
    """

    pred: str | None
    outcome: Outcome
    reason: str | None = None
    scores: dict[str, float] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Requirements(Record):
    """What a strategy needs from its predictors, checked before any call."""

    logprobs: bool = False
    enum_output: bool = False
    json_schema: bool = False


class Strategy(ABC):
    """Turns one ``Sample`` into one ``Verdict`` through predictor calls.

    ``decide`` is the strategy's whole job for one sample; ``vlmfer run`` (the command)
    and ``vlmfer.Run`` (its result) are about a whole dataset.
    """

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, **options: Any) -> None:
        self.options = self.Options(**options)

    @property
    @abstractmethod
    def labels(self) -> tuple[str, ...]:
        """The label set this strategy answers in."""

    def requirements(self) -> Requirements:
        return Requirements()

    def roles(self) -> dict[str, str]:
        """Extra predictors by role (``{"mapper": "openai/gpt-5-mini"}``)."""
        return {}

    def adapt(self, capabilities: Capabilities) -> tuple[Strategy, str] | None:
        """A variant of this strategy that a predictor with ``capabilities`` can serve.

        Called once at start-up, before any request, when the main predictor lacks
        something ``requirements()`` asks for. Return the variant and one sentence that
        says what changed (it is printed and recorded); None when there is none, and the
        run then fails at start-up with the capability error.
        """
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options.model_dump(mode="json")}

    async def decide(self, sample: Sample, ctx: SampleContext) -> Verdict:
        """The strategy's whole job for one sample: ask through ``ctx``, return a Verdict.

        Subclasses implement this. A strategy written for an earlier release that
        implements ``run`` instead still works, with a DeprecationWarning.
        """
        if type(self).run is Strategy.run:
            raise NotImplementedError(f"{type(self).__name__} must implement decide()")
        if type(self) not in _WARNED_RUN:
            _WARNED_RUN.add(type(self))
            warnings.warn(f"{type(self).__name__}.run() is deprecated: rename it decide() "
                          "('run' names the command and its result only)",
                          DeprecationWarning, stacklevel=2)
        return await self.run(sample, ctx)

    async def run(self, sample: Sample, ctx: SampleContext) -> Verdict:
        """Deprecated name of ``decide``."""
        if type(self).decide is Strategy.decide:
            raise NotImplementedError(f"{type(self).__name__} must implement decide()")
        return await self.decide(sample, ctx)


#: Strategy classes already warned that they implement ``run`` rather than ``decide``.
_WARNED_RUN: set[type[Strategy]] = set()


def __getattr__(name: str) -> Any:
    if name == "StepContext":  # renamed: it is per sample, not per step
        warnings.warn("vlmfer.strategies.base.StepContext is deprecated; use SampleContext",
                      DeprecationWarning, stacklevel=2)
        return SampleContext
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
