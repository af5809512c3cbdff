"""``vlmfer import``: answers that already exist, scored as a normal run folder.

The fixtures are small synthetic files in the format of a published study's released raw
outputs (``name,gt,gpt4v`` with a quoted, ranked top-5 list), never the data itself.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.importing import NO_ANSWER, import_answers

# (id, gold, ranked answer); "" is an empty answer cell.
RANKED = [
    ("a1.jpg", "Happiness", "Happiness,Surprise,Neutral,Fear,Disgust"),
    ("a2.jpg", "Happiness", "Neutral,Happiness,Surprise,Fear,Sadness"),
    ("a3.jpg", "Sadness", "Sadness,Neutral,Disgust,Fear,Anger"),
    ("a4.jpg", "Sadness", "Neutral,Sadness,Fear,Anger,Disgust"),
    ("a5.jpg", "Neutral", "Neutral,Sadness,Anger,Disgust,Fear"),
    ("a6.jpg", "Neutral", "Concentration,Neutral,Sadness,Anger,Fear"),  # out of set: invalid
    ("a7.jpg", "Anger", "Anger,Disgust,Contempt,Neutral,Sadness"),
    ("a8.jpg", "Anger", "Disgust,Fear,Sadness,Neutral,Happiness"),
]
MISSING = [("a9.jpg", "Anger"), ("a10.jpg", "Happiness")]  # in the sample list, unanswered


def _write_csv(path: Path, header: list[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture()
def released(tmp_path: Path) -> tuple[Path, Path]:
    answers = _write_csv(tmp_path / "label-gpt4v.csv", ["name", "gt", "gpt4v"], RANKED)
    samples = _write_csv(tmp_path / "label.csv", ["name", "gt", "gpt4v"],
                         [(i, g, "") for i, g, _ in RANKED] + [(i, g, "") for i, g in MISSING])
    return answers, samples


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vlmfer", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ranked_release_reproduces_the_answered_only_table(
        released: tuple[Path, Path], tmp_path: Path) -> None:
    answers, samples = released
    out = tmp_path / "run"
    proc = _cli("import", str(answers), "--out", str(out), "--samples", str(samples),
                "--id-column", "name", "--gold-column", "gt", "--answer-column", "gpt4v",
                "--answer-format", "ranked", "--model", "openai/gpt-4-vision-preview",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    # Top-1 right: a1, a3, a5, a7 of the 8 answered. a6's "Concentration" and a8's "Disgust"
    # are outside the label set: answered, and wrong.
    assert m["answered_only"]["n"] == 8
    assert m["answered_only"]["accuracy"] == pytest.approx(4 / 8)
    # The headline counts the two unanswered samples as wrong.
    assert m["n"] == 10 and m["accuracy"] == pytest.approx(4 / 10)
    assert m["outcomes"] == {"ok": 6, "invalid": 2, "refused": 0, "blocked": 0, "error": 2}
    assert m["error_reasons"] == {NO_ANSWER: 2}
    # UAR over answered samples: Anger 1/2, Happiness 1/2, Neutral 1/2, Sadness 1/2.
    assert m["answered_only"]["uar"] == pytest.approx(0.5)
    # The label set is the sorted set of gold values.
    assert m["confusion_matrix"]["labels"] == ["Anger", "Happiness", "Neutral", "Sadness"]
    top = m["top_k"]["answered_only"]["accuracy"]
    assert top["1"] == pytest.approx(4 / 8) and top["2"] == pytest.approx(7 / 8)
    assert m["top_k"]["accuracy"]["2"] == pytest.approx(7 / 10)
    lo, hi = m["top_k"]["ci"]["1"]
    assert lo <= 4 / 10 <= hi
    manifest = json.loads((out / "manifest.json").read_text())
    import hashlib

    assert manifest["source"]["answers"]["sha256"] == hashlib.sha256(
        answers.read_bytes()).hexdigest()
    assert manifest["model"]["name"] == "openai/gpt-4-vision-preview"
    assert (out / "report.html").is_file()
    assert "answered only: n=8" in proc.stdout


def test_label_map_onto_caer_labels_any_case(tmp_path: Path) -> None:
    rows = [("1", "happiness", "Happy,Neutral"), ("2", "ANGRY", "anger,fear"),
            ("3", "contempt", "contempt,disgust"), ("4", "neutral", "sadness,neutral")]
    answers = _write_csv(tmp_path / "a.csv", ["id", "gold", "answer"], rows)
    labels = [*vlmfer.CAER_LABELS, "Contempt"]
    run = import_answers(answers, tmp_path / "run", answer_format="ranked", labels=labels,
                         label_map="Happiness=Happy,Angry=Anger,Sadness=Sad")
    preds = {p.sample_id: p for p in run.predictions}
    assert [preds[i].gold for i in "1234"] == ["Happy", "Anger", "Contempt", "Neutral"]
    assert [preds[i].pred for i in "1234"] == ["Happy", "Anger", "Contempt", "Sad"]
    assert run.metrics["confusion_matrix"]["labels"] == labels
    assert run.metrics["neutral_rate"] == pytest.approx(0.0)


def test_lowercase_neutral_is_the_neutral_of_the_run(tmp_path: Path) -> None:
    rows = [("1", "neutral", "neutral"), ("2", "anger", "neutral"), ("3", "contempt", "anger")]
    answers = _write_csv(tmp_path / "a.csv", ["id", "gold", "answer"], rows)
    run = import_answers(answers, tmp_path / "run", answer_format="label")
    assert run.metrics["neutral_rate"] == pytest.approx(2 / 3)


def test_text_answers_are_parsed_with_outcomes_as_in_a_live_run(tmp_path: Path) -> None:
    rows = [
        {"id": "s1", "gold": "Happy", "answer": "The person looks happy."},
        {"id": "s2", "gold": "Sad", "answer": "I'm sorry, but I can't help with identifying "
         "people's emotions."},
        {"id": "s3", "gold": "Fear", "answer": "Either fear or surprise."},
        {"id": "s4", "gold": "Anger", "answer": ""},
    ]
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = import_answers(answers, tmp_path / "run", labels=list(vlmfer.CAER_LABELS))
    by = {p.sample_id: p for p in run.predictions}
    assert (by["s1"].outcome, by["s1"].pred) == ("ok", "Happy")
    assert by["s2"].outcome == "refused"
    assert by["s3"].outcome == "invalid" and by["s3"].pred is None
    assert by["s4"].outcome == "error" and NO_ANSWER in (by["s4"].reason or "")
    assert run.metrics["answered_only"]["n"] == 2  # ok and invalid; refused/error left out


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([("1", "Happy", "Happy")], {"answer_column": "gpt4v"},
         r"a\.csv:2: no column 'gpt4v' .*--answer-column"),
        ([("1", "Happy", "Happy"), ("2", "Joy", "Happy")],
         {"labels": ["Happy", "Sad"]}, r"a\.csv:3: gold label 'Joy' is not in the label set"),
        ([("1", "Happy", "Happy"), ("1", "Sad", "Sad")], {},
         r"a\.csv:3: duplicate id '1' \(first at .*a\.csv:2\)"),
    ],
    ids=["missing column", "unknown label", "duplicate id"],
)
def test_bad_input_names_the_row(tmp_path: Path, rows: list[tuple[str, ...]],
                                 kwargs: dict[str, Any], message: str) -> None:
    answers = _write_csv(tmp_path / "a.csv", ["id", "gold", "answer"], rows)
    with pytest.raises(ConfigError, match=message):
        import_answers(answers, tmp_path / "run", answer_format="label", **kwargs)


def test_bad_input_exits_2_from_the_cli(tmp_path: Path) -> None:
    answers = _write_csv(tmp_path / "a.csv", ["name", "gt", "x"], [("1", "Happy", "Happy")])
    proc = _cli("import", str(answers), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "no column 'id'" in proc.stderr and "--id-column" in proc.stderr


def test_ids_match_the_sample_list_by_file_stem(tmp_path: Path) -> None:
    answers = _write_csv(tmp_path / "a.csv", ["name", "gt", "p"],
                         [("ab12.jpg", "Happy", "Happy"), ("cd34.jpg", "Sad", "Happy")])
    samples = _write_csv(tmp_path / "s.csv", ["name", "gt", "p"],
                         [("1/AB12.JPG", "Happy", ""), ("5/cd34.jpg", "Sad", ""),
                          ("5/ef56.jpg", "Sad", "")])
    run = import_answers(answers, tmp_path / "run", samples=samples, id_column="name",
                         gold_column="gt", answer_column="p", answer_format="label")
    assert {p.sample_id: p.outcome for p in run.predictions} == {
        "1/AB12.JPG": "ok", "5/cd34.jpg": "ok", "5/ef56.jpg": "error"}
    assert run.manifest["strategy"]["options"]["id_match"] == "file-stem"


def test_round_trip_of_a_live_run(tmp_path: Path) -> None:
    """A run's own answers (id, gold, final step's text) import to identical metrics."""
    from vlmfer.datasets.synthetic import make_caer_s_like
    from vlmfer.emulator import Emulator, EmulatorConfig
    from vlmfer.engine.cache import ResponseCache
    from vlmfer.engine.core import EngineOptions

    make_caer_s_like(tmp_path / "CAER-S", per_class=3, splits=("test",))
    dataset = vlmfer.get_dataset("caer-s", root=tmp_path / "CAER-S", split="test")
    with Emulator(EmulatorConfig(policy="neutral-biased", seed=3), port=0) as emu:
        predictor = vlmfer.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                         api_key="k")
        run = asyncio.run(vlmfer.evaluate_async(
            dataset, predictor, vlmfer.get_strategy("single-shot"), out=tmp_path / "live",
            options=EngineOptions(progress=False),
            cache=ResponseCache(tmp_path / "c.sqlite3")))
    rows = [(p.sample_id, str(p.gold), p.steps[-1].response_text or "")
            for p in run.predictions]
    answers = _write_csv(tmp_path / "answers.csv", ["id", "gold", "answer"], rows)
    imported = import_answers(answers, tmp_path / "imported", answer_format="text",
                              labels=list(run.manifest["labels"]))
    live, back = run.metrics, imported.metrics
    assert len({p.outcome for p in run.predictions}) > 1 or live["accuracy"] < 1
    for key in ("n", "accuracy", "uar", "macro_f1", "cohen_kappa", "neutral_rate", "ci",
                "confusion_matrix", "per_class", "outcomes", "answered_only",
                "excluding_neutral", "predicted_distribution"):
        assert back[key] == live[key], key
    assert [(p.sample_id, p.pred, p.outcome) for p in imported.predictions] == [
        (p.sample_id, p.pred, p.outcome) for p in run.predictions]


def test_report_and_compare_accept_an_imported_run(
        released: tuple[Path, Path], tmp_path: Path) -> None:
    answers, samples = released
    common = ["--id-column", "name", "--gold-column", "gt", "--answer-column", "gpt4v"]
    for out, fmt in (("ranked", "ranked"), ("text", "text")):
        proc = _cli("import", str(answers), "--out", str(tmp_path / out), "--samples",
                    str(samples), *common, "--answer-format", fmt, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    proc = _cli("report", str(tmp_path / "ranked"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _cli("compare", str(tmp_path / "ranked"), str(tmp_path / "text"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "answer_format=ranked" in proc.stdout and "answer_format=text" in proc.stdout
