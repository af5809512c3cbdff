"""The Gemini Files API lifecycle: upload, wait until ACTIVE, delete, clean up.

One place for what online runs (big videos), batch jobs (their JSONL input) and
``vlmfer cleanup-uploads`` (a crash's leftovers) all do with uploaded files.
Imported only with google-genai. Errors here are plain exceptions
(``UploadFailed``, ``UploadTimeout``); each caller says what they mean for it
(a ``PredictorError`` for a sample, a ``BatchError`` for a job).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import importlib.util
import io
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from vlmfer.secrets import redact

log = logging.getLogger("vlmfer")

#: Display names of vlmfer's media uploads start with this (cleanup finds them by it).
UPLOAD_PREFIX = "vlmfer-"

#: Connection-level failures, whichever HTTP client the SDK was told to use.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TransportError,)
if importlib.util.find_spec("httpx") is not None:  # GOOGLE_GENAI_HTTP_CLIENT=httpx
    TRANSPORT_ERRORS += (importlib.import_module("httpx").TransportError,)
#: What a best-effort delete may meet (logged, never raised).
CLEANUP_ERRORS: tuple[type[BaseException], ...] = (genai_errors.APIError, *TRANSPORT_ERRORS)


def enum_value(value: Any) -> str | None:
    """An SDK enum (or plain string) as its wire string."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


@dataclass
class Upload:
    """One uploaded file as the Files API last reported it."""

    name: str
    uri: str
    mime_type: str
    state: str
    error: str | None = None


class UploadFailed(Exception):
    """The Files API could not process the file (state FAILED)."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        super().__init__(f"the Files API could not process {upload.name} ({upload.mime_type}): "
                         f"{upload.error or 'no detail'}")


class UploadTimeout(Exception):
    """The file was not ACTIVE before the deadline (polling it again later may succeed)."""

    def __init__(self, upload: Upload, timeout_s: float) -> None:
        self.upload = upload
        self.timeout_s = timeout_s
        super().__init__(f"{upload.name} was still {upload.state} after {timeout_s:g} s")


def _upload_of(f: types.File, mime_type: str = "") -> Upload:
    return Upload(name=f.name or "", uri=f.uri or "", mime_type=f.mime_type or mime_type,
                  state=enum_value(f.state) or "STATE_UNSPECIFIED",
                  error=f.error.message if f.error is not None else None)


class GeminiFiles:
    """The Files API of one ``genai.Client``, with media uploads kept once per content hash."""

    def __init__(self, client: genai.Client, *, owner: str, poll_s: float,
                 timeout_s: float) -> None:
        self._aio = client.aio
        self.owner = owner  # the predictor's name, for log lines
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self._media: dict[str, Upload] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: Uploads a batch request refers to: ``delete_media`` leaves them to the batch.
        self._retained: set[str] = set()

    async def upload(self, data: bytes, mime_type: str, display_name: str) -> Upload:
        """Upload bytes as a new file (not deduplicated; see ``media``)."""
        f = await self._aio.files.upload(
            file=io.BytesIO(data),
            config=types.UploadFileConfig(mime_type=mime_type, display_name=display_name))
        return _upload_of(f, mime_type)

    async def media(self, data: bytes, mime_type: str) -> Upload:
        """The ACTIVE upload of these bytes, uploading them on first use only."""
        digest = hashlib.sha256(data).hexdigest()
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            up = self._media.get(digest)
            if up is None:
                up = await self.upload(data, mime_type, f"{UPLOAD_PREFIX}{digest[:16]}")
                self._media[digest] = up
            try:
                await self.wait_active(up)
            except UploadFailed:
                # Forget it, so that a later attempt with fixed media uploads afresh.
                self._media.pop(digest, None)
                raise
            return up

    async def wait_active(self, up: Upload) -> Upload:
        """Poll until the file is ACTIVE; raise ``UploadFailed`` or ``UploadTimeout``."""
        deadline = time.monotonic() + self.timeout_s
        while up.state != "ACTIVE":
            if up.state == "FAILED":
                raise UploadFailed(up)
            if time.monotonic() >= deadline:
                raise UploadTimeout(up, self.timeout_s)
            # Polling a server-side job is part of one call, not a retry.
            await asyncio.sleep(self.poll_s)
            fresh = _upload_of(await self._aio.files.get(name=up.name), up.mime_type)
            up.state, up.uri = fresh.state, fresh.uri or up.uri
            up.error = fresh.error or up.error
        return up

    async def get(self, name: str) -> Upload:
        return _upload_of(await self._aio.files.get(name=name))

    def retain(self, names: list[str]) -> None:
        """Keep these uploads past ``delete_media``: a batch job still needs them."""
        self._retained.update(names)

    async def delete(self, names: list[str]) -> list[str]:
        """Delete files, best effort: a failure is logged. Returns the names deleted."""
        deleted = []
        for name in names:
            try:
                await self._aio.files.delete(name=name)
                deleted.append(name)
            except CLEANUP_ERRORS as exc:
                log.warning("%s: could not delete upload %s (%s); `vlmfer cleanup-uploads` "
                            "removes vlmfer's leftovers", self.owner, name, redact(str(exc))[:200])
        return deleted

    async def delete_media(self) -> None:
        """Delete this run's media uploads, except those a batch job retains."""
        mine = {d: up for d, up in self._media.items() if up.name not in self._retained}
        gone = set(await self.delete([up.name for up in mine.values()]))
        self._media = {d: up for d, up in self._media.items() if up.name not in gone}

    async def cleanup(self, prefix: str = UPLOAD_PREFIX) -> list[str]:
        """Delete every file whose display name starts with ``prefix`` (crash leftovers).

        Listing errors propagate (the caller classifies them); deletes are best effort.
        """
        found = [f.name async for f in await self._aio.files.list()
                 if f.name and (f.display_name or "").startswith(prefix)]
        deleted = await self.delete(found)
        self._media = {d: up for d, up in self._media.items() if up.name not in deleted}
        return deleted
