"""Helpers shared by the emulator tests (media makers, typed request parts, raw HTTP)."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from google.genai import types
from openai.types.shared_params import ResponseFormatJSONSchema
from PIL import Image

CAER = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def make_png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def make_avi(path: Path, seconds: float = 2.0, fps: int = 12) -> bytes:
    import av
    import numpy as np

    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(int(seconds * fps)):
            img = Image.new("RGB", (64, 48), (i * 9 % 255, 80, 160))
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def label_schema(labels: list[str] = CAER) -> ResponseFormatJSONSchema:
    return {"type": "json_schema", "json_schema": {
        "name": "fer_label", "strict": True,
        "schema": {"type": "object", "properties": {"label": {"type": "string", "enum": labels}},
                   "required": ["label"], "additionalProperties": False}}}


def parts(*items: types.PartUnionDict) -> list[types.PartUnionDict]:
    """Gemini ``contents`` of several parts (media and text), typed as the SDK takes them."""
    return list(items)


def post(url: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP request (for what the SDKs cannot send, e.g. a malformed body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
