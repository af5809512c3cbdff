"""Fixtures: the tiny model folder, test media, and the predictor asked for as hf/<folder>."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hf_tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a saved tiny LLaVA-style model (built once per session)."""
    return build_tiny_model(tmp_path_factory.mktemp("hf") / "tiny-llava")


def _shared_data() -> Path | None:
    # The project's real media live in shared/data beside the checkout.
    root = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def face_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face photograph, or a drawn face where shared/data is absent."""
    data = _shared_data()
    if data is not None:
        photos = sorted((data / "london_faces" / "Happy").glob("*.jpg"))
        if photos:
            return photos[0]
    from vlmfer.datasets.synthetic import draw_face_image

    path = tmp_path_factory.mktemp("img") / "face.png"
    draw_face_image("Happy", size=(160, 120)).save(path)
    return path


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face video (AVI, as in CAER), or a drawn one where shared/data is absent."""
    data = _shared_data()
    if data is not None and (data / "video" / "clip_0001.avi").is_file():
        return data / "video" / "clip_0001.avi"
    from vlmfer.datasets.synthetic import write_clip

    return write_clip(tmp_path_factory.mktemp("vid") / "0001.avi", "Sad", seconds=1.0, fps=8)


@pytest.fixture(scope="session")
def predictor(tiny_model: Path) -> Any:
    """``hf/<tiny model folder>``, through the registry as a user would ask for it."""
    import vlmfer

    return vlmfer.get_predictor(f"hf/{tiny_model}")
