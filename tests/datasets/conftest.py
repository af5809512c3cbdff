"""Fixtures: tiny CAER / CAER-S trees written by the synthetic generators, and the real media."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmfer.datasets.synthetic import make_caer_like, make_caer_s_like
from vlmfer.plugins import Registry


@pytest.fixture
def registry() -> Registry:
    """A fresh registry holding only the built-in datasets."""
    import vlmfer.datasets.plugin as plugin

    reg = Registry(load_entrypoints=False)
    reg.register(plugin, name="datasets")
    return reg


@pytest.fixture(scope="session")
def caer_s_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("caer-s") / "CAER-S"
    make_caer_s_like(root, per_class=4, splits=("train", "test"), size=(96, 54))
    return root


@pytest.fixture
def caer_s_root(caer_s_master: Path, tmp_path: Path) -> Path:
    """A fresh copy a test may break: train/{Angry,...} and test/{Anger,...}, 4 PNGs each."""
    root = tmp_path / "CAER-S"
    shutil.copytree(caer_s_master, root)
    return root


@pytest.fixture(scope="session")
def caer_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("caer") / "CAER"
    make_caer_like(root, per_class=1, splits=("train", "validation", "test"), seconds=0.5,
                   fps=8, size=(64, 48))
    return root


@pytest.fixture
def caer_root(caer_master: Path, tmp_path: Path) -> Path:
    """A fresh copy of a CAER-like tree: three splits, one AVI per class."""
    root = tmp_path / "CAER"
    shutil.copytree(caer_master, root)
    return root


@pytest.fixture
def touch() -> Callable[..., Path]:
    """Create an (empty unless given bytes) file and its folders."""

    def make(path: Path, data: bytes = b"") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return make
