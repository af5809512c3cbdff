"""Errors. Each says what was wrong, where, the valid choices and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class VlmferError(Exception):
    """Base of every error vlmfer raises on purpose."""


class ConfigError(VlmferError):
    """Bad configuration or usage. The CLI exits 2."""


class DatasetError(ConfigError):
    """A dataset root, layout or manifest is unusable. Raised at start-up."""


class CapabilityError(ConfigError):
    """The chosen predictor cannot do what the dataset or strategy needs."""


class MissingDependencyError(ConfigError):
    """An optional dependency is not installed."""

    def __init__(self, what: str, install: str) -> None:
        super().__init__(
            f"{what} requires optional dependencies. Install with: pip install {install}"
        )


class MissingKeyError(ConfigError):
    """No API key was found in the environment."""


class UnknownNameError(ConfigError, KeyError):
    """A name that no plugin registered."""

    kind = "name"
    #: How the name is called in messages, and its plural.
    noun = "name"
    plural = "names"
    #: A sentence added after the listing (how to get more names).
    more = ""

    def __init__(self, name: str, valid: Iterable[str]) -> None:
        self.name = name
        self.valid = sorted(valid)
        close = difflib.get_close_matches(name, self.valid, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(self.valid) if self.valid else "(none registered)"
        self.message = f"unknown {self.noun} {name!r}.{hint} Valid {self.plural}: {listing}"
        if self.more:
            self.message += f". {self.more}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownDatasetError(UnknownNameError):
    kind = noun = "dataset"
    plural = "datasets"


class UnknownPredictorError(UnknownNameError):
    kind = "predictor"
    # A predictor is named provider/model; what can be unknown is the provider.
    noun = "predictor provider"
    plural = "providers"
    more = ("Other providers come from plugins (e.g. pip install ./plugins/vlmfer-anthropic "
            "for anthropic/<model>); `vlmfer plugins` lists what is installed")


class UnknownStrategyError(UnknownNameError):
    kind = noun = "strategy"
    plural = "strategies"


class UnknownMetricError(UnknownNameError):
    kind = noun = "metric"
    plural = "metrics"


class MediaError(VlmferError):
    """A media file cannot be used. The engine turns it into an ``error`` outcome."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class PredictorError(VlmferError):
    """A predictor call failed. The engine decides whether to retry.

    ``retryable`` separates transient failures (429, 5xx, timeouts, connection
    errors) from permanent ones (400, 401, 404). ``retry_after`` is the
    server's hint in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        kind: str = "api_error",
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.kind = kind
