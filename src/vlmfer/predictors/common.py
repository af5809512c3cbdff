"""Helpers for writing a predictor, public for plugins (the built-ins use them too).

A plugin predictor that calls a cloud API needs the same pieces as ``openai/`` and
``gemini/``: the key from the environment, HTTP errors classified for the engine's retries,
media prepared by vlmfer's media layer (frames with their indices and times), and labels read
from a constrained answer. Import them from here rather than from the private ``_common``::

    from vlmfer.predictors.common import prepare, frames_caption, status_error
"""

from __future__ import annotations

from vlmfer.predictors._common import (
    WarnOnce,
    candidate_labels,
    constrained_label,
    frames_caption,
    image_size,
    malformed_error,
    media_record,
    parse_retry_after,
    prepare,
    redact,
    resolve_key,
    scaled,
    status_error,
    transport_error,
)

__all__ = [
    "WarnOnce",
    "candidate_labels",
    "constrained_label",
    "frames_caption",
    "image_size",
    "malformed_error",
    "media_record",
    "parse_retry_after",
    "prepare",
    "redact",
    "resolve_key",
    "scaled",
    "status_error",
    "transport_error",
]
