"""How numbers read in the report and the Markdown summary (the templates' filters)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def num(v: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, a bool, a string)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _shown(v: Any, show: Callable[[float], str], *, missing: str = "—") -> str:
    """``show(v)`` for a finite number; ``missing`` for anything else."""
    f = num(v)
    return missing if f is None else show(f)


def pct(v: Any, digits: int = 1) -> str:
    """0.4132 → '41.3 %'; None or NaN → '—'."""
    return _shown(v, lambda f: f"{100 * f:.{digits}f} %")


def points(v: Any) -> str:
    """0.4132 → '41.3' (a percentage without its sign, for tables headed '%'); else '—'."""
    return _shown(v, lambda f: f"{100 * f:.1f}")


def ci_text(pair: Any) -> str:
    """[lo, hi] → '37.6–45.0' (percentage points); '' when unknown."""
    return _range(pair, points)


def interval(pair: Any) -> tuple[float | None, float | None]:
    """The two ends of a ``ci`` entry of metrics.json, or (None, None)."""
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) < 2:
        return None, None
    return num(pair[0]), num(pair[1])


def _range(pair: Any, end: Callable[[float], str]) -> str:
    lo, hi = interval(pair)
    if lo is None or hi is None:
        return ""
    return f"{end(lo)}–{end(hi)}"


def plain(v: Any) -> str:
    """A metric on its own scale (a kappa, a plugin's number): '0.413', '12,345', '—'."""
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return _shown(v, lambda f: f"{f:.3f}" if abs(f) < 1000 else f"{f:,.1f}")


def plain_ci(pair: Any) -> str:
    """[lo, hi] on the metric's own scale → '0.301–0.452'; '' when unknown."""
    return _range(pair, plain)


def signed_pp(v: Any) -> str:
    """A difference in percentage points: '+12.3'; '—' when unknown."""
    return _shown(v, lambda f: f"{f:+.1f}")


def cost_text(v: Any) -> str:
    """'$0.0875', or 'unknown' (never $0) when a price was missing."""
    return _shown(v, lambda f: f"${f:,.4f}", missing="unknown")


def grouped(v: Any) -> str:
    """12345 → '12,345'."""
    return f"{int(v):,}"


#: The filters every template may use, by name.
FILTERS = {
    "pct": pct, "points": points, "ci_text": ci_text, "plain": plain, "plain_ci": plain_ci,
    "signed_pp": signed_pp, "cost_text": cost_text, "grouped": grouped,
}
