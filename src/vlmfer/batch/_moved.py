"""The module ``__getattr__`` of a batch module that moved to the predictors."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forward(old: str, new: str) -> Callable[[str], Any]:
    """A ``__getattr__`` for module ``old`` that hands out the names of module ``new``,
    warning that ``old`` is deprecated (plugins imported from it, so it keeps working)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(f"{old} is deprecated: import {name} from {new}, or use "
                      "predictor.batch_jobs()", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__
