"""Built-in strategies (registered through the ``vlmfer`` entry-point group)."""

from __future__ import annotations

from vlmfer.hookspecs import Register, hookimpl


@hookimpl
def register_strategies(register: Register) -> None:
    return None
