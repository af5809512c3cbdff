"""Built-in metrics (registered through the ``vlmfer`` entry-point group)."""

from __future__ import annotations

from vlmfer.hookspecs import RegisterMetrics, hookimpl


@hookimpl
def register_metrics(register: RegisterMetrics) -> None:
    """Register accuracy, uar, macro_f1, confusion_matrix, per_class, neutral_rate, cohen_kappa."""
    # Imported here: the registry loads this module at every start, and most starts compute
    # no metric before the run's end (this import brings NumPy).
    from vlmfer.metrics.core import BUILTIN_METRICS

    for name, fn in BUILTIN_METRICS.items():
        register(name, fn)
