"""``vlmfer compare``: one table for many runs; paired runs, McNemar's exact test, paired
bootstrap, Holm adjustment, formats, labels, and the detailed two-run comparison."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from math import comb
from pathlib import Path
from typing import Any

import pytest
from report_builders import LABELS, manifest, pred, write_run

from vlmfer import Run
from vlmfer.errors import ConfigError
from vlmfer.report.cli import cmd_compare
from vlmfer.report.compare import compare, compare_runs, format_comparison
from vlmfer.report.table import build_table, holm, render_table, run_labels


def _golds(n: int) -> list[str]:
    return [LABELS[i % len(LABELS)] for i in range(n)]


def _wrong(gold: str) -> str:
    return "Neutral" if gold != "Neutral" else "Sad"


def _pair_of_runs(tmp_path: Path, *, both: int, only_a: int, only_b: int, neither: int,
                  man_b: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Two runs over the same samples with the given correctness counts."""
    n = both + only_a + only_b + neither
    golds = _golds(n)
    pa, pb = [], []
    for i, gold in enumerate(golds):
        sid = f"test/{gold}/{i:04d}.png"
        a_right = i < both + only_a
        b_right = i < both or both + only_a <= i < both + only_a + only_b
        pa.append(pred(sid, gold, gold if a_right else _wrong(gold)))
        # B's misses are non-answers half the time: they count as wrong too.
        b_miss = "error" if i % 2 else _wrong(gold)
        pb.append(pred(sid, gold, gold if b_right else b_miss))
    a = write_run(tmp_path / "a", manifest(root=None, model="mock/a", n=n), pa)
    b = write_run(tmp_path / "b", man_b or manifest(root=None, model="mock/b", n=n), pb)
    return a, b


def test_exact_mcnemar_p_value_and_counts(tmp_path: Path) -> None:
    a, b = _pair_of_runs(tmp_path, both=20, only_a=9, only_b=1, neither=10)
    r = compare_runs(a, b, n_boot=500, seed=1)
    assert r["n_paired"] == 40
    assert r["correctness"] == {"both_right": 20, "only_a_right": 9, "only_b_right": 1,
                                "both_wrong": 10}
    assert r["mcnemar"]["b10"] == 9 and r["mcnemar"]["b01"] == 1
    # Two-sided exact binomial: 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024.
    assert r["mcnemar"]["p_value"] == pytest.approx(2 * (comb(10, 0) + comb(10, 1)) / 2**10,
                                                    rel=1e-12)
    assert r["a"]["accuracy"] == pytest.approx(29 / 40)
    assert r["b"]["accuracy"] == pytest.approx(21 / 40)
    war = r["diff"]["accuracy"]
    assert war["diff"] == pytest.approx(8 / 40)
    assert war["lo"] <= war["diff"] <= war["hi"]
    assert war["lo"] > 0  # 9 vs 1 discordant: A is clearly better
    uar = r["diff"]["uar"]
    assert uar["diff"] == pytest.approx(r["a"]["uar"] - r["b"]["uar"])
    assert uar["lo"] <= uar["diff"] <= uar["hi"]
    json.dumps(r)  # plain JSON


def test_seeded_and_reproducible(tmp_path: Path) -> None:
    a, b = _pair_of_runs(tmp_path, both=10, only_a=4, only_b=3, neither=5)
    assert compare_runs(a, b, n_boot=300, seed=7) == compare_runs(a, b, n_boot=300, seed=7)
    r = compare_runs(a, b, n_boot=300, seed=7)
    # 4 vs 3 discordant: no evidence of a difference.
    assert r["mcnemar"]["p_value"] == pytest.approx(1.0)
    assert r["diff"]["accuracy"]["lo"] < 0 < r["diff"]["accuracy"]["hi"]


def test_same_run_against_itself(tmp_path: Path) -> None:
    a, _ = _pair_of_runs(tmp_path, both=5, only_a=2, only_b=0, neither=3)
    r = compare_runs(a, a, n_boot=100)
    assert r["mcnemar"]["p_value"] == 1.0
    assert r["diff"]["accuracy"] == {"diff": 0.0, "lo": 0.0, "hi": 0.0}


def test_unpaired_samples_are_left_out_and_reported(tmp_path: Path) -> None:
    a, b = _pair_of_runs(tmp_path, both=6, only_a=2, only_b=2, neither=2)
    lines = (b / "predictions.jsonl").read_text().splitlines()
    (b / "predictions.jsonl").write_text("\n".join(lines[:-3]) + "\n")  # an unfinished run
    r = compare_runs(a, b, n_boot=100)
    assert r["n_paired"] == 9 and r["only_in_a"] == 3 and r["only_in_b"] == 0
    assert "3 sample(s) only in A" in format_comparison(r)


def test_format_comparison(tmp_path: Path) -> None:
    a, b = _pair_of_runs(tmp_path, both=20, only_a=9, only_b=1, neither=10)
    text = format_comparison(compare_runs(a, b, n_boot=200))
    assert "40 shared samples" in text
    assert "WAR" in text and "UAR" in text
    assert "+20.0 pp" in text  # 29/40 - 21/40
    assert "only A right 9, only B right 1" in text
    assert "McNemar's exact test on the 10 discordant samples: p = 0.0215" in text
    assert "significant at the 5 % level" in text
    assert "A is higher" in text
    assert "Non-answers count as wrong" in text


def test_cmd_compare_prints_text_and_json(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _pair_of_runs(tmp_path, both=4, only_a=1, only_b=1, neither=2)
    assert cmd_compare(argparse.Namespace(run_a=str(a), run_b=str(b))) == 0
    assert "McNemar" in capsys.readouterr().out
    assert cmd_compare(argparse.Namespace(run_a=str(a), run_b=str(b), json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    # Today's keys stay, beside the table's.
    for key in ("a", "b", "dataset", "labels", "n_paired", "only_in_a", "only_in_b",
                "correctness", "mcnemar", "diff", "n_boot", "seed", "level", "runs", "pairs"):
        assert key in data, key
    assert data["n_paired"] == 8


def _three_runs(tmp_path: Path) -> list[Path]:
    """A, B on the same 40 samples (A much better), C on other samples."""
    a, b = _pair_of_runs(tmp_path, both=20, only_a=9, only_b=1, neither=10)
    c = write_run(tmp_path / "c", manifest(root=None, model="mock/c", name="other"),
                  [pred(f"other/{i}.png", g, g if i % 2 else "Neutral")
                   for i, g in enumerate(_golds(14))])
    return [a, b, c]


def test_table_of_many_runs_tests_only_runs_sharing_samples(tmp_path: Path) -> None:
    a, b, c = _three_runs(tmp_path)
    d = write_run(tmp_path / "d", manifest(root=None, model="mock/d", n=40),
                  [pred(p.sample_id, p.gold, p.gold or "Sad") for p in
                   Run(a).predictions])
    table = build_table([a, b, c, d], n_boot=300)
    assert [r["n"] for r in table["runs"]] == [40, 40, 14, 40]
    war = table["runs"][0]["figures"]["accuracy"]
    assert war["value"] == pytest.approx(29 / 40)
    assert war["ci"][0] <= war["value"] <= war["ci"][1]
    for name in ("uar", "macro_f1", "cohen_kappa", "neutral_rate", "non_answer_rate"):
        assert table["runs"][1]["figures"][name]["ci"] is not None, name
    assert table["runs"][1]["non_answers"] == sum(
        p.outcome != "ok" for p in Run(b).predictions) > 0
    tested = [p for p in table["pairs"] if p["tested"]]
    assert {(p["a_index"], p["b_index"]) for p in tested} == {(0, 1), (0, 3), (1, 3)}
    untested = [p for p in table["pairs"] if not p["tested"]]
    assert all("share no samples" in p["reason"] for p in untested)
    assert any("share no samples" in n for n in table["notes"])
    # Holm over the three tested pairs.
    raw = [p["p_value"] for p in tested]
    assert [p["p_holm"] for p in tested] == pytest.approx(holm(raw))
    ab = next(p for p in tested if (p["a_index"], p["b_index"]) == (0, 1))
    assert ab["mcnemar"]["b10"] == 9 and ab["diff"]["accuracy"]["diff"] == pytest.approx(0.2)


def test_holm_bonferroni() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_runs_differing_only_in_an_option_are_labelled_by_it(tmp_path: Path) -> None:
    golds = _golds(7)
    mans = []
    for crop in (False, True):
        m = manifest(root=None, n=7)
        m["identity"] = {"dataset": {"name": "folder"}, "model": {"main": {"name": "mock/x"}},
                         "media": {"face_crop": crop, "max_side": 768},
                         "strategy": {"name": "single-shot",
                                      "options": {"media": {"face_crop": crop}}}}
        mans.append(m)
    paths = [write_run(tmp_path / f"r{i}", m, [pred(f"s{j}", g, g) for j, g in enumerate(golds)])
             for i, m in enumerate(mans)]
    assert run_labels(mans, paths) == ["face_crop=false", "face_crop=true"]
    table = build_table(paths, n_boot=100)
    assert [r["label"] for r in table["runs"]] == ["face_crop=false", "face_crop=true"]


def test_formats(tmp_path: Path) -> None:
    table = build_table(_three_runs(tmp_path), n_boot=200)
    md = render_table(table, "markdown")
    assert md.startswith("| run | model | snapshot |")
    assert "72.5 [" in md  # A's WAR in percent with its interval
    assert "Holm p" in md and " †" in md  # mock/ runs are marked simulated
    latex = render_table(table, "latex")
    assert r"\begin{tabular}" in latex and r"\toprule" in latex and "72.5 [" in latex
    assert r"\%" in latex and r"$\kappa$" in latex
    rows = list(csv.DictReader(io.StringIO(render_table(table, "csv"))))
    assert len(rows) == 3 and float(rows[0]["accuracy"]) == pytest.approx(29 / 40)
    assert rows[0]["simulated"] == "true"
    assert json.loads(render_table(table, "json"))["runs"][2]["n"] == 14
    with pytest.raises(ConfigError, match="choose one of markdown, latex, csv, json"):
        render_table(table, "xlsx")


def test_html_page_has_the_table_and_every_confusion_matrix(tmp_path: Path) -> None:
    runs = _three_runs(tmp_path)
    out = tmp_path / "cmp.html"
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "compare", *map(str, runs),
                           "--html", str(out), "--format", "latex"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert r"\begin{table}" in proc.stdout
    page = out.read_text(encoding="utf-8")
    assert page.count('class="mat"') == 3
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "share of the gold row" in page


def test_compare_a_run_of_three_on_the_cli_exits_0_and_one_folder_exits_2(
        tmp_path: Path) -> None:
    runs = _three_runs(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "compare", *map(str, runs)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n| ") >= 3
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "compare", str(runs[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "two or more run folders" in proc.stderr


def test_compare_of_two_unpaired_runs_is_a_table_not_an_error(tmp_path: Path) -> None:
    a, _, c = _three_runs(tmp_path)
    result = compare([a, c], n_boot=100)
    assert "n_paired" not in result
    assert not result["pairs"][0]["tested"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fingerprint": "0" * 64}, "dataset.fingerprint is"),
        ({"split": "train"}, "dataset.split is"),
        ({"name": "caer-s"}, "dataset.name is"),
        ({"labels": [lab for lab in LABELS if lab != "Neutral"]}, "label sets differ"),
    ],
)
def test_refuses_different_datasets(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    labels = change.pop("labels", LABELS)
    man_b = manifest(root=None, model="mock/b", labels=labels, **change)
    a, b = _pair_of_runs(tmp_path, both=3, only_a=1, only_b=1, neither=1, man_b=man_b)
    with pytest.raises(ConfigError, match=message) as info:
        compare_runs(a, b)
    assert "cannot compare" in str(info.value)


def test_refuses_runs_with_no_shared_samples(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", manifest(root=None), [pred("x/1.png", "Happy", "Happy")])
    b = write_run(tmp_path / "b", manifest(root=None), [pred("y/1.png", "Happy", "Happy")])
    with pytest.raises(ConfigError, match="share no labelled sample id"):
        compare_runs(a, b)


def test_refuses_gold_disagreement(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", manifest(root=None), [pred("x/1.png", "Happy", "Happy")])
    b = write_run(tmp_path / "b", manifest(root=None), [pred("x/1.png", "Sad", "Happy")])
    with pytest.raises(ConfigError, match="gold label 'Happy' in A but 'Sad' in B"):
        compare_runs(a, b)


def test_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", manifest(root=None), [pred("x/1.png", "Happy", "Happy")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a run directory"):
        compare_runs(a, tmp_path / "empty")
