"""Frame-sampling specs: which frames of a clip a model sees.

Grammar: ``KIND[:ARG][@START-END]``, times in seconds, either bound optional.

- ``uniform:N``: N frames at the centres of N equal segments of the window, so
  the very first and last frames are not taken unless N reaches the frame count
  (then every frame is taken once). ``uniform:1`` equals ``middle``.
- ``fps:F``: the frame on screen at START, START + 1/F, START + 2/F, ... before END.
- ``middle``: the middle frame of the window (index ``M // 2`` of its ``M`` frames).
- ``all``: every frame in the window.
- ``@START-END``: only frames shown at ``START <= t < END``; ``@1.5-`` and ``@-2`` work.

Frame times are presentation times from the clip's start, so indices count
frames in presentation order.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from typing import Literal

from vlmfer.errors import ConfigError
from vlmfer.types import Record

FORMS = "uniform:N, fps:F, middle, all (optionally with a window such as @0.5-2.5)"
_SPEC = re.compile(
    r"^\s*(?P<kind>[a-z]+)(?::(?P<arg>[^@\s]+))?"
    r"(?:@(?P<start>\d+(?:\.\d*)?)?-(?P<end>\d+(?:\.\d*)?)?)?\s*$",
    re.IGNORECASE,
)
_EPS = 1e-6


class FrameSpec(Record):
    """A parsed frame-sampling spec."""

    kind: Literal["uniform", "fps", "middle", "all"]
    n: int | None = None
    fps: float | None = None
    start_s: float | None = None
    end_s: float | None = None

    def __str__(self) -> str:
        if self.kind == "uniform":
            head = f"uniform:{self.n}"
        elif self.kind == "fps":
            head = f"fps:{self.fps or 0:g}"
        else:
            head = self.kind
        if self.start_s is None and self.end_s is None:
            return head
        start = "" if self.start_s is None else f"{self.start_s:g}"
        end = "" if self.end_s is None else f"{self.end_s:g}"
        return f"{head}@{start}-{end}"

    def window(self, duration_s: float) -> tuple[float, float]:
        """The window ``[start, end)`` in seconds, clipped to the clip."""
        start = self.start_s or 0.0
        end = duration_s if self.end_s is None else min(self.end_s, duration_s)
        return start, end

    def select(self, times: Sequence[float], duration_s: float) -> list[int]:
        """Indices into ``times`` (frame times, ascending) chosen by this spec.

        Returns an empty list when no frame falls in the window.
        """
        start, end = self.window(duration_s)
        lo = bisect.bisect_left(times, start - _EPS)
        hi = bisect.bisect_left(times, end - _EPS) if self.end_s is not None else len(times)
        count = hi - lo
        if count <= 0:
            return []
        if self.kind == "all":
            return list(range(lo, hi))
        if self.kind == "middle":
            return [lo + count // 2]
        if self.kind == "uniform":
            assert self.n is not None
            if self.n >= count:
                return list(range(lo, hi))
            return [lo + math.floor((k + 0.5) * count / self.n) for k in range(self.n)]
        assert self.fps is not None
        picked: list[int] = []
        k = 0
        while True:
            t = start + k / self.fps
            if t >= end - _EPS or k > 1_000_000:
                break
            i = bisect.bisect_right(times, t + _EPS) - 1
            if lo <= i < hi and (not picked or picked[-1] != i):
                picked.append(i)
            k += 1
        return picked


def parse_frame_spec(text: str) -> FrameSpec:
    """Parse ``uniform:8``, ``fps:2``, ``middle``, ``all``, ``uniform:8@0.5-2.5``.

    Raises ``ConfigError`` naming the valid forms.
    """
    m = _SPEC.match(text or "")
    if m is None:
        raise ConfigError(f"frame spec {text!r} is not valid; use one of: {FORMS}")
    kind, arg = m["kind"].lower(), m["arg"]
    start = float(m["start"]) if m["start"] else None
    end = float(m["end"]) if m["end"] else None
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"frame spec {text!r}: the window end must be after its start")
    if kind == "uniform":
        if arg is None or not arg.isdigit() or int(arg) < 1:
            raise ConfigError(f"frame spec {text!r}: uniform needs a count N >= 1 (uniform:8)")
        return FrameSpec(kind="uniform", n=int(arg), start_s=start, end_s=end)
    if kind == "fps":
        try:
            fps = float(arg) if arg is not None else 0.0
        except ValueError:
            fps = 0.0
        if not (0 < fps <= 1000) or not math.isfinite(fps):
            raise ConfigError(f"frame spec {text!r}: fps needs a rate 0 < F <= 1000 (fps:2)")
        return FrameSpec(kind="fps", fps=fps, start_s=start, end_s=end)
    if kind in ("middle", "all"):
        if arg is not None:
            raise ConfigError(f"frame spec {text!r}: {kind} takes no argument")
        return FrameSpec(kind="middle" if kind == "middle" else "all", start_s=start, end_s=end)
    raise ConfigError(f"frame spec {text!r}: unknown kind {kind!r}; use one of: {FORMS}")
