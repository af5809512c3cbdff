"""Every file in examples/ runs offline, as a user runs it: a subprocess against the emulator.

Each TOML goes through ``python -m vlmfer run FILE --base-url <emulator> --data-root <generated>``
and each script through ``python examples/<script>.py --base-url ... --data-root ... --out ...``,
with nothing else changed: the files are the ones a user runs for real with keys and data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vlmfer.datasets.synthetic import make_caer_like, make_caer_s_like
from vlmfer.emulator import Emulator, EmulatorConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
N = 7  # --limit: one sample per class, enough to exercise every path
RETIRED = ("gemini-2.0-flash", "gpt-4o")
RUN_FILES = ("manifest.json", "predictions.jsonl", "metrics.json")

# The seed experiments and the features beyond them, each a TOML file (issue: examples/).
EXPECTED_TOML = {
    "01_gemini_caer_single_shot.toml",
    "02_gpt4o_caer_s_single_shot.toml",
    "03b_six_class_forced_six_way.toml",
    "04a_two_stage_gemini_caer.toml",
    "04b_two_stage_gpt_caer_s.toml",
    "05a_free_description_lexicon.toml",
    "05b_free_description_llm.toml",
    "06_gpt_caer_video_frames.toml",
    "07_calibrated.toml",
    "08_face_crop.toml",
    "09_local_server.toml",
    "10_claude_caer_s_single_shot.toml",
}

# Study files (`vlmfer study`): the whole seed series in one command.
STUDY_TOML = {"seed_study.toml"}

# script, extra arguments, provider, data folder (scripts name their model in code).
SCRIPTS: list[tuple[str, list[str], str, str]] = [
    ("01_gemini_caer_single_shot.py", [], "gemini", "CAER"),
    ("02_gpt4o_caer_s_single_shot.py", [], "openai", "CAER-S"),
    ("03b_six_class_forced_six_way.py", [], "openai", "CAER-S"),
    ("04_two_stage.py", ["gemini"], "gemini", "CAER"),
    ("04_two_stage.py", ["openai"], "openai", "CAER-S"),
    ("05_free_description.py", ["lexicon"], "openai", "CAER-S"),
    ("05_free_description.py", ["llm"], "openai", "CAER-S"),
    ("06_gpt_caer_video_frames.py", [], "openai", "CAER"),
    ("07_calibrated.py", [], "openai", "CAER-S"),
    ("08_face_crop.py", [], "openai", "CAER-S"),
    ("09_local_server.py", [], "openai", "CAER-S"),
    ("10_claude_caer_s_single_shot.py", [], "anthropic", "CAER-S"),
]
# Scripts tested on their own below.
OTHER_SCRIPTS = {"03a_excluding_neutral_subset.py", "offline_data.py"}
# Files about a model of the user's own choosing, with no seed counterpart.
NOT_SEED_MODELS = {"09_local_server.toml", "10_claude_caer_s_single_shot.toml"}
#: Providers that come from a plugin distribution (skipped when it is not installed).
PLUGIN_PROVIDERS = {"anthropic": "vlmfer_anthropic"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_caer_s_like(root / "CAER-S", per_class=2)
    make_caer_like(root / "CAER", per_class=1, seconds=1.0, fps=8)
    return root


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(policy="neutral-biased", api_key=None), port=0) as emu:
        yield emu


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Fake keys, a private cache, and nothing that could point a run elsewhere."""
    out = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY",
                        "ANTHROPIC_BASE_URL",
                        "VLMFER_PRICES", "VLMFER_LOAD_PLUGINS")}
    out.update(OPENAI_API_KEY="test-openai-key", GEMINI_API_KEY="test-gemini-key",
               ANTHROPIC_API_KEY="test-anthropic-key",
               VLMFER_CACHE_DIR=str(tmp_path_factory.mktemp("cache")),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return out


def _base_url(emu: Emulator, provider: str) -> str:
    if provider in PLUGIN_PROVIDERS:
        pytest.importorskip(PLUGIN_PROVIDERS[provider], reason=f"{provider}/ is a plugin")
    urls = {"gemini": emu.gemini_base_url, "anthropic": emu.anthropic_base_url}
    return urls.get(provider, emu.openai_base_url)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, (
        f"exit {proc.returncode}: {' '.join(args)}\nstdout:\n{proc.stdout}\n"
        f"stderr:\n{proc.stderr[-3000:]}")
    return proc


def _check_run(out: Path, *, n: int = N) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    for name in RUN_FILES:
        assert (out / name).is_file(), f"{out}/{name} was not written"
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    preds = [json.loads(line) for line in
             (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert metrics["n"] == len(preds) == n
    assert metrics["outcomes"]["error"] == 0, [p["reason"] for p in preds if p["reason"]]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return manifest, preds


def _toml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def test_every_experiment_has_its_files() -> None:
    assert {p.name for p in EXAMPLES.glob("*.toml")} == EXPECTED_TOML | STUDY_TOML
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == {s for s, *_ in SCRIPTS} | OTHER_SCRIPTS
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in sorted(EXPECTED_TOML | STUDY_TOML | scripts):
        assert name in readme, f"examples/README.md does not mention {name}"


TOML_CASES: list[tuple[str, list[str]]] = [(name, []) for name in sorted(EXPECTED_TOML)] + [
    ("08_face_crop.toml", ["--set", "media.face_crop=true"]),
]


@pytest.mark.parametrize(("name", "extra"), TOML_CASES,
                         ids=[n + (" " + " ".join(e) if e else "") for n, e in TOML_CASES])
def test_toml_example_runs_offline(
    name: str, extra: list[str], data: Path, emulator: Emulator, env: dict[str, str],
    tmp_path: Path,
) -> None:
    config = _toml(name)
    provider = config["model"]["name"].partition("/")[0]
    folder = "CAER" if config["dataset"]["name"] == "caer" else "CAER-S"
    out = tmp_path / "run"
    base_url = _base_url(emulator, provider)
    _run(["-m", "vlmfer", "run", str(EXAMPLES / name), "--base-url", base_url,
          "--data-root", str(data / folder), "--out", str(out), "--quiet", "--limit", str(N),
          *extra], env, tmp_path)
    manifest, preds = _check_run(out)
    # The file's own model and strategy ran, only redirected to the emulator.
    assert manifest["model"]["name"] == config["model"]["name"]
    assert manifest["model"]["base_url"] == base_url
    assert manifest["strategy"]["name"] == config["strategy"]["name"]
    steps = [s for p in preds for s in p["steps"]]
    media = manifest["strategy"]["options"]["media"]
    if "face_crop=true" in " ".join(extra):
        assert media["face_crop"] is True
    if config.get("media", {}).get("video_mode") == "frames":
        assert all("frames" in s["text_sent"] for s in steps)
    if "classes" in config["dataset"]:
        assert "Neutral" not in manifest["labels"]
        assert {p["gold"] for p in preds} <= set(config["dataset"]["classes"])
    if config["strategy"]["name"] == "calibrated":
        assert all(p["scores"] for p in preds)
    if config["strategy"].get("mapper_model"):
        assert any(s["model"] == config["strategy"]["mapper_model"] for s in steps)


@pytest.mark.parametrize(("script", "extra", "provider", "folder"), SCRIPTS,
                         ids=[" ".join([s, *e]) for s, e, *_ in SCRIPTS])
def test_script_example_runs_offline(
    script: str, extra: list[str], provider: str, folder: str, data: Path,
    emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    proc = _run([str(EXAMPLES / script), *extra, "--base-url", _base_url(emulator, provider),
                 "--data-root", str(data / folder), "--out", str(out), "--limit", str(N)],
                env, tmp_path)
    runs = [out / "full_frame", out / "face_crop"] if script == "08_face_crop.py" else [out]
    for run in runs:
        _check_run(run)
        assert (run / "report.html").is_file() and (run / "confusion_matrix.png").is_file()
        assert str(run) in proc.stdout


def test_excluding_neutral_script_reads_both_conventions(
    data: Path, emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    seven, six = tmp_path / "seven", tmp_path / "six"
    for name, out in (("02_gpt4o_caer_s_single_shot.toml", seven),
                      ("03b_six_class_forced_six_way.toml", six)):
        _run(["-m", "vlmfer", "run", str(EXAMPLES / name), "--base-url",
              emulator.openai_base_url, "--data-root", str(data / "CAER-S"), "--out", str(out),
              "--quiet", "--limit", str(N)], env, tmp_path)
    proc = _run([str(EXAMPLES / "03a_excluding_neutral_subset.py"), str(seven),
                 "--forced", str(six)], env, tmp_path)
    subset = json.loads((seven / "metrics.json").read_text())["excluding_neutral"]["subset"]
    forced = json.loads((six / "metrics.json").read_text())
    lines = proc.stdout.splitlines()
    row = next(line for line in lines if line.startswith("excluding Neutral: subset"))
    assert f"n={subset['n']}" in row and f"WAR={subset['accuracy']:.3f}" in row
    row = next(line for line in lines if line.startswith("excluding Neutral: forced six-way"))
    assert f"n={forced['n']}" in row and f"WAR={forced['accuracy']:.3f}" in row


def test_excluding_neutral_script_explains_a_missing_run(
    env: dict[str, str], tmp_path: Path,
) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "03a_excluding_neutral_subset.py"),
                           str(tmp_path / "nowhere")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "metrics.json: not found" in proc.stderr and "vlmfer run" in proc.stderr


def test_offline_data_script_writes_both_trees(env: dict[str, str], tmp_path: Path) -> None:
    _run([str(EXAMPLES / "offline_data.py"), str(tmp_path / "d"), "--images-per-class", "1",
          "--clips-per-class", "1"], env, tmp_path)
    assert len(list((tmp_path / "d" / "CAER-S" / "test").glob("*/*.png"))) == 7
    assert len(list((tmp_path / "d" / "CAER" / "test").glob("*/*.avi"))) == 7


_RETIRED_RE = re.compile("|".join(re.escape(r) for r in RETIRED))


@pytest.mark.parametrize("path", sorted([*EXAMPLES.glob("*.toml"), *EXAMPLES.glob("*.py")]),
                         ids=lambda p: p.name)
def test_retired_seed_models_appear_only_as_commented_presets(path: Path) -> None:
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _RETIRED_RE.search(line):
            assert line.lstrip().startswith("#"), (
                f"{path.name}:{lineno}: a retired seed model outside a comment: {line.strip()}")
    if path.suffix == ".toml":
        config = _toml(path.name)
        tables = config.get("experiment", [config])  # a study file lists its experiments
        active = [m for t in tables for m in (t["model"]["name"],
                                              t["strategy"].get("mapper_model", ""))]
        assert not any(_RETIRED_RE.search(m) for m in active)
        if path.name not in NOT_SEED_MODELS:
            # The seed's model stays named as a preset, so the study stays reproducible.
            assert "# Seed study preset" in path.read_text(encoding="utf-8")


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vlmfer", "run", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=180)


def test_rerunning_an_example_resumes_without_asking_again(
    data: Path, emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    args = [str(EXAMPLES / "04b_two_stage_gpt_caer_s.toml"), "--base-url",
            emulator.openai_base_url, "--data-root", str(data / "CAER-S"), "--out",
            str(tmp_path / "run"), "--limit", str(N)]
    first = _cli(args, env, tmp_path)
    assert first.returncode == 0, first.stderr
    before = len(emulator.requests)
    again = _cli(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(emulator.requests) == before  # nothing was asked again
    assert again.stdout == first.stdout      # the same numbers, printed the same way
    _check_run(tmp_path / "run")


def test_an_example_refuses_a_different_experiment_in_its_run_folder(
    data: Path, emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    base = [str(EXAMPLES / "02_gpt4o_caer_s_single_shot.toml"), "--base-url",
            emulator.openai_base_url, "--data-root", str(data / "CAER-S"), "--out",
            str(tmp_path / "run"), "--limit", str(N), "--quiet"]
    assert _cli(base, env, tmp_path).returncode == 0
    proc = _cli([*base, "--set", "strategy.label_order=shuffle"], env, tmp_path)
    assert proc.returncode == 2
    assert "holds a different experiment" in proc.stderr and "label_order" in proc.stderr


def test_an_example_without_its_data_fails_before_any_call(
    emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    before = len(emulator.requests)
    proc = _cli([str(EXAMPLES / "01_gemini_caer_single_shot.toml"), "--base-url",
                 emulator.gemini_base_url, "--data-root", str(tmp_path / "no-CAER"), "--out",
                 str(tmp_path / "run")], env, tmp_path)
    assert proc.returncode == 2
    assert str(tmp_path / "no-CAER") in proc.stderr and "does not exist" in proc.stderr
    assert len(emulator.requests) == before
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_an_example_without_a_key_says_which_variable_to_set(
    data: Path, emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    proc = _cli([str(EXAMPLES / "02_gpt4o_caer_s_single_shot.toml"), "--base-url",
                 emulator.openai_base_url, "--data-root", str(data / "CAER-S"), "--out",
                 str(tmp_path / "run")], no_key, tmp_path)
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr


def test_a_retired_seed_preset_fails_and_names_the_current_models(
    data: Path, env: dict[str, str], tmp_path: Path,
) -> None:
    # The emulator answers 404 for the retired id, as the real API does after a shutdown.
    cfg = EmulatorConfig(api_key=None, missing_models=["gemini-2.0-flash"])
    with Emulator(cfg, port=0) as emu:
        proc = _cli([str(EXAMPLES / "01_gemini_caer_single_shot.toml"), "--base-url",
                     emu.gemini_base_url, "--model", "gemini/gemini-2.0-flash",
                     "--data-root", str(data / "CAER"), "--out", str(tmp_path / "run"),
                     "--limit", "2", "--quiet"], env, tmp_path)
        assert len(emu.calls(status=404)) == 2  # one call per sample: a 404 is not retried
    assert proc.returncode == 1  # the run finished, with errors
    preds = [json.loads(line) for line in
             (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert {p["outcome"] for p in preds} == {"error"}
    assert all("gemini/gemini-3.5-flash" in p["reason"] for p in preds)


def test_seed_study_runs_offline_and_writes_its_table(
    data: Path, emulator: Emulator, env: dict[str, str], tmp_path: Path,
) -> None:
    """The seed study file, unchanged, against the emulator: every experiment, one table."""
    import shutil

    shutil.copy(EXAMPLES / "seed_study.toml", tmp_path / "seed_study.toml")
    shutil.copytree(EXAMPLES / "templates", tmp_path / "templates")
    (tmp_path / "data").symlink_to(data)
    study_env = {**env, "OPENAI_BASE_URL": emulator.openai_base_url,
                 "GOOGLE_GEMINI_BASE_URL": emulator.gemini_base_url}
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "study", "seed_study.toml",
                           "--set", f"dataset.limit={N}"], env=study_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = _toml("seed_study.toml")
    out = tmp_path / "runs" / "seed_study"
    names = [e["name"] for e in config["experiment"]]
    for name in names:
        _check_run(out / name)
        assert (out / name / "report.html").is_file()
    providers = {json.loads((out / n / "manifest.json").read_text())["model"]["name"]
                 .partition("/")[0] for n in names}
    assert providers == {"gemini", "openai"}
    table = json.loads((out / "study.json").read_text())["table"]
    assert [r["label"] for r in table["runs"]] == names
    for name in names:
        # † marks simulated answers (the emulator): every row here.
        assert f"| {name} † |" in proc.stdout, proc.stdout
    assert (out / "study.md").is_file() and (out / "index.html").is_file()


def test_demo_is_a_study_and_prints_its_table(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "demo", "--out", str(tmp_path / "d"),
                           "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "d" / "study.json").read_text())
    names = [e["name"] for e in data["experiments"]]
    assert len(names) == len(set(names)) == 6  # numbered once each
    assert [n.split("-")[0] for n in names] == ["1", "2", "3", "4a", "4b", "5"]
    assert all(r["simulated"] for r in data["table"]["runs"])
    assert "SIMULATOR" in proc.stdout and "| 4a-gemini-caer-two-stage †" in proc.stdout
