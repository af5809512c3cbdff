"""``vlmfer.evaluate`` as a user calls it: in a notebook's running loop, with run-level media
settings, and through the names that moved when the engine was split."""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from pathlib import Path

import pytest
from engine_parts import ParseStrategy, ScriptedPredictor, TinyDataset

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.types import MediaSpec


def test_evaluate_inside_a_running_loop_says_to_await_evaluate_async(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data")

    async def notebook_cell() -> vlmfer.Run:
        # What Jupyter does: the cell already runs inside an event loop.
        with pytest.raises(RuntimeError, match=r"await vlmfer\.evaluate_async\(") as err:
            vlmfer.evaluate(ds, ScriptedPredictor(), ParseStrategy(), out=tmp_path / "sync")
        assert "running event loop" in str(err.value)
        options = vlmfer.engine.EngineOptions(progress=False, n_boot=10)
        return await vlmfer.evaluate_async(ds, ScriptedPredictor(), ParseStrategy(),
                                           out=tmp_path / "async", options=options)

    run = asyncio.run(notebook_cell())
    assert not (tmp_path / "sync").exists()
    assert run.metrics["n"] == len(ds)
    assert (run.path / "report.html").exists()


def test_run_media_settings_reach_every_prompt_and_the_manifest(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data")
    predictor = ScriptedPredictor()
    run = vlmfer.evaluate(ds, predictor, ParseStrategy(), out=tmp_path / "run",
                          media={"max_side": 64, "image_format": "png"}, progress=False,
                          n_boot=10)
    assert predictor.calls
    assert {(p.media_spec.max_side, p.media_spec.image_format) for p in predictor.calls} == {
        (64, "png")}
    assert run.manifest["media"]["max_side"] == 64
    assert run.manifest["identity"]["media"]["image_format"] == "png"
    assert "media" not in run.manifest["engine"]


def test_media_set_on_the_run_and_the_strategy_must_agree(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data")
    strategy = vlmfer.get_strategy("single-shot", labels=["Happy", "Sad"],
                                   media={"max_side": 512})
    with pytest.raises(ConfigError, match=r"media settings are given twice.*\[media\]"):
        vlmfer.evaluate(ds, ScriptedPredictor(), strategy, out=tmp_path / "run",
                        media=MediaSpec(max_side=256), progress=False)
    assert not (tmp_path / "run").exists()


def test_moved_names_still_work_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"use vlmfer\.Run"):
        from vlmfer.engine.run import Run
    assert Run is vlmfer.Run
    with pytest.warns(DeprecationWarning, match=r"use vlmfer\.evaluate_async"):
        from vlmfer.engine.run import evaluate_async
    assert evaluate_async is vlmfer.evaluate_async
    with pytest.warns(DeprecationWarning, match="EngineContext"):
        from vlmfer.engine.run import SampleContext
    assert SampleContext is vlmfer.engine.EngineContext
    with pytest.warns(DeprecationWarning, match="evaluation.run_experiment"):
        from vlmfer.engine.experiment import run_experiment
    assert run_experiment is vlmfer.evaluation.run_experiment
    with pytest.warns(DeprecationWarning, match="DemoExperiment"):
        from vlmfer.demo import Experiment
    assert Experiment is vlmfer.demo.DemoExperiment
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from vlmfer.engine.run import build_manifest, check_capabilities, execute  # noqa: F401


def test_run_metrics_are_recomputed_when_predictions_are_newer(
    tmp_path: Path, cache_dir: Path
) -> None:
    ds = TinyDataset(tmp_path / "data")
    run = vlmfer.evaluate(ds, ScriptedPredictor(), ParseStrategy(), out=tmp_path / "run",
                          progress=False, n_boot=10)
    n = run.metrics["n"]
    kept = run.dir.predictions_path.read_text().splitlines(keepends=True)[:2]
    run.dir.predictions_path.write_text("".join(kept))
    later = run.dir.metrics_path.stat().st_mtime_ns + 2_000_000_000
    os.utime(run.dir.predictions_path, ns=(later, later))  # newer than metrics.json
    assert vlmfer.Run(run.path).metrics["n"] == 2 < n
    assert json.loads(run.dir.metrics_path.read_text())["n"] == 2
