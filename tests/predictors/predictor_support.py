"""Helpers for the predictor tests (imported by basename, so the name is unique)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.plugins import Registry
from vlmfer.plugins import get_predictor as _get_predictor

# A distinctive fake key: tests grep logs and recordings for it.
FAKE_KEY = "sk-vlmfer-TEST-7f3a9c2e-DO-NOT-LEAK"

__all__ = ["FAKE_KEY", "Emulator", "EmulatorConfig", "get_predictor", "registry", "run"]

T = TypeVar("T")


def registry() -> Registry:
    """A fresh registry holding only the built-in predictors plugin."""
    from vlmfer.predictors import plugin

    reg = Registry(load_entrypoints=False)
    reg.register(plugin, name="predictors", distribution="vlmfer")
    return reg


def get_predictor(spec: str, **options: Any) -> Any:
    """``vlmfer.get_predictor`` against a fresh registry (other plugins stay out of it)."""
    return _get_predictor(spec, registry=registry(), **options)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh event loop (each test owns its loop)."""
    return asyncio.run(coro)
