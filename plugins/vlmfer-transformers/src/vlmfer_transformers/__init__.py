"""Local Hugging Face vision-language models as the vlmfer predictor ``hf/<model-or-path>``.

Installed, this plugin registers the provider ``hf`` through the ``vlmfer``
entry-point group::

    import vlmfer
    predictor = vlmfer.get_predictor("hf/models/Qwen2-VL-2B-Instruct", dtype="bfloat16")

The model loads from a local folder (or the local Hugging Face cache) only:
nothing is downloaded at run time. Label scores are exact log-likelihoods of
each label's continuation, so the ``calibrated`` strategy needs no sampling.

Importing this module loads neither torch nor transformers: the factory does,
so ``vlmfer plugins`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from vlmfer.errors import ConfigError, MissingDependencyError
from vlmfer.hookspecs import RegisterPredictors, hookimpl
from vlmfer.predictors.base import Predictor

from vlmfer_transformers.options import HFOptions

__version__ = "0.1.0"
__all__ = ["HFOptions", "hf_factory", "register_predictors"]

_INSTALL = "'torch==2.13.0' 'transformers>=5.24,<6' (or: pip install vlmfer-transformers)"


def hf_factory(model: str, **options: Any) -> Predictor:
    """``hf/<model-or-path>``: a local image-text-to-text model through transformers.

    ``model`` is a folder holding a saved model and processor, or a Hub repo id
    that is already in the local Hugging Face cache. Options: ``HFOptions``.
    """
    unknown = sorted(set(options) - set(HFOptions.model_fields))
    if unknown:
        raise ConfigError(
            f"hf/{model}: unknown option(s) {', '.join(map(repr, unknown))}. Valid options: "
            f"{', '.join(sorted(HFOptions.model_fields))} (see the vlmfer-transformers README)"
        )
    opts = HFOptions(**options)
    for module in ("torch", "transformers"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingDependencyError(
                f"the hf/<model> predictor ({module} is missing or broken: {exc})", _INSTALL
            ) from None
    from vlmfer_transformers.backend import HFPredictor

    return HFPredictor(model, opts)


@hookimpl
def register_predictors(register: RegisterPredictors) -> None:
    """Register the ``hf`` provider."""
    register("hf", hf_factory)
