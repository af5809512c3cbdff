"""The checks every media file gets before a decoder opens it."""

from __future__ import annotations

from pathlib import Path

from vlmfer.errors import MediaError


def why(exc: BaseException) -> str:
    """The shortest honest reason an OS or decoder error gives."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def check_file(path: Path) -> int:
    """The file's size; ``MediaError`` when it is missing, unreadable or empty."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(path, "file does not exist") from None
    except OSError as exc:
        raise MediaError(path, f"cannot read file: {why(exc)}") from None
    if size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    return size
