"""predictions.jsonl is append-only and survives a torn tail."""

from __future__ import annotations

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
