"""Keeping keys out of every file vlmfer writes.

Keys come only from the environment (or the SDK's own lookup). These helpers
refuse them in configuration, at any depth, and scrub anything key-shaped from
what is recorded: manifests, predictions, error messages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Option names that hold a key: never accepted from a file or a flag.
KEY_NAMES = frozenset({
    "api_key", "apikey", "key", "openai_api_key", "gemini_api_key", "google_api_key",
    "authorization", "x-goog-api-key", "api-key",
})
_KEYLIKE = re.compile(r"\b(sk-[\w\-*.]{4,}|AIza[\w\-]{10,})")
_URL = re.compile(r"https?://[^\s'\"<>]+")


def redact(text: str, secret: str | None = None) -> str:
    """Remove the key, and anything shaped like a key, from text that may be recorded."""
    if secret:
        text = text.replace(secret, "<redacted>")
    # Every key shape starts with one of these: a substring test is ~50x cheaper than the
    # regex scan, which every predictions.jsonl line (1-2 KB) would otherwise pay.
    if "sk-" not in text and "AIza" not in text:
        return text
    return _KEYLIKE.sub("<redacted>", text)


def key_fields(obj: Any, where: str = "") -> list[str]:
    """Dotted paths of every mapping key in ``obj`` that names a secret."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{where}.{k}" if where else str(k)
            if str(k).lower() in KEY_NAMES:
                found.append(path)
            found += key_fields(v, path)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found += key_fields(v, f"{where}[{i}]")
    return found


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials can hide)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if not parts.scheme or not parts.netloc:
        return redact(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub(obj: Any) -> Any:
    """A copy of ``obj`` (JSON-like) with key-shaped strings redacted and URLs made safe."""
    if isinstance(obj, str):
        return redact(_URL.sub(lambda m: safe_url(m.group(0)), obj))
    if isinstance(obj, dict):
        return {k: ("<redacted>" if str(k).lower() in KEY_NAMES else scrub(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(scrub(v) for v in obj)
    return obj
