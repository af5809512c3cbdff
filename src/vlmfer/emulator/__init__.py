"""A loopback emulator of the OpenAI and Gemini APIs, for tests, demos and benchmarks.

The official SDKs talk to it unchanged over real HTTP on 127.0.0.1::

    from vlmfer.emulator import Emulator, EmulatorConfig

    with Emulator(EmulatorConfig(policy="fixed:Happy")) as emu:
        client = OpenAI(base_url=emu.openai_base_url, api_key="test", max_retries=0)

See docs/emulator.md for the endpoints, validation, policies, faults and the request log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmfer._lazy import lazy_exports

# Loaded on first use, so that building the CLI parser (vlmfer.emulator.cli) stays cheap.
_EXPORTS = {
    "Emulator": "vlmfer.emulator.server",
    "EmulatorConfig": "vlmfer.emulator.config",
    "FaultRates": "vlmfer.emulator.config",
    "DESCRIPTIONS": "vlmfer.emulator.policy",
}

__all__ = ["DESCRIPTIONS", "Emulator", "EmulatorConfig", "FaultRates"]

if TYPE_CHECKING:
    from vlmfer.emulator.config import EmulatorConfig, FaultRates
    from vlmfer.emulator.policy import DESCRIPTIONS
    from vlmfer.emulator.server import Emulator


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
