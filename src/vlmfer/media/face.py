"""Face detection and cropping with OpenCV's bundled Haar cascade (``vlmfer[face]``).

The largest face is kept, as the seed prompt asks the model to judge the
largest, most clearly visible face. Detection runs on a grey copy at most
``DETECT_SIDE`` pixels wide; boxes are returned in source pixels.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from vlmfer.errors import MissingDependencyError

if TYPE_CHECKING:
    from PIL import Image

CASCADE = "haarcascade_frontalface_default.xml"
DETECT_SIDE = 640
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_SIZE = 24

Box = tuple[int, int, int, int]

_local = threading.local()


def _cascade() -> Any:
    """One classifier per thread: OpenCV does not promise that sharing one is safe."""
    cascade = getattr(_local, "cascade", None)
    if cascade is not None:
        return cascade
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError("face cropping", "vlmfer[face]") from None
    data = getattr(cv2, "data", None)
    folder = getattr(data, "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or folder is None:
        # OpenCV 5 moved the Haar cascades out of the main package.
        raise MissingDependencyError(
            f"face cropping with OpenCV's Haar cascade (OpenCV {cv2.__version__} has none)",
            "'opencv-python-headless>=4.9,<5'",
        )
    cascade = cv2.CascadeClassifier(folder + CASCADE)
    if cascade.empty():
        raise MissingDependencyError(
            f"face cropping (OpenCV could not load {folder + CASCADE})",
            "--force-reinstall 'opencv-python-headless>=4.9,<5'",
        )
    _local.cascade = cascade
    return cascade


def check_available() -> None:
    """Raise ``MissingDependencyError`` now if face cropping cannot work."""
    _cascade()


def detect_faces(img: Image.Image) -> list[Box]:
    """All detected faces as ``(x0, y0, x1, y1)`` in ``img`` pixels, largest first."""
    import numpy as np

    cascade = _cascade()
    scale = min(1.0, DETECT_SIDE / max(img.width, img.height))
    grey = img.convert("L")
    if scale < 1.0:
        grey = grey.resize((round(img.width * scale), round(img.height * scale)))
    array = np.asarray(grey)
    found = cascade.detectMultiScale(
        array, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
        minSize=(MIN_SIZE, MIN_SIZE),
    )
    boxes: list[Box] = []
    for x, y, w, h in (tuple(int(v) for v in row) for row in found):
        boxes.append((
            round(x / scale), round(y / scale),
            min(img.width, round((x + w) / scale)), min(img.height, round((y + h) / scale)),
        ))
    # Largest first; position breaks ties so the order is fully determined.
    boxes.sort(key=lambda b: (-(b[2] - b[0]) * (b[3] - b[1]), b[1], b[0]))
    return boxes


def expand(box: Box, margin: float, width: int, height: int) -> Box:
    """Grow ``box`` by ``margin`` times its size on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return (
        max(0, round(x0 - mx)), max(0, round(y0 - my)),
        min(width, round(x1 + mx)), min(height, round(y1 + my)),
    )
