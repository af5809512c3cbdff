"""Provider batch APIs (OpenAI Batch, Gemini batch mode) for large runs at half the price.

A batch run is an ordinary run directory plus ``batch/``, which holds all the state
between commands, so a machine can be switched off between submit and collect:

- ``experiment.json``: the experiment, to rebuild the same components later;
- ``state.json``: the rounds, their jobs (ids, input files, statuses) and counts;
- ``round-N-requests.jsonl``: every request submitted in round N (cache key, role,
  sample, strategy step, the provider-native body and what parsing the answer needs);
- ``round-N-samples.jsonl``: which sample and step waits on which request;
- ``results.jsonl``: what came back, one line per request (append-only).

Strategies run unchanged: in batch mode ``ctx.ask`` answers from the collected results,
or records the request and raises ``Pending``; the driver replays every unfinished
sample after each collection (see ``vlmfer.batch.engine``). Multi-step strategies
therefore run in rounds. Finished samples land in ``predictions.jsonl`` exactly as in
an online run.

    vlmfer run experiment.toml --batch        # build, write the manifest, submit round 1
    vlmfer batch status RUN_DIR               # poll the jobs
    vlmfer batch collect RUN_DIR [--wait]     # download, replay, submit the next round

The provider SDKs are imported only when a job is submitted or polled.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded on first use, so that building the CLI parser stays cheap.
_EXPORTS = {
    "BatchDriver": "vlmfer.batch.driver",
    "CollectResult": "vlmfer.batch.driver",
    "StatusReport": "vlmfer.batch.driver",
    "batch_status": "vlmfer.batch.driver",
    "collect_batch": "vlmfer.batch.driver",
    "start_batch": "vlmfer.batch.driver",
    "submit_batch": "vlmfer.batch.driver",
    "BatchError": "vlmfer.batch.store",
    "BatchLimits": "vlmfer.batch.store",
}

__all__ = [
    "BatchDriver",
    "BatchError",
    "BatchLimits",
    "CollectResult",
    "StatusReport",
    "batch_status",
    "collect_batch",
    "start_batch",
    "submit_batch",
]

if TYPE_CHECKING:
    from vlmfer.batch.driver import (
        BatchDriver,
        CollectResult,
        StatusReport,
        batch_status,
        collect_batch,
        start_batch,
        submit_batch,
    )
    from vlmfer.batch.store import BatchError, BatchLimits


def __getattr__(name: str) -> Any:
    if name == "BatchRun":  # the old name of BatchDriver; the driver module warns
        return getattr(importlib.import_module("vlmfer.batch.driver"), name)
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vlmfer.batch' has no attribute {name!r}")
