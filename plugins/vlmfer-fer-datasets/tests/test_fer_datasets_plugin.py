"""The installed distribution, as vlmfer sees it: registry, listing, CLI runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import vlmfer
from fer_builders import write_fer_csv, write_rafdb
from vlmfer.errors import ConfigError, UnknownDatasetError
from vlmfer.hookspecs import Register, hookimpl
from vlmfer.plugins import DuplicateNameError, Registry

EXPECTED = {"kind": "dataset", "plugin": "fer_datasets", "distribution": "vlmfer-fer-datasets",
            "version": "0.1.0"}


def _vlmfer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vlmfer", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )


def test_a_fresh_registry_lists_both_datasets_with_their_distribution(
    registry: Registry,
) -> None:
    entries = registry.entries("dataset")
    for name in ("raf-db", "fer2013"):
        assert {k: v for k, v in entries[name].as_dict().items() if k != "name"} == EXPECTED
    # The built-ins are still there, and nothing else came from this plugin.
    assert {"caer", "caer-s", "folder", "manifest"} <= set(entries)
    ours = [e.name for e in registry.all_entries() if e.plugin == "fer_datasets"]
    assert sorted(ours) == ["fer2013", "raf-db"]


def test_load_plugins_env_can_select_this_plugin_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMFER_LOAD_PLUGINS", "fer_datasets")
    reg = Registry()
    assert sorted(reg.entries("dataset")) == ["fer2013", "raf-db"]
    assert reg.entries("metric") == {}
    monkeypatch.setenv("VLMFER_LOAD_PLUGINS", "datasets")
    with pytest.raises(UnknownDatasetError, match="Valid datasets: caer"):
        vlmfer.get_dataset("raf-db", root=".", registry=Registry())


def test_a_second_plugin_claiming_raf_db_is_refused(registry: Registry) -> None:
    class Clash:
        @hookimpl
        def register_datasets(self, register: Register) -> None:
            register("raf-db", lambda root=None, split=None, **options: None)

    registry.register(Clash(), name="clash")
    with pytest.raises(DuplicateNameError, match="dataset 'raf-db' is registered by both") as e:
        registry.entries("dataset")
    assert "'fer_datasets'" in str(e.value) and "'clash'" in str(e.value)
    registry.unregister("clash")
    assert "raf-db" in registry.entries("dataset")


def test_unknown_options_fail_through_get_dataset(registry: Registry, tmp_path: Path) -> None:
    csv_path = write_fer_csv(tmp_path / "fer2013.csv")
    with pytest.raises(ConfigError, match=r"unknown option 'variant'.*Valid options: classes"):
        vlmfer.get_dataset("fer2013", root=csv_path, registry=registry, variant="aligned")


def test_plugins_json_shows_the_distribution() -> None:
    out = _vlmfer("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = [r for r in json.loads(out.stdout) if r["plugin"] == "fer_datasets"]
    assert sorted(r["name"] for r in rows) == ["fer2013", "raf-db"]
    assert all({k: v for k, v in r.items() if k != "name"} == EXPECTED for r in rows)


def test_the_hook_module_imports_no_loader() -> None:
    code = (
        "import sys, vlmfer_fer_datasets\n"
        "heavy = [m for m in ('vlmfer_fer_datasets.rafdb', 'vlmfer_fer_datasets.fer2013',"
        " 'PIL', 'numpy', 'vlmfer.datasets.common') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_vlmfer_run_evaluates_both_datasets(tmp_path: Path, cache_dir: Path) -> None:
    """The whole pipeline, offline: CLI, engine, mock predictor, run directory."""
    raf = write_rafdb(tmp_path / "RAF-DB" / "basic")
    fer_csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv")
    env = {"VLMFER_CACHE_DIR": str(cache_dir)}
    runs = {
        "raf": ["--dataset", "raf-db", "--data-root", str(raf), "--split", "test",
                "--set", "dataset.variant=original"],
        "fer": ["--dataset", "fer2013", "--data-root", str(fer_csv), "--split", "val",
                "--limit", "7"],
    }
    for name, args in runs.items():
        out_dir = tmp_path / "runs" / name
        done = _vlmfer("run", *args, "--model", "mock/fixed:Happy", "--out", str(out_dir),
                       "--quiet", env=env)
        assert done.returncode == 0, done.stderr
        lines = (out_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
        predictions = [json.loads(line) for line in lines]
        manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
        assert all(p["pred"] == "Happy" and p["outcome"] == "ok" for p in predictions)
        if name == "raf":
            assert len(predictions) == 21
            ids = sorted(p["sample_id"] for p in predictions)
            assert ids[0] == "Image/original/test_0001.jpg"
            assert manifest["dataset"]["options"]["variant"] == "original"
        else:
            assert len(predictions) == 7
            assert sorted(p["gold"] for p in predictions) == sorted(vlmfer.CAER_LABELS)
            assert all(p["sample_id"].startswith("fer2013.csv#row=") for p in predictions)
            assert manifest["dataset"]["split"] == "val"
        metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["n"] == len(predictions)
        assert metrics["accuracy"] == pytest.approx(
            sum(p["gold"] == "Happy" for p in predictions) / len(predictions)
        )


def test_decoded_images_pass_the_emulators_image_checks(tmp_path: Path, cache_dir: Path) -> None:
    """Real HTTP through the OpenAI SDK to the loopback emulator, which decodes every image."""
    from vlmfer.emulator import Emulator, EmulatorConfig

    fer_csv = write_fer_csv(tmp_path / "fer2013.csv")
    with Emulator(EmulatorConfig(policy="fixed:Sad"), port=0) as emu:
        done = _vlmfer(
            "run", "--dataset", "fer2013", "--data-root", str(fer_csv), "--limit", "7",
            "--model", "openai/gpt-5-mini", "--base-url", emu.openai_base_url,
            "--out", str(tmp_path / "run"), "--quiet",
            env={"VLMFER_CACHE_DIR": str(cache_dir), "OPENAI_API_KEY": "test-key"},
        )
        assert done.returncode == 0, done.stderr
        calls = emu.calls("chat")
    assert len(calls) == 7 and all(c["status"] == 200 and c["images"] == 1 for c in calls)
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["pred"] for line in lines} == {"Sad"}
