"""The batch folder's files, and the errors a user meets before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_support import cli_args, experiment, vlmfer

from vlmfer.batch import BatchLimits, collect_batch, start_batch
from vlmfer.batch.store import BatchResult, BatchStore
from vlmfer.emulator import Emulator
from vlmfer.errors import ConfigError
from vlmfer.types import Response


def test_results_dedupe_by_key_withdrawals_and_torn_tail(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    store.append_results([
        BatchResult(key="a", round=1, job="j1", response=Response(text="Happy")),
        BatchResult(key="b", round=1, job="j1", error="batch j1: HTTP 500: boom"),
        BatchResult(key="a", round=1, job="j1", response=Response(text="Happy")),
    ])
    got = store.read_results()
    assert sorted(got) == ["a", "b"] and got["b"].error == "batch j1: HTTP 500: boom"
    store.append_results([BatchResult(key="b", cleared=True)])
    assert sorted(store.read_results()) == ["a"]
    with store.results_path.open("a") as f:
        f.write('{"key": "c", "resp')  # a kill -9 mid-write
    assert sorted(store.read_results()) == ["a"]
    assert not store.results_path.read_text().endswith("\n")
    store.read_results(repair=True)
    assert store.results_path.read_text().endswith("\n")
    store.append_results([BatchResult(key="c", round=2, error="x")])
    assert sorted(store.read_results()) == ["a", "c"]


def test_a_corrupt_line_in_the_middle_is_reported(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    store.dir.mkdir()
    store.results_path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ConfigError, match=r"results.jsonl:2: not a valid batch result"):
        store.read_results()


def test_one_command_at_a_time(tmp_path: Path, images: Path, emu: Emulator) -> None:
    out = tmp_path / "batch-run"
    start_batch(experiment(images, emu, "openai", out))
    with BatchStore(out).lock():
        busy = vlmfer("batch", "collect", str(out), cwd=tmp_path, cache=tmp_path / "cache")
        assert busy.returncode == 2
        assert "another vlmfer batch command is working on this run" in busy.stderr
    assert collect_batch(out).complete


def test_not_a_batch_run(tmp_path: Path, images: Path, emu: Emulator) -> None:
    online = tmp_path / "online"
    assert vlmfer(*cli_args(images, emu, "openai", online), "--set", "dataset.limit=7",
                  cwd=tmp_path, cache=tmp_path / "cache").returncode == 0
    for action in ("status", "collect", "submit"):
        r = vlmfer("batch", action, str(online), cwd=tmp_path, cache=tmp_path / "cache")
        assert r.returncode == 2 and "not a batch run" in r.stderr, r.stderr
    nothing = vlmfer("batch", "status", str(tmp_path / "nope"), cwd=tmp_path,
                     cache=tmp_path / "cache")
    assert nothing.returncode == 2 and "not a run directory" in nothing.stderr
    wrong = vlmfer("batch", "status", str(online), "--wait", cwd=tmp_path,
                   cache=tmp_path / "cache")
    assert wrong.returncode == 2 and "go with `collect`" in wrong.stderr


def test_a_backend_without_a_batch_api_is_refused_before_anything_runs(
    tmp_path: Path, images: Path
) -> None:
    r = vlmfer("run", "--dataset", "caer-s", "--data-root", str(images), "--split", "test",
               "--model", "mock/fixed:Happy", "--out", str(tmp_path / "run"), "--batch",
               cwd=tmp_path, cache=tmp_path / "cache")
    assert r.returncode == 2
    assert "mock/fixed:Happy (role 'main') offers no provider batch API" in r.stderr
    assert "openai/<model>, gemini/<model>" in r.stderr and "batch_jobs()" in r.stderr
    assert not (tmp_path / "run").exists()


def test_missing_key_is_a_configuration_error(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    r = vlmfer(*cli_args(images, emu, "openai", tmp_path / "run"), "--batch", cwd=tmp_path,
               cache=tmp_path / "cache", OPENAI_API_KEY="")
    assert r.returncode == 2 and "OPENAI_API_KEY" in r.stderr
    assert emu.requests == []


def test_a_key_in_the_experiment_is_refused_not_written(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    from vlmfer.engine.config import Experiment

    secret = "sk-in-code-9f8e7d6c"
    exp = experiment(images, emu, "openai", tmp_path / "run")
    data = exp.model_dump()
    data["model"]["api_key"] = secret  # allowed in Python code, but not in a batch run
    with pytest.raises(ConfigError, match="keys come only from the environment"):
        start_batch(Experiment.model_validate(data))
    assert not (tmp_path / "run" / "manifest.json").exists()
    assert emu.requests == []


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        BatchLimits(max_requests=0)
