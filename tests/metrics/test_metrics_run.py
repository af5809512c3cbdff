"""Named metrics reach a run: `vlmfer run --metric`, `[run] metrics` and `vlmfer report`,
with a plugin metric installed from its own distribution."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=2, splits=("test",), size=(64, 48))
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vlmfer-hello distribution (metric ``hello_rate``), installed into a side folder."""
    tmp = tmp_path_factory.mktemp("hello")
    src = tmp / "vlmfer-hello"
    shutil.copytree(FIXTURES / "vlmfer-hello", src)
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(src)], check=True, capture_output=True, timeout=300)
    return target


def vlmfer(*args: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLMFER_CACHE_DIR": str(cwd / "cache")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                          capture_output=True, env=env, timeout=300)


def _run_args(data: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
            "--model", "mock/neutral-biased", "--out", "run", "--quiet", *extra]


def _metrics(cwd: Path) -> dict[str, object]:
    out: dict[str, object] = json.loads((cwd / "run/metrics.json").read_text())
    return out


def _happy_share(cwd: Path) -> float:
    rows = [json.loads(x) for x in (cwd / "run/predictions.jsonl").read_text().splitlines()]
    return float(sum(r["pred"] == "Happy" for r in rows) / len(rows))


def test_an_installed_plugin_metric_reaches_metrics_json(
    tmp_path: Path, data: Path, site: Path
) -> None:
    run = vlmfer(*_run_args(data, "--metric", "hello_rate"), cwd=tmp_path, site=site)
    assert run.returncode == 0, run.stderr
    m = _metrics(tmp_path)
    assert m["hello_rate"] == pytest.approx(_happy_share(tmp_path))
    ci = m["ci"]
    assert isinstance(ci, dict) and len(ci["hello_rate"]) == 2
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["engine"]["metrics"] == ["hello_rate"]
    # `vlmfer report` recomputes the same set from predictions.jsonl and the manifest
    (tmp_path / "run/metrics.json").unlink()
    rep = vlmfer("report", "run", "--no-thumbnails", cwd=tmp_path, site=site)
    assert rep.returncode == 0, rep.stderr
    assert _metrics(tmp_path) == m


def test_report_metric_adds_a_metric_and_records_it(
    tmp_path: Path, data: Path, site: Path
) -> None:
    assert vlmfer(*_run_args(data), cwd=tmp_path).returncode == 0
    assert "hello_rate" not in _metrics(tmp_path)
    rep = vlmfer("report", "run", "--no-thumbnails", "--metric", "hello_rate", cwd=tmp_path,
                 site=site)
    assert rep.returncode == 0, rep.stderr
    assert _metrics(tmp_path)["hello_rate"] == pytest.approx(_happy_share(tmp_path))
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["engine"]["metrics"] == ["hello_rate"]
    again = vlmfer("report", "run", "--no-thumbnails", cwd=tmp_path, site=site)
    assert again.returncode == 0 and "hello_rate" in _metrics(tmp_path)


def test_run_metrics_in_the_experiment_file(tmp_path: Path, data: Path, site: Path) -> None:
    (tmp_path / "exp.toml").write_text(
        f'[dataset]\nname = "caer-s"\nroot = "{data.as_posix()}"\nsplit = "test"\n'
        '[model]\nname = "mock/neutral-biased"\n'
        '[run]\nout = "run"\nquiet = true\nmetrics = ["hello_rate", "cohen_kappa"]\n',
        encoding="utf-8")
    run = vlmfer("run", "exp.toml", cwd=tmp_path, site=site)
    assert run.returncode == 0, run.stderr
    m = _metrics(tmp_path)
    assert "hello_rate" in m and "hello_rate" in m["ci"]  # type: ignore[operator]


def test_an_unknown_metric_fails_before_any_call(tmp_path: Path, data: Path) -> None:
    run = vlmfer(*_run_args(data, "--metric", "macro_f"), cwd=tmp_path)
    assert run.returncode == 2
    assert "unknown metric 'macro_f'" in run.stderr and "Did you mean 'macro_f1'" in run.stderr
    assert "cohen_kappa" in run.stderr  # the valid names are listed
    assert not (tmp_path / "run/predictions.jsonl").exists()
    assert vlmfer(*_run_args(data), cwd=tmp_path).returncode == 0
    rep = vlmfer("report", "run", "--metric", "hello_rat", cwd=tmp_path)
    assert rep.returncode == 2 and "unknown metric 'hello_rat'" in rep.stderr


@pytest.mark.parametrize(("calibration", "method", "scores"), [
    ("contextual", "contextual calibration", "calibrated"),
    ("none", "none", "raw"),
])
def test_a_calibrated_run_names_its_calibration(
    tmp_path: Path, data: Path, calibration: str, method: str, scores: str
) -> None:
    run = vlmfer(*_run_args(data, "--strategy", "calibrated",
                            "--set", f"strategy.calibration={calibration}"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    m = _metrics(tmp_path)
    cal = m["calibration"]
    assert isinstance(cal, dict) and cal["method"].startswith(method)
    forced = m["excluding_neutral"]["forced_six_way"]  # type: ignore[index]
    assert forced["scores"] == scores
