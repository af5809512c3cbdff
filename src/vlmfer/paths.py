"""Where vlmfer keeps what it can recompute: one cache folder for every stage."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$VLMFER_CACHE_DIR``, or the platform's user cache folder for vlmfer.

    Each user takes a subfolder: ``responses.sqlite3`` (the engine), ``media/``
    (transcoded clips), ``content-free/`` (calibration inputs), ``jinja/`` (compiled report
    templates), and plugins' own (``fer2013/``).
    """
    env = os.environ.get("VLMFER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vlmfer"))
