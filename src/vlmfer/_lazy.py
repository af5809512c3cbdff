"""Package names that load on first use (PEP 562), so that ``import vlmfer`` and the
plugin registry stay light: one loader for every package that exports lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, sources: Mapping[str, str],
                 namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``sources[name]`` (a module path) on first use.

    The value is stored in ``namespace`` (the package's ``globals()``), so the next lookup
    is a plain attribute read.
    """

    def __getattr__(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
