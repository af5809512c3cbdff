"""The plugin registry, exercised the way plugin authors and users meet it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import support

import vlmfer
from vlmfer.errors import (
    ConfigError,
    UnknownDatasetError,
    UnknownMetricError,
    UnknownPredictorError,
    UnknownStrategyError,
)
from vlmfer.hookspecs import Register, hookimpl
from vlmfer.plugins import DuplicateNameError, Registry

FIXTURES = Path(__file__).parent / "fixtures"


def _vlmfer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return support.vlmfer(*args, env={**os.environ, **(env or {})})


class InlinePlugin:
    @hookimpl
    def register_metrics(self, register: Register) -> None:
        register("always_one", lambda y_true, y_pred, *, labels=None: 1.0)


def test_inline_plugin_registers_and_unregisters() -> None:
    reg = Registry()
    reg.register(InlinePlugin(), name="inline")
    assert vlmfer.get_metric("always_one", registry=reg)(["a"], ["b"]) == 1.0
    entry = reg.entries("metric")["always_one"]
    assert entry.plugin == "inline" and entry.distribution is None
    reg.unregister("inline")
    with pytest.raises(UnknownMetricError):
        vlmfer.get_metric("always_one", registry=reg)


def test_builtin_metrics_come_through_the_entry_point_group() -> None:
    reg = Registry()
    metrics = reg.entries("metric")
    for name in ["accuracy", "uar", "macro_f1", "confusion_matrix", "per_class",
                 "neutral_rate", "cohen_kappa"]:
        assert name in metrics, name
        assert metrics[name].distribution == "vlmfer"
        assert metrics[name].version == vlmfer.__version__


@pytest.mark.parametrize(
    ("kind", "lookup", "error", "typo", "expected"),
    [
        ("metric", vlmfer.get_metric, UnknownMetricError, "accuarcy", "accuracy"),
        ("strategy", vlmfer.get_strategy, UnknownStrategyError, "singleshot", "single-shot"),
        ("dataset", vlmfer.get_dataset, UnknownDatasetError, "caer_s", "caer-s"),
    ],
)
def test_unknown_names_list_valid_ones_and_suggest_the_closest(
    kind: str, lookup: Any, error: type[Exception], typo: str, expected: str
) -> None:
    reg = Registry()
    assert expected in reg.entries(kind), f"built-in {kind} {expected!r} is not registered"  # type: ignore[arg-type]
    with pytest.raises(error) as info:
        lookup(typo, registry=reg)
    message = str(info.value)
    assert f"Did you mean {expected!r}" in message
    assert "Valid" in message and expected in message


def test_unknown_provider_and_malformed_predictor_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMFER_LOAD_PLUGINS", "predictors")  # the built-ins, whatever is installed
    reg = Registry()
    with pytest.raises(UnknownPredictorError) as info:
        vlmfer.get_predictor("opnai/gpt-5.2", registry=reg)
    assert "unknown predictor provider 'opnai'" in str(info.value)
    # Installed plugins (hf/, anthropic/) are listed too, in name order.
    valid = str(info.value).split("Valid providers: ", 1)[1].split(".", 1)[0].split(", ")
    assert {"gemini", "mock", "openai"} <= set(valid) and valid == sorted(valid)
    with pytest.raises(ConfigError, match="provider/model"):
        vlmfer.get_predictor("gpt-5.2", registry=reg)


def test_duplicate_names_are_refused_with_both_plugins_named() -> None:
    class Twin:
        @hookimpl
        def register_metrics(self, register: Register) -> None:
            register("accuracy", lambda y_true, y_pred, *, labels=None: 0.0)

    reg = Registry()
    reg.register(Twin(), name="twin")
    with pytest.raises(DuplicateNameError, match="'twin'"):
        reg.entries("metric")


def test_misspelt_hookimpl_fails_loudly() -> None:
    class Misspelt:
        @hookimpl
        def register_metric(self, register: Register) -> None:  # missing "s"
            register("x", lambda *a, **k: 0)

    reg = Registry()
    with pytest.raises(Exception, match="register_metric"):
        reg.register(Misspelt(), name="misspelt")


def test_plugins_json_lists_builtins_with_distribution_and_version() -> None:
    out = _vlmfer("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    kinds = {r["kind"] for r in rows}
    assert "metric" in kinds
    for row in rows:
        assert set(row) == {"name", "kind", "plugin", "distribution", "version"}
    text = _vlmfer("plugins")
    assert text.returncode == 0 and "accuracy" in text.stdout


def test_load_plugins_env_restricts_loading() -> None:
    out = _vlmfer("plugins", "--json", env={"VLMFER_LOAD_PLUGINS": "metrics"})
    rows = json.loads(out.stdout)
    assert rows and {r["plugin"] for r in rows} == {"metrics"}


def test_third_party_distribution_is_listed_like_a_builtin(tmp_path: Path) -> None:
    """Install the fixture distribution into a side folder and see it listed."""
    target = tmp_path / "site"
    src = tmp_path / "vlmfer-hello"
    shutil.copytree(FIXTURES / "vlmfer-hello", src)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
           str(src)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    env = {"PYTHONPATH": str(target)}
    rows = json.loads(_vlmfer("plugins", "--json", env=env).stdout)
    hello = [r for r in rows if r["name"] == "hello_rate"]
    assert hello == [{"name": "hello_rate", "kind": "metric", "plugin": "hello",
                      "distribution": "vlmfer-hello", "version": "0.0.1"}]
    only = json.loads(_vlmfer("plugins", "--json",
                              env={**env, "VLMFER_LOAD_PLUGINS": "hello"}).stdout)
    assert sorted(r["name"] for r in only) == ["hello", "hello-argmax", "hello-faces",
                                               "hello_rate"]


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("vlmfer.strategies.base", "StepContext", "SampleContext"),
        ("vlmfer", "StepContext", "SampleContext"),
        ("vlmfer.engine.rundir", "RunDir", "RunFolder"),
        ("vlmfer.media", "cache_dir", "media_cache_dir"),
    ],
)
def test_renamed_names_still_work_with_a_deprecation_warning(module: str, old: str,
                                                             new: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(mod, old)
    assert value is getattr(mod, new)


def test_builtin_predictor_options_suggest_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        vlmfer.get_predictor("mock/fixed:Happy", seeed=1, registry=Registry())
    assert "'seeed' (did you mean 'seed'?)" in str(info.value)
    assert "Valid options:" in str(info.value)
