"""``vlmfer study``: a series of experiments, shared budgets, resume, and the study table."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vlmfer
from vlmfer.datasets.synthetic import make_caer_s_like
from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.errors import ConfigError
from vlmfer.study import load_study

STUDY = """
[study]
name = "tiny"
out = "runs/tiny"

[defaults.dataset]
name = "caer-s"
root = "data/CAER-S"
split = "test"

[defaults.run]
concurrency = 2
n_boot = 50

[[experiment]]
name = "single"
strategy = { name = "single-shot" }

[matrix]
models = ["openai/gpt-5.2"]
strategies = ["two-stage", { name = "free-description", mapper = "lexicon", tag = "free" }]
datasets = [{ name = "caer-s", tag = "caers", classes = ["Happy", "Neutral", "Sad"] }]
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=1, splits=("test",))
    return root


def _study_dir(tmp_path: Path, images: Path, text: str = STUDY) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    link = tmp_path / "data" / "CAER-S"
    if not link.exists():
        link.symlink_to(images)
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_experiments_from_a_list_and_a_matrix(tmp_path: Path, images: Path) -> None:
    study = load_study(_study_dir(tmp_path, images), sets=["dataset.limit=3"])
    assert [e.name for e in study.experiments] == [
        "single", "caers_gpt-5.2_two-stage", "caers_gpt-5.2_free"]
    assert study.out == tmp_path / "runs" / "tiny"
    single, _, free = (e.experiment for e in study.experiments)
    assert single.run.out == str(tmp_path / "runs" / "tiny" / "single")
    assert single.dataset.root == str(tmp_path / "data" / "CAER-S")  # relative to the file
    assert single.dataset.plugin_options()["limit"] == 3  # --set reaches every experiment
    assert free.strategy.plugin_options() == {"mapper": "lexicon"}
    assert free.dataset.plugin_options()["classes"] == ["Happy", "Neutral", "Sad"]
    assert single.run.concurrency == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (STUDY.replace('name = "single"', 'name = "caers_gpt-5.2_free"'),
         "two experiments are named 'caers_gpt-5.2_free'"),
        (STUDY.replace('name = "single"\n', ""), "has no name"),
        (STUDY.replace("concurrency = 2", "concurency = 2"),
         "experiment 'single': .*unknown key 'run.concurency'"),
        (STUDY.replace('[study]', '[studdy]'), "unknown key 'studdy'"),
        (STUDY.replace('strategy = { name = "single-shot" }',
                       'strategy = { name = "single-shot" }\nmodel = { api_key = "sk-x" }'),
         "keys come only from the environment"),
    ],
    ids=["duplicate name", "no name", "unknown run key", "unknown table", "key in file"],
)
def test_bad_study_files_are_clear_errors(tmp_path: Path, images: Path, text: str,
                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_study(_study_dir(tmp_path, images, text))
    assert "study.toml" in str(info.value)


def _env(tmp_path: Path, emu: Emulator | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY")}
    env.update(OPENAI_API_KEY="test-key", GEMINI_API_KEY="test-key",
               VLMFER_CACHE_DIR=str(tmp_path / "cache"), NO_PROXY="127.0.0.1")
    env["OPENAI_BASE_URL"] = emu.openai_base_url if emu else "http://127.0.0.1:9/v1"
    return env


def _study(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vlmfer", "study", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def test_study_runs_resumes_and_rebuilds_its_table(tmp_path: Path, images: Path) -> None:
    path = _study_dir(tmp_path, images)
    out = tmp_path / "runs" / "tiny"
    with Emulator(EmulatorConfig(policy="neutral-biased"), port=0) as emu:
        env = _env(tmp_path, emu)
        dry = _study([str(path), "--dry-run"], env, tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "3 experiment(s)" in dry.stdout and "total" in dry.stdout
        assert not emu.requests  # a dry run sends nothing
        proc = _study([str(path)], env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        asked = len(emu.requests)
        assert asked >= 7 + 3 + 3
        again = _study([str(path)], env, tmp_path)  # resumes: nothing left to ask
        assert again.returncode == 0, again.stderr
        assert len(emu.requests) == asked
    data = json.loads((out / "study.json").read_text())
    assert [e["name"] for e in data["experiments"]] == [
        "single", "caers_gpt-5.2_two-stage", "caers_gpt-5.2_free"]
    assert [r["label"] for r in data["table"]["runs"]] == [e["name"] for e in data["experiments"]]
    for e in data["experiments"]:
        assert (out / e["report"]).is_file()
    assert "| single |" in proc.stdout
    index = (out / "index.html").read_text()
    assert 'href="single/report.html"' in index
    md = (out / "study.md").read_text()
    assert "[report](single/report.html)" in md
    # --report rebuilds from the folders alone: the emulator is gone, nothing is asked.
    (out / "study.md").unlink()
    rebuilt = _study([str(path), "--report", "--format", "latex"], _env(tmp_path, None),
                     tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert r"\begin{tabular}" in rebuilt.stdout and (out / "study.md").is_file()


def test_study_runs_share_one_budget_per_endpoint(tmp_path: Path, images: Path) -> None:
    """Two runs back to back against one key never exceed what one run may send.

    The emulator enforces the same RPM budget over a short window and answers 429 past it;
    with ``max_attempts=1`` any 429 would be an error outcome.
    """
    from vlmfer.engine.budget import shared_budgets
    from vlmfer.engine.cache import ResponseCache
    from vlmfer.engine.core import EngineOptions

    window, budget = 3.0, 5

    async def two_runs(emu: Emulator, tag: str, share: bool) -> list[vlmfer.Run]:
        runs = []
        with shared_budgets() if share else _nothing():
            for i, limit in enumerate((6, 5)):
                ds = vlmfer.get_dataset("caer-s", root=images, split="test", limit=limit)
                pred = vlmfer.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                            api_key="k")
                opts = EngineOptions(concurrency=8, rpm=budget, rate_window_s=window,
                                     max_attempts=1, progress=False, n_boot=10)
                runs.append(await vlmfer.evaluate_async(
                    ds, pred, vlmfer.get_strategy("single-shot"), out=tmp_path / f"{tag}{i}",
                    options=opts, cache=ResponseCache(tmp_path / f"{tag}{i}.sqlite3")))
        return runs

    cfg = EmulatorConfig(policy="fixed:Happy", rpm=budget, rate_window_s=window)
    with Emulator(cfg, port=0) as emu:
        runs = asyncio.run(two_runs(emu, "shared", True))
        assert sum(emu.counters.get("limits", {}).values()) == 0
    assert all(r.metrics["outcomes"]["error"] == 0 for r in runs)
    # Without the shared budget the second run starts with a fresh window and trips the limit.
    with Emulator(cfg, port=0) as emu:
        asyncio.run(two_runs(emu, "own", False))
        assert sum(emu.counters.get("limits", {}).values()) > 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_study_to_pandas_and_load_runs(tmp_path: Path, images: Path) -> None:
    pytest.importorskip("pandas")
    path = _study_dir(tmp_path, images, STUDY.split("[matrix]")[0])
    with Emulator(EmulatorConfig(policy="neutral-biased"), port=0) as emu:
        proc = _study([str(path)], _env(tmp_path, emu), tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = load_study(path)
    df = study.to_pandas()
    assert len(df) == 7
    for col in ("model", "snapshot", "strategy", "dataset", "outcome", "how", "input_tokens",
                "output_tokens", "latency_s", "cost_usd", "cached"):
        assert col in df.columns, col
    assert set(df["model"]) == {"openai/gpt-5.2"} and set(df["strategy"]) == {"single-shot"}
    assert df["how"].notna().all()  # which parse rule read each answer
    assert (df["input_tokens"] > 0).all()
    same = vlmfer.load_runs(study.out)  # a study folder stands for its runs
    assert len(same) == 7 and list(same.columns) == list(df.columns)
