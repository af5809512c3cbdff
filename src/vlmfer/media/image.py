"""Still images: open safely, orient, crop, resize and encode, deterministically.

Pillow is imported inside the functions, so ``import vlmfer.media`` stays light.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmfer.errors import MediaError
from vlmfer.media.files import check_file
from vlmfer.types import MediaSpec

if TYPE_CHECKING:
    from PIL import Image

#: Downscaling filter. Pillow's bilinear filter widens its support when it
#: shrinks, so it antialiases; it is about twice as fast as Lanczos here.
RESAMPLE = "bilinear"
MIME = {"jpeg": "image/jpeg", "png": "image/png"}


def check_size(path: Path, width: int, height: int, spec: MediaSpec) -> None:
    if width * height > spec.max_pixels:
        raise MediaError(
            path,
            f"{width}x{height} = {width * height} pixels is over the pixel cap "
            f"max_pixels={spec.max_pixels} (a guard against decompression bombs); raise "
            "max_pixels in the media options if you trust this file",
        )


def open_image(path: Path, spec: MediaSpec) -> tuple[Image.Image, dict[str, Any]]:
    """Decode ``path`` to an upright RGB image; raise ``MediaError`` for any bad file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    size = check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            info: dict[str, Any] = {
                "format": img.format,
                "mode": img.mode,
                "width": img.width,
                "height": img.height,
                "bytes": size,
            }
            check_size(path, img.width, img.height, spec)
            if spec.max_side is not None and not spec.face_crop and img.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still
                # leaves at least max_side pixels: much cheaper for big photos.
                scale = spec.max_side / max(img.width, img.height)
                if scale <= 0.5:
                    req = (math.ceil(img.width * scale), math.ceil(img.height * scale))
                    img.draft("RGB", req)
            img.load()
            if img.size != (info["width"], info["height"]):
                info["decoded_at"] = list(img.size)
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError(path, "not an image file Pillow can read (unknown or corrupt format)")\
            from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(path, f"over Pillow's decompression-bomb limit: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            reason = f"truncated image ({reason})"
        raise MediaError(path, f"cannot decode image: {reason}") from None
    orientation = img.getexif().get(0x0112, 1)
    info["exif_orientation"] = orientation
    upright: Image.Image = img
    if orientation not in (None, 1):
        upright = ImageOps.exif_transpose(img)
    return to_rgb(upright), info


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with any transparency flattened onto white."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    return img.convert("RGB")


def fit(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size that fits ``max_side`` (never enlarges)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode(img: Image.Image, spec: MediaSpec) -> tuple[bytes, dict[str, Any]]:
    """Resize to ``spec.max_side`` and encode as ``spec.image_format``."""
    from PIL import Image

    record: dict[str, Any] = {}
    size = fit(img.width, img.height, spec.max_side)
    if size != img.size:
        record["resize"] = {
            "from": list(img.size), "to": list(size), "max_side": spec.max_side,
            "filter": RESAMPLE,
        }
        img = img.resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    if spec.image_format == "jpeg":
        img.save(buf, format="JPEG", quality=spec.quality)
    else:
        img.save(buf, format="PNG", compress_level=6)
    data = buf.getvalue()
    record["encode"] = {
        "format": spec.image_format,
        "quality": spec.quality if spec.image_format == "jpeg" else None,
        "width": size[0],
        "height": size[1],
        "bytes": len(data),
    }
    return data, record
