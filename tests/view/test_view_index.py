"""The viewer's index of predictions.jsonl: offsets, the cache, rebuilds, read-only folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from view_builders import mock_run, stills

from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import ConfigError
from vlmfer.view import Catalog, Filters, RunIndex, ViewRun, view_cache_dir


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("index")
    return mock_run(tmp, stills(tmp / "CAER-S", 3), "caer-s", "mock/uniform", "run")


def _copy(run: Path, to: Path) -> Path:
    to.mkdir()
    for name in ("manifest.json", "predictions.jsonl"):
        (to / name).write_bytes((run / name).read_bytes())
    return to


def test_rows_read_by_offset_match_the_file(small_run: Path) -> None:
    preds = list(RunFolder(small_run).iter_predictions())
    index = RunIndex(small_run / "predictions.jsonl", None)
    rows = index.rows()
    assert [r.sample_id for r in rows] == [p.sample_id for p in preds]
    for row, pred in zip(rows, preds, strict=True):
        assert index.read(row) == pred
        assert (row.gold, row.pred, row.outcome) == (pred.gold, pred.pred, pred.outcome)


def test_the_index_is_cached_in_the_run_folder_and_rebuilt_on_change(
    small_run: Path, tmp_path: Path
) -> None:
    run = _copy(small_run, tmp_path / "run")
    first = ViewRun(run)
    n = len(first.index.rows())
    assert first.index.source == "built"
    assert (run / ".view" / "index.json").is_file()
    again = ViewRun(run)
    assert len(again.index.rows()) == n and again.index.source == "cached"

    # A run still being written: a new finished line, and a torn one after it.
    preds = (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(preds[0])
    record["sample_id"] = "test/Anger/extra.jpg"
    with (run / "predictions.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n" + preds[1][:40])
    rows = first.index.rows()
    assert first.index.source == "built"
    assert len(rows) == n + 1
    assert rows[-1].sample_id == "test/Anger/extra.jpg"


def test_first_line_of_a_sample_wins(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path / "run")
    lines = (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    dup = json.loads(lines[0])
    dup["steps"][0]["response_text"] = "a later duplicate"
    with (run / "predictions.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(dup) + "\n")
    rows = ViewRun(run).index.rows()
    assert len(rows) == len(lines)
    assert "a later duplicate" not in rows[0].text


def test_a_read_only_run_folder_caches_elsewhere(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path / "shared-run")
    # Root ignores permission bits, so make the cache folder impossible to create instead.
    (run / ".view").write_text("not a folder", encoding="utf-8")
    before = sorted(p.name for p in run.iterdir())
    cache, in_run = view_cache_dir(run)
    assert not in_run and not cache.is_relative_to(run)
    view = ViewRun(run)
    assert len(view.index.rows()) == 21
    assert (view.cache_dir / "index.json").is_file()
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_corrupt_line_names_the_file_and_line(small_run: Path, tmp_path: Path) -> None:
    run = _copy(small_run, tmp_path / "run")
    lines = (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = "{not json"
    (run / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"predictions.jsonl:3: not a valid prediction"):
        ViewRun(run).index.rows()


def test_not_a_run_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run directory"):
        ViewRun(tmp_path)


def test_filters_and_pages(small_run: Path) -> None:
    catalog = Catalog.open([small_run])
    preds = list(RunFolder(small_run).iter_predictions())
    everything = catalog.page(Filters(size=5))
    assert (everything["total"], everything["pages"], len(everything["items"])) == (21, 5, 5)
    last = catalog.page(Filters(size=5, page=4))
    assert [i["sample_id"] for i in last["items"]] == [preds[20].sample_id]

    wrong = next(p for p in preds if p.pred != p.gold)
    cell = catalog.page(Filters(gold=wrong.gold or "", pred=wrong.pred or "", size=200))
    expected = [p.sample_id for p in preds if (p.gold, p.pred) == (wrong.gold, wrong.pred)]
    assert [i["sample_id"] for i in cell["items"]] == expected
    matrix = catalog.runs[0].confusion()
    i, j = matrix["rows"].index(wrong.gold), matrix["cols"].index(wrong.pred)
    assert matrix["counts"][i][j] == len(expected)

    text = (wrong.steps[-1].response_text or "").upper()
    found = catalog.page(Filters(q=text, size=200))
    assert wrong.sample_id in [i["sample_id"] for i in found["items"]]
    assert catalog.page(Filters(outcome="refused"))["total"] == 0
    with pytest.raises(ConfigError, match="choose one of ok, invalid"):
        catalog.page(Filters(outcome="wrong"))
