"""Errors. Each says what was wrong, where, the valid choices and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


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


class MissingResourceError(ConfigError):
    """A weights, model or data file that is not on disk.

    Not a missing package (that is ``MissingDependencyError``): the message says
    what is missing, where it was looked for, and how to get it.

    ``MissingResourceError("hf/m: the model folder", "models/m", "save it with
    save_pretrained()")`` reads "hf/m: the model folder is missing: there is
    nothing at models/m. To get it: save it with save_pretrained()".
    """

    def __init__(self, what: str, path: Path | str, how_to_get: str, *,
                 problem: str | None = None) -> None:
        self.what = what
        self.path = Path(path)
        self.how_to_get = how_to_get
        found = problem or f"there is nothing at {path}"
        super().__init__(f"{what} is missing: {found}. To get it: {how_to_get}")


class MissingKeyError(ConfigError):
    """No API key was found in the environment."""


def close_match(name: str, valid: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name``, when one is close enough to suggest."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_option(name: str, valid: Iterable[str]) -> str:
    """``unknown option 'limt' (did you mean 'limit'?)``"""
    close = close_match(name, valid)
    return f"unknown option {name!r}" + (f" (did you mean {close!r}?)" if close else "")


def option_problems(errors: Iterable[Mapping[str, Any]], valid: Sequence[str]) -> str:
    """Pydantic's validation errors of an options model, said for a user (``; ``-joined)."""
    problems = []
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"]) or "(options)"
        if err["type"] == "extra_forbidden":
            problems.append(unknown_option(loc, valid))
        else:
            problems.append(f"option {loc!r}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(problems)


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
        close = close_match(name, self.valid, cutoff=0.5)
        hint = f" Did you mean {close!r}?" if close else ""
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


class MetricInputError(VlmferError, ValueError):
    """The inputs of a metric are inconsistent (lengths, labels, gold values).

    Also importable as ``vlmfer.metrics.MetricInputError``.
    """


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
