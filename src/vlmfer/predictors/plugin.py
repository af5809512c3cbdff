"""Built-in predictors (registered through the ``vlmfer`` entry-point group).

The factories validate options first (no SDK needed), then import the predictor
module, which imports its SDK: listing plugins or ``import vlmfer`` never loads
openai or google-genai.
"""

from __future__ import annotations

import importlib
from typing import Any

from vlmfer.errors import MissingDependencyError
from vlmfer.hookspecs import RegisterPredictors, hookimpl
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.catalog import GEMINI_MODELS, OPENAI_MODELS
from vlmfer.predictors.options import GeminiOptions, MockOptions, OpenAIOptions, parse_options


def _predictor_module(module: str, sdk: str, install: str, what: str) -> Any:
    try:
        importlib.import_module(sdk)
    except ImportError:
        raise MissingDependencyError(what, install) from None
    return importlib.import_module(f"vlmfer.predictors.{module}")


def openai_factory(model: str, **options: Any) -> Predictor:
    """``openai/<model>``: the OpenAI API or any OpenAI-compatible server (``base_url``)."""
    opts = parse_options(OpenAIOptions, "openai", options)
    mod = _predictor_module("openai", "openai", "openai", "the openai/<model> predictor")
    predictor: Predictor = mod.OpenAIPredictor(model, opts)
    return predictor


def gemini_factory(model: str, **options: Any) -> Predictor:
    """``gemini/<model>``: the Gemini Developer API, with native video."""
    opts = parse_options(GeminiOptions, "gemini", options)
    mod = _predictor_module("gemini", "google.genai", "google-genai",
                   "the gemini/<model> predictor")
    predictor: Predictor = mod.GeminiPredictor(model, opts)
    return predictor


def mock_factory(model: str, **options: Any) -> Predictor:
    """``mock/<policy>``: deterministic and offline."""
    from vlmfer.predictors.mock import MockPredictor

    return MockPredictor(model, parse_options(MockOptions, "mock", options))


# What `vlmfer models` lists; a plugin's factory can carry the same attribute.
openai_factory.known_models = OPENAI_MODELS  # type: ignore[attr-defined]
gemini_factory.known_models = GEMINI_MODELS  # type: ignore[attr-defined]


@hookimpl
def register_predictors(register: RegisterPredictors) -> None:
    register("openai", openai_factory)
    register("gemini", gemini_factory)
    register("mock", mock_factory)
