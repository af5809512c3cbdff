"""Shared pieces of the robustness suite: keys, generated data, the CLI, the request log."""

from __future__ import annotations

import hashlib
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import support
from support import raw_rows

__all__ = ["GEMINI_KEY", "KEYS", "LABELS", "OPENAI_KEY", "calls_by_sample", "cli_env",
           "distinct_images", "raw_rows", "sent_image_hashes", "vlmfer"]

#: Keys used by every robustness test; test_robust_secrets.py looks for them in every file.
OPENAI_KEY = "sk-robust-SECRET-4b1e9f0c7d2a"
GEMINI_KEY = "AIzaRobustSECRET-9c3d5e7f1a2b"
KEYS = (OPENAI_KEY, GEMINI_KEY)

LABELS = ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


def distinct_images(root: Path, n: int, *, split: str = "test") -> list[Path]:
    """``<root>/<split>/<Label>/NNNNN.png``: n small images whose prepared JPEG bytes differ.

    Each draws the bits of its index as black and white blocks, so no two encode alike.
    """
    from PIL import Image, ImageDraw

    paths = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.png"
        img = Image.new("RGB", (40, 40), (90 + i % 7 * 20, 120, 140))
        draw = ImageDraw.Draw(img)
        for bit in range(16):
            if i >> bit & 1:
                x, y = bit % 4 * 10, bit // 4 * 10
                draw.rectangle((x, y, x + 9, y + 9), fill=(0, 0, 0))
        img.save(path)
        paths.append(path)
    return paths


def sent_image_hashes(dataset: Iterable[Any]) -> dict[str, str]:
    """sha256 of the bytes the OpenAI backend sends for each sample -> sample id."""
    from vlmfer.media import prepare_media
    from vlmfer.types import MediaSpec

    out: dict[str, str] = {}
    for s in dataset:
        data = prepare_media(s.media, MediaSpec(), as_="image").parts[0].data
        digest = hashlib.sha256(data).hexdigest()
        assert digest not in out, f"{s.id} and {out.get(digest)} send identical bytes"
        out[digest] = s.id
    return out


def calls_by_sample(requests: Iterable[dict[str, Any]], ids: dict[str, str],
                    endpoint: str = "openai.chat") -> dict[str, list[dict[str, Any]]]:
    """The emulator's inference requests grouped by sample, oldest first."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        if r.get("endpoint") != endpoint:
            continue
        for m in r.get("media") or []:
            out[ids[m["sha256"]]].append(r)
    for rs in out.values():
        rs.sort(key=lambda r: r["time"])
    return out


def cli_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The robustness keys, and a cache inside ``cwd``."""
    keys = {"OPENAI_API_KEY": OPENAI_KEY, "GEMINI_API_KEY": GEMINI_KEY}
    return support.cli_env(cwd / "cache", **{**keys, **extra})


def vlmfer(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m vlmfer ARGS`` in ``cwd``, with the robustness keys and a local cache."""
    return support.vlmfer(*args, cwd=cwd, env=env or cli_env(cwd), timeout=timeout)
