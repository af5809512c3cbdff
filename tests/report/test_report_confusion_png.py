"""confusion_matrix.png: drawn with Pillow, the same bytes every time, whatever the labels."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageStat
from report_builders import SCRIPT_PROBE, manifest, neutral_biased_run, pred, write_run

from vlmfer.engine.rundir import RunFolder
from vlmfer.report.context import build_context
from vlmfer.report.figures import NON_ANSWER, SEPARATOR, blues, heat_map, oranges, rgb
from vlmfer.report.html import write_report


def _pixels(path: Path) -> tuple[tuple[int, int], dict[tuple[int, int, int], int]]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        rgb_img = img.convert("RGB")
    colours = {c: n for n, c in rgb_img.getcolors(maxcolors=1 << 20) or []}
    return rgb_img.size, colours


def test_the_png_is_the_heat_map_of_counts(tmp_path: Path) -> None:
    rd = RunFolder(neutral_biased_run(tmp_path))
    write_report(rd, thumbnails=False)
    png = rd.path / "confusion_matrix.png"
    (width, height), colours = _pixels(png)
    assert 400 < width < 1400 and 250 < height < 900
    with Image.open(png) as img:
        assert max(ImageStat.Stat(img.convert("RGB")).stddev) > 20, "blank image"
    # The cells are flat colour: every fill of the heat map is painted, a cell's worth each.
    metrics = json.loads(rd.metrics_path.read_text())
    heat = heat_map(build_context({}, metrics).confusion)
    for row in heat.cells:
        for cell in row:
            assert colours.get(rgb(cell.fill), 0) > 400, cell
    assert colours.get(rgb(blues(0.95)), 0) > 400  # Fear → Neutral, the largest count
    assert colours.get(rgb(oranges(0.05)), 0) > 24 * 400  # the empty non-answer cells
    assert colours.get(rgb(SEPARATOR), 0) > 2 * 7 * 30  # the bar before the non-answers
    assert colours.get(rgb(NON_ANSWER), 0) > 50  # their orange column labels


def test_the_same_metrics_give_the_same_bytes(tmp_path: Path) -> None:
    rd = RunFolder(neutral_biased_run(tmp_path))
    write_report(rd, thumbnails=False)
    first = (rd.path / "confusion_matrix.png").read_bytes()
    write_report(rd, thumbnails=False)
    assert (rd.path / "confusion_matrix.png").read_bytes() == first


def test_odd_labels_never_fail(tmp_path: Path) -> None:
    labels = ["$5 smile", "a<b & c", "快乐", "Überraschung 😮", "tab\there\nnewline\x00",
              SCRIPT_PROBE, "an exceedingly long label name that goes on and on " * 4]
    preds = [pred(f"{i}.png", gold, labels[(i + 1) % len(labels)])
             for i, gold in enumerate(labels)]
    preds.append(pred("x.png", labels[0], "refused"))
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    write_report(rd, thumbnails=False)
    (width, height), _ = _pixels(rd.path / "confusion_matrix.png")
    # The long label is cut, so the image keeps a sensible size.
    assert 300 < width < 1600 and 200 < height < 1000


def test_a_metrics_file_without_a_matrix_still_gives_a_png(tmp_path: Path) -> None:
    run = neutral_biased_run(tmp_path)
    (run / "metrics.json").write_text(json.dumps({"n": 3, "accuracy": 0.5}), encoding="utf-8")
    write_report(RunFolder(run), thumbnails=False)
    (width, height), _ = _pixels(run / "confusion_matrix.png")
    assert width >= 300 and height >= 40
