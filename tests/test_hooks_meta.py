"""Every hook is used, in a test, from a plugin distribution installed with pip.

``tests/fixtures/vlmfer-hello`` registers one name per hook. It is installed into a
side folder, exactly as a user installs a plugin, and found through its entry point.
A new hook without a test here fails ``test_every_hook_has_a_test_from_an_installed_plugin``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

import vlmfer
from vlmfer import hookspecs
from vlmfer.errors import ConfigError, MissingResourceError
from vlmfer.plugins import Registry
from vlmfer.predictors.base import cache_identity_of
from vlmfer.types import Media, Prompt

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).parents[1] / "docs"
HELLO = {"name": "vlmfer-hello", "version": "0.0.1"}

#: hook name -> the tests that use it from the installed distribution.
USED: dict[str, list[str]] = {}
F = TypeVar("F", bound=Callable[..., Any])


def uses_hook(*hooks: str) -> Callable[[F], F]:
    def mark(test: F) -> F:
        for hook in hooks:
            USED.setdefault(hook, []).append(test.__name__)
        return test

    return mark


def _hooks() -> set[str]:
    return {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if n.startswith("register_")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vlmfer-hello, pip-installed into a side folder."""
    tmp = tmp_path_factory.mktemp("hello")
    src = tmp / "vlmfer-hello"
    shutil.copytree(FIXTURES / "vlmfer-hello", src)
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(src)], check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture
def registry(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry that loads the installed distribution through its entry point."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.delenv("VLMFER_LOAD_PLUGINS", raising=False)
    yield Registry()


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two faces per label, each as bright as the classifier expects of its label."""
    root = tmp_path_factory.mktemp("faces")
    for i, label in enumerate(vlmfer.CAER_LABELS):
        level = round(255 * i / (len(vlmfer.CAER_LABELS) - 1))
        for n in range(2):
            im = Image.new("RGB", (32, 24), (level, level, level))
            im.putpixel((0, 0), (n, n, n))  # every file distinct, so none is a cache hit
            im.save(root / f"{label}_{n}.png")
    return root


def _origin(registry: Registry, kind: str, name: str) -> dict[str, str] | None:
    return registry.origin(kind, name)  # type: ignore[arg-type]


@uses_hook("register_metrics")
def test_installed_metric(registry: Registry) -> None:
    metric = vlmfer.get_metric("hello_rate", registry=registry)
    assert metric(["Sad", "Happy"], ["Happy", None]) == 0.5
    assert _origin(registry, "metric", "hello_rate") == HELLO


@uses_hook("register_datasets")
def test_installed_dataset(registry: Registry, faces: Path) -> None:
    ds = vlmfer.get_dataset("hello-faces", root=faces, registry=registry)
    assert ds.labels == vlmfer.CAER_LABELS and len(ds) == 14
    assert next(iter(ds)).id == "Anger_0.png"
    assert _origin(registry, "dataset", "hello-faces") == HELLO
    with pytest.raises(ConfigError, match="has no splits"):
        vlmfer.get_dataset("hello-faces", root=faces, split="test", registry=registry)


@uses_hook("register_predictors")
def test_installed_classifier_predictor(registry: Registry, faces: Path) -> None:
    predictor = vlmfer.get_predictor("hello/brightness", registry=registry)
    assert predictor.distribution == HELLO
    # the registering distribution's version is part of the cache key, automatically
    assert cache_identity_of(predictor)["distribution"] == HELLO
    media = Media.from_path(faces / "Sad_0.png")
    labels = ["Happy", "Neutral", "Sad"]
    response = asyncio.run(predictor.predict(Prompt(text="?", media=[media],
                                                    label_order=labels)))
    assert response.text == "Sad" and response.logprobs is not None
    assert sorted(response.logprobs) == labels
    assert predictor.cost_usd(response) == 0.0


@uses_hook("register_predictors")
def test_plugin_predictor_options_and_missing_weights(registry: Registry,
                                                      tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        vlmfer.get_predictor("hello/brightness", weigths="w.json", registry=registry)
    assert "did you mean 'weights'?" in str(info.value)
    assert "Valid options: price_file, weights" in str(info.value)
    missing = tmp_path / "w.json"
    with pytest.raises(MissingResourceError) as err:
        vlmfer.get_predictor("hello/brightness", weights=str(missing), registry=registry)
    assert err.value.path == missing and str(missing) in str(err.value)
    assert "To get it: write" in str(err.value) and "pip install" not in str(err.value)


@uses_hook("register_strategies")
def test_installed_strategy(registry: Registry, faces: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    two = vlmfer.get_strategy("hello-argmax", labels=("Happy", "Sad"), registry=registry)
    assert two.labels == ("Happy", "Sad") and two.requirements().logprobs
    strategy = vlmfer.get_strategy("hello-argmax", registry=registry)
    assert _origin(registry, "strategy", "hello-argmax") == HELLO
    ds = vlmfer.get_dataset("hello-faces", root=faces, registry=registry)
    predictor = vlmfer.get_predictor("hello/brightness", registry=registry)
    run = vlmfer.evaluate(ds, predictor, strategy, out=tmp_path / "run", concurrency=4)
    preds = {p.sample_id: p for p in run.predictions}
    assert preds["Happy_0.png"].pred == "Happy" and preds["Sad_1.png"].pred == "Sad"
    assert preds["Happy_0.png"].scores is not None
    assert preds["Happy_0.png"].cost_usd == 0.0


def test_a_new_plugin_version_is_not_served_the_old_versions_cache(
    registry: Registry, faces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    ds = vlmfer.get_dataset("hello-faces", root=faces, registry=registry)

    def cached(out: str, version: str) -> set[bool]:
        predictor = vlmfer.get_predictor("hello/brightness", registry=registry)
        predictor.distribution = {**HELLO, "version": version}  # as after an upgrade
        strategy = vlmfer.get_strategy("hello-argmax", registry=registry)
        run = vlmfer.evaluate(ds, predictor, strategy, out=tmp_path / out)
        return {s.cached for p in run.predictions for s in p.steps}

    assert cached("a", "0.0.1") == {False}
    assert cached("b", "0.0.1") == {True}
    assert cached("c", "0.0.2") == {False}


@uses_hook(*sorted(_hooks()))
def test_every_hook_from_the_command_line(site: Path, faces: Path, tmp_path: Path) -> None:
    """`vlmfer run` with the plugin's dataset, predictor, strategy and metric."""
    env = {**os.environ, "PYTHONPATH": str(site), "VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("VLMFER_LOAD_PLUGINS", None)
    run = subprocess.run(
        [sys.executable, "-m", "vlmfer", "run", "--dataset", "hello-faces", "--data-root",
         str(faces), "--model", "hello/brightness", "--strategy", "hello-argmax",
         "--metric", "hello_rate", "--out", "run", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["accuracy"] == 1.0
    assert metrics["hello_rate"] == pytest.approx(2 / 14)
    assert metrics["cost_usd"] == 0.0
    manifest = (tmp_path / "run/manifest.json").read_text()
    assert "vlmfer-hello" in manifest


def test_every_hook_has_a_test_from_an_installed_plugin() -> None:
    missing = _hooks() - set(USED)
    assert not missing, (
        f"hooks {sorted(missing)} have no test that uses them from the installed "
        "vlmfer-hello distribution: register a name for each in tests/fixtures/vlmfer-hello "
        "and add a @uses_hook test in tests/test_hooks_meta.py")
    assert len(USED) == len(_hooks())


def test_the_classifier_recipe_in_the_docs_is_the_tested_one() -> None:
    source = (FIXTURES / "vlmfer-hello/src/vlmfer_hello/classifier.py").read_text()
    assert source.strip() in (DOCS / "plugins.md").read_text(), (
        "docs/plugins.md must quote tests/fixtures/vlmfer-hello/.../classifier.py verbatim")
