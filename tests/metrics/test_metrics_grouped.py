"""Grouped samples (stills cut from one clip): intervals and paired tests resample groups."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vlmfer.metrics import (
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap_diff,
    sign_flip_p_value,
    summarize,
)
from vlmfer.types import Prediction

LABELS = ["Happy", "Neutral", "Sad"]


def _clips(n_clips: int, per_clip: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Each clip is all right or all wrong: its stills are one observation repeated."""
    rng = np.random.default_rng(seed)
    y_true, y_pred, groups = [], [], []
    for c in range(n_clips):
        gold = LABELS[c % 3]
        right = bool(rng.random() < 0.6)
        for _ in range(per_clip):
            y_true.append(gold)
            y_pred.append(gold if right else "Neutral" if gold != "Neutral" else "Sad")
            groups.append(f"clip{c}")
    return y_true, y_pred, groups


def _width(ci: tuple[float, float] | list[float]) -> float:
    return ci[1] - ci[0]


def test_grouped_intervals_are_wider_when_a_clip_is_one_observation() -> None:
    y_true, y_pred, groups = _clips(30, 10)
    flat = bootstrap_ci("accuracy", y_true, y_pred, labels=LABELS, n_boot=2000)
    grouped = bootstrap_ci("accuracy", y_true, y_pred, labels=LABELS, n_boot=2000,
                           groups=groups)
    # 300 stills carry the information of 30 clips: sqrt(10) times wider, roughly
    assert _width(grouped) > 2 * _width(flat)
    # a plugin-style callable (no vectorised form) resamples the same way
    def plain(t: list[str], p: list[str], *, labels: object = None) -> float:
        return sum(a == b for a, b in zip(t, p, strict=True)) / len(t)

    slow = bootstrap_ci(plain, y_true, y_pred, labels=LABELS, n_boot=400, groups=groups)
    assert _width(slow) > 2 * _width(flat)


def test_one_sample_per_group_resamples_like_samples() -> None:
    y_true, y_pred, _ = _clips(200, 1)
    flat = bootstrap_ci("uar", y_true, y_pred, labels=LABELS, n_boot=3000)
    singles = bootstrap_ci("uar", y_true, y_pred, labels=LABELS, n_boot=3000,
                           groups=[f"g{i}" for i in range(len(y_true))])
    assert singles == pytest.approx(flat, abs=0.02)
    # None is a group of its own: all None is the plain bootstrap, draw for draw
    assert bootstrap_ci("uar", y_true, y_pred, labels=LABELS, n_boot=300,
                        groups=[None] * len(y_true)) == \
        bootstrap_ci("uar", y_true, y_pred, labels=LABELS, n_boot=300)


def test_summarize_resamples_groups_and_says_so() -> None:
    y_true, y_pred, groups = _clips(30, 10)
    preds = [
        Prediction(sample_id=f"s{i}", gold=g, pred=p, outcome="ok", group=grp)
        for i, (g, p, grp) in enumerate(zip(y_true, y_pred, groups, strict=True))
    ]
    m = summarize(preds, LABELS, n_boot=1000)
    assert m["ci_resampling"] == "groups" and m["n_groups"] == 30
    assert m["answered_only"]["ci"]["accuracy"] == m["ci"]["accuracy"]
    plain = summarize([p.model_copy(update={"group": None}) for p in preds], LABELS,
                      n_boot=1000)
    assert plain["ci_resampling"] == "samples" and plain["n_groups"] is None
    assert _width(m["ci"]["accuracy"]) > 2 * _width(plain["ci"]["accuracy"])
    assert m["accuracy"] == plain["accuracy"]


def _brute_sign_flip(d: list[int]) -> float:
    observed = abs(sum(d))
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        total += 1
        hits += abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed
    return hits / total


@pytest.mark.parametrize("d", [[3, -1, 2, 2, 1, 1, -2], [1, 1, 1, 1, 1, -1], [4, 0, -4],
                               [5, 1, 1, 2, -1, 3, 3, 2, 1, 1, -2], [0, 0], [2]])
def test_sign_flip_p_value_is_exact(d: list[int]) -> None:
    assert sign_flip_p_value(d) == pytest.approx(_brute_sign_flip(d), abs=1e-12)


def test_mcnemar_over_groups() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(60) < 0.7
    b = rng.random(60) < 0.5
    plain = mcnemar_exact(a, b)
    singles = mcnemar_exact(a, b, groups=[str(i) for i in range(60)])
    assert singles["p_value"] == pytest.approx(plain["p_value"], rel=1e-9)
    assert singles["groups"] == 60 and "sign-flip" in singles["method"]
    # 6 clips of 10 stills each, A right on 5 clips where B is wrong: 50 discordant stills
    # look decisive one by one, but they are 5 observations, so p = 2/2^5 at best.
    clip_a = np.repeat([True] * 5 + [False], 10)
    clip_b = np.repeat([False] * 5 + [False], 10)
    clips = np.repeat([f"c{i}" for i in range(6)], 10).tolist()
    assert mcnemar_exact(clip_a, clip_b)["p_value"] < 1e-10
    assert mcnemar_exact(clip_a, clip_b, groups=clips)["p_value"] == pytest.approx(2 / 32)


def test_paired_bootstrap_resamples_groups() -> None:
    y_true, better, groups = _clips(20, 10, seed=3)
    worse = [p if i % 2 else "Sad" for i, p in enumerate(better)]
    flat = paired_bootstrap_diff(y_true, better, worse, "accuracy", labels=LABELS, n_boot=1000)
    grouped = paired_bootstrap_diff(y_true, better, worse, "accuracy", labels=LABELS,
                                    n_boot=1000, groups=groups)
    assert grouped["diff"] == flat["diff"]
    assert grouped["hi"] - grouped["lo"] > 1.5 * (flat["hi"] - flat["lo"])


def _vlmfer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLMFER_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd, text=True,
                          capture_output=True, env=env, timeout=300)


def test_a_manifest_group_column_reaches_predictions_and_metrics(tmp_path: Path) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    make_caer_s_like(tmp_path / "img", per_class=2, splits=("test",), size=(64, 48))
    files = sorted((tmp_path / "img").rglob("*.png"))
    lines = ["path,label,group"]
    for i, f in enumerate(files):
        # two stills per clip; the last one shares no clip (empty cell)
        group = "" if i == len(files) - 1 else f"clip{i // 2}"
        lines.append(f"{f.relative_to(tmp_path).as_posix()},{f.parent.name},{group}")
    (tmp_path / "stills.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    run = _vlmfer("run", "--dataset", "manifest", "--data-root", "stills.csv",
                  "--model", "mock/neutral-biased", "--strategy", "single-shot",
                  "--out", "run", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(x) for x in (tmp_path / "run/predictions.jsonl").read_text().splitlines()]
    by_file = {r["sample_id"]: r["group"] for r in rows}
    assert len(by_file) == len(files) and sum(g is None for g in by_file.values()) == 1
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    n_groups = len({g for g in by_file.values() if g is not None}) + 1
    assert metrics["ci_resampling"] == "groups" and metrics["n_groups"] == n_groups
    # the groups ride in predictions.jsonl, so `vlmfer report` recomputes the same
    rep = _vlmfer("report", "run", "--no-thumbnails", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert json.loads((tmp_path / "run/metrics.json").read_text()) == metrics
