"""predictions.jsonl is append-only and survives a torn tail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmfer.engine.rundir import RunDir, read_predictions
from vlmfer.errors import ConfigError
from vlmfer.types import Prediction


def _pred(i: int) -> Prediction:
    return Prediction(sample_id=f"s{i}", gold="Happy", pred="Happy", outcome="ok")


def test_append_then_read_back(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    for i in range(3):
        rd.append(_pred(i))
    rd.close()
    assert [p.sample_id for p in rd.finished()] == ["s0", "s1", "s2"]


def test_torn_tail_is_truncated_on_repair(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    good = "".join(_pred(i).model_dump_json() + "\n" for i in range(2))
    path.write_text(good + _pred(2).model_dump_json()[:20])
    assert len(read_predictions(path)) == 2
    assert path.read_text() != good  # reading alone does not modify
    read_predictions(path, repair=True)
    assert path.read_text() == good


def test_corrupt_line_in_the_middle_is_an_error_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text(_pred(0).model_dump_json() + "\n{oops}\n" + _pred(1).model_dump_json() + "\n")
    with pytest.raises(ConfigError, match=r"predictions.jsonl:2"):
        read_predictions(path)


def test_duplicate_lines_count_once(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_text((_pred(0).model_dump_json() + "\n") * 2)
    assert len(read_predictions(path)) == 1


def _answer(sample: str, label: str) -> str:
    pred = Prediction(sample_id=sample, gold="Happy", pred=label, outcome="ok")
    return pred.model_dump_json() + "\n"


def test_a_duplicated_sample_keeps_its_first_line_everywhere(tmp_path: Path) -> None:
    """A second line for a finished sample (a resume after a torn write) never replaces the
    answer that was recorded first, whichever way the file is read."""
    rd = RunDir(tmp_path)
    rd.predictions_path.write_text(_answer("s0", "Happy") + _answer("s1", "Sad")
                                   + _answer("s0", "Anger") + _answer("s1", "Fear"))
    first = [("s0", "Happy"), ("s1", "Sad")]
    assert [(p.sample_id, p.pred) for p in read_predictions(rd.predictions_path)] == first
    assert [(p.sample_id, p.pred) for p in rd.finished()] == first
    assert [(p.sample_id, p.pred) for p in rd.iter_predictions()] == first


def test_drop_removes_every_line_of_a_sample_and_keeps_the_rest(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.predictions_path.write_text(_answer("s0", "Happy") + _answer("s1", "Sad")
                                   + _answer("s2", "Fear") + _answer("s0", "Anger"))
    rd.drop({"s0", "s2"})
    assert rd.predictions_path.read_text() == _answer("s1", "Sad")
    rd.drop(set())
    assert rd.predictions_path.read_text() == _answer("s1", "Sad")


def test_non_answers_cannot_carry_a_label() -> None:
    with pytest.raises(ValueError, match="must not carry a label"):
        Prediction(sample_id="x", gold="Sad", pred="Neutral", outcome="refused")
    with pytest.raises(ValueError, match="needs a predicted label"):
        Prediction(sample_id="x", gold="Sad", pred=None, outcome="ok")


def test_missing_manifest_says_what_a_run_dir_is(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run directory"):
        RunDir(tmp_path).read_manifest()


def test_blank_lines_are_skipped_not_the_end(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.predictions_path.write_text(_answer("s0", "Happy") + "\n" + _answer("s1", "Sad"))
    assert [p.sample_id for p in read_predictions(rd.predictions_path)] == ["s0", "s1"]
    assert [p.sample_id for p in rd.iter_predictions()] == ["s0", "s1"]


def test_a_corrupt_line_is_named_by_file_and_number_in_every_reader(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.predictions_path.write_text(_answer("s0", "Happy") + "{oops}\n")
    want = (f"{rd.predictions_path}:2: not a valid prediction (ValidationError); the file is "
            "corrupt: fix or delete that line, then run again")
    for read in (lambda: read_predictions(rd.predictions_path), lambda: list(
            rd.iter_predictions())):
        with pytest.raises(ConfigError) as info:
            read()
        assert str(info.value) == want


def test_finished_cuts_a_torn_tail_and_iter_stops_before_it(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.predictions_path.write_text(_answer("s0", "Happy") + _answer("s1", "Sad")[:15])
    assert [p.sample_id for p in rd.iter_predictions()] == ["s0"]
    assert [p.sample_id for p in rd.finished()] == ["s0"]
    assert rd.predictions_path.read_text() == _answer("s0", "Happy")


def test_drop_of_nothing_leaves_the_file_as_it_is(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    torn = _answer("s0", "Happy") + _answer("s1", "Sad")[:15]
    rd.predictions_path.write_text(torn)
    rd.drop(set())
    assert rd.predictions_path.read_text() == torn
    RunDir(tmp_path / "none").drop({"s0"})
    assert not (tmp_path / "none").exists()


def test_appending_makes_the_folders_and_close_can_be_repeated(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "runs" / "a")
    rd.append(_pred(0))
    rd.close()
    rd.close()
    rd.append(_pred(1))  # reopens
    rd.close()
    assert [p.sample_id for p in rd.finished()] == ["s0", "s1"]


def test_the_manifest_round_trips_without_credentials(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    manifest = {"model": {"base_url": "https://user:secret@example.test/v1"}, "note": "Überblick"}
    rd.write_manifest(manifest)
    assert rd.exists()
    back = rd.read_manifest()
    assert back["note"] == "Überblick" and "secret" not in json.dumps(back)
    assert [p.name for p in rd.path.iterdir()] == ["manifest.json"]  # no temporary left


def test_a_manifest_that_is_not_json_says_so(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.manifest_path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"manifest.json: not valid JSON \(Expecting"):
        rd.read_manifest()
    with pytest.raises(ConfigError, match=r"not a run directory \(no manifest.json\); pass the "
                                          r"--out folder of a `vlmfer run`"):
        RunDir(tmp_path / "empty").read_manifest()


def test_resuming_another_experiment_is_refused_with_the_differences(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    identity = {"model": {"main": {"name": "openai/gpt-4o"}}, "mode": "online"}
    rd.check_identity(identity)  # nothing there yet
    rd.write_manifest({"identity": identity})
    rd.check_identity(identity)
    # A key only one vlmfer version records is not a difference.
    rd.check_identity({**identity, "strategy": {"name": "single-shot"}})
    with pytest.raises(ConfigError) as info:
        rd.check_identity({"model": {"main": {"name": "openai/gpt-4.1"}}, "mode": "batch"})
    assert str(info.value) == (
        f"{tmp_path} holds a different experiment (mode: was 'online', now 'batch'; "
        "model.main.name: was 'openai/gpt-4o', now 'openai/gpt-4.1'). Resume it with the "
        "same settings, or choose another --out")


def test_the_manifest_is_indented_json_in_the_order_written(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "runs" / "a")
    rd.write_manifest({"b": 1, "a": {"path": Path("data/x.png")}})
    assert rd.manifest_path.read_text() == (
        '{\n  "b": 1,\n  "a": {\n    "path": "data/x.png"\n  }\n}\n')


def test_identity_checks_compare_only_what_both_record(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    rd.write_manifest({"started": "then"})  # written before identities were recorded
    rd.check_identity({"mode": "online"})
    rd.write_manifest({"identity": {f"k{i}": i for i in range(8)} | {"model": {"a": 1}}})
    changed = {f"k{i}": -i - 1 for i in range(8)} | {"model": "openai/gpt-4o"}
    with pytest.raises(ConfigError) as info:
        rd.check_identity(changed)
    shown = str(info.value)
    assert shown.count("was ") == 6  # the first six differences, in key order
    assert "k0: was 0, now -1; k1: was 1, now -2" in shown and "k6:" not in shown
    rd.write_manifest({"identity": {"model": {"a": 1}}})
    with pytest.raises(ConfigError, match=r"model: was \{'a': 1\}, now 'openai/gpt-4o'"):
        rd.check_identity({"model": "openai/gpt-4o"})


def test_timestamps_are_utc_to_the_second() -> None:
    from datetime import datetime, timedelta

    from vlmfer.engine.rundir import utcnow

    stamp = datetime.fromisoformat(utcnow())
    assert stamp.utcoffset() == timedelta(0) and stamp.microsecond == 0
    assert utcnow().endswith("+00:00") and len(utcnow()) == len("2026-01-01T00:00:00+00:00")
