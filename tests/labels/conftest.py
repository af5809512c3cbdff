"""Fixtures and hooks for the labels tests."""

from __future__ import annotations

import os
import sys

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Under mutmut (tools/mutation.sh) each mutant's tests are forked from the process that
    # ran the whole suite, so the memoised word tables and label indexes were built by the
    # unmutated code, and mutmut maps a builder only to the first test that filled its cache:
    # a bug in those builders would never run and would always "survive". Start every test
    # from empty caches there; a normal test run never sets this variable.
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    for name, module in list(sys.modules.items()):
        if name.startswith("vlmfer.labels") and module is not None:
            for obj in list(vars(module).values()):
                clear = getattr(obj, "cache_clear", None)
                if callable(clear):
                    clear()
