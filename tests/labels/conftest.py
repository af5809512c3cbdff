"""Fixtures and hooks for the labels tests."""

from __future__ import annotations

import os
import sys

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    # Under mutmut (tools/mutation.sh) each mutant's session is forked from the process that
    # ran the whole suite, so the memoised word tables and label indexes were built by the
    # unmutated code: a bug in those builders would never run and would always "survive".
    # Start every mutant from empty caches; a normal test run never sets this variable.
    if not os.environ.get("MUTANT_UNDER_TEST"):
        return
    for name, module in list(sys.modules.items()):
        if name.startswith("vlmfer.labels") and module is not None:
            for obj in list(vars(module).values()):
                clear = getattr(obj, "cache_clear", None)
                if callable(clear):
                    clear()
