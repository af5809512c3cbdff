"""Claude as the vlmfer predictor ``anthropic/<model>`` (the Anthropic Messages API).

Installed, this plugin registers the provider ``anthropic`` through the ``vlmfer``
entry-point group::

    import vlmfer
    predictor = vlmfer.get_predictor("anthropic/claude-sonnet-5-5")

The key comes only from ``ANTHROPIC_API_KEY``. The predictor offers provider batch (the
Message Batches API, at half price) through vlmfer's batch capability, so ``vlmfer run
--batch`` and ``vlmfer batch`` work with it as with the built-in predictors.

Importing this module does not import the anthropic SDK: the factory does, so ``vlmfer
plugins`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from vlmfer.errors import MissingDependencyError
from vlmfer.hookspecs import Register, hookimpl
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.catalog import ModelInfo
from vlmfer.predictors.options import parse_options

from vlmfer_anthropic.options import DEFAULT_MODEL, AnthropicOptions

__version__ = "0.1.0"
__all__ = ["DEFAULT_MODEL", "AnthropicOptions", "anthropic_factory", "register_predictors"]


def anthropic_factory(model: str, **options: Any) -> Predictor:
    """``anthropic/<model>``: Claude through the Anthropic Messages API.

    Options: ``AnthropicOptions`` (validated before the SDK is imported or the key is read).
    """
    opts = parse_options(AnthropicOptions, "anthropic", options)
    try:
        importlib.import_module("anthropic")
    except ImportError:
        raise MissingDependencyError("the anthropic/<model> predictor",
                                     "'anthropic>=2.16,<3' (or: pip install vlmfer-anthropic)"
                                     ) from None
    from vlmfer_anthropic.predictor import AnthropicPredictor

    return AnthropicPredictor(model or DEFAULT_MODEL, opts)


def _known_models() -> tuple[ModelInfo, ...]:
    from vlmfer_anthropic.prices import PRICES

    return tuple(
        ModelInfo(provider="anthropic", model=name.partition("/")[2], prices=prices,
                  note="default for new experiments" if name.endswith(DEFAULT_MODEL) else "",
                  source="platform.claude.com model overview pages", as_of="2026-12-02")
        for name, prices in PRICES.items())


# What `vlmfer models` lists for this provider.
anthropic_factory.known_models = _known_models()  # type: ignore[attr-defined]


@hookimpl
def register_predictors(register: Register) -> None:
    """Register the ``anthropic`` provider."""
    register("anthropic", anthropic_factory)
