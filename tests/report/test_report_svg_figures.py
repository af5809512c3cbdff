"""The report's figures: inline SVG drawn from the metrics, escaped, with no matplotlib."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from report_builders import LABELS, manifest, neutral_biased_run, pred, write_run

from vlmfer.engine.rundir import RunFolder
from vlmfer.report.figures import NEUTRAL, NON_ANSWER, blues, oranges, rgb
from vlmfer.report.html import write_report

SVG = re.compile(r"<svg\b.*?</svg>", flags=re.S)
FIGURES = ("confusion matrix, counts", "confusion matrix, row-normalised",
           "per-class recall, precision and F1", "predicted vs gold label distribution")
# The label of a hostile dataset: markup, a quote and an ampersand.
HOSTILE = '<script>alert(1)</script> "x" & y'


def _svgs(page: str) -> dict[str, ET.Element]:
    """Every inline SVG of the page, parsed, by its accessible name."""
    out = {}
    for text in SVG.findall(page):
        svg = ET.fromstring(text)  # well-formed XML, entities and all
        out[svg.get("aria-label") or ""] = svg
    return out


def _rects(svg: ET.Element, cls: str) -> list[ET.Element]:
    return [r for r in svg.iter("rect") if r.get("class") == cls]


def _cell_texts(svg: ET.Element) -> list[ET.Element]:
    return [t for t in svg.iter("text") if t.get("class") == "value"]


def _cell_words(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in _cell_texts(svg)]


def _words(svg: ET.Element) -> list[str]:
    """The text of every <text>, without its tooltip."""
    out = []
    for t in svg.iter("text"):
        tip = t.find("title")
        out.append((t.text if tip is None else tip.tail) or "")
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    rd = RunFolder(neutral_biased_run(tmp_path_factory.mktemp("svg")))
    page = write_report(rd, thumbnails=False).read_text(encoding="utf-8")
    return json.loads(rd.metrics_path.read_text()), page


def test_every_figure_is_an_accessible_inline_svg(run: tuple[dict[str, Any], str]) -> None:
    _, page = run
    svgs = _svgs(page)
    assert sorted(svgs) == sorted(FIGURES)
    for name, svg in svgs.items():
        assert svg.get("role") == "img"
        assert svg[0].tag == "title" and svg[0].text == name
        width, height = float(svg.get("width") or 0), float(svg.get("height") or 0)
        assert svg.get("viewBox") == f"0 0 {svg.get('width')} {svg.get('height')}"
        assert 200 < width < 1200 and 150 < height < 1000, (name, width, height)
    assert "<img" not in page  # no PNG left: thumbnails are off here
    assert "data:image/png" not in page


def test_confusion_counts_cell_by_cell(run: tuple[dict[str, Any], str]) -> None:
    metrics, page = run
    cm = metrics["confusion_matrix"]
    labels, columns, matrix = cm["labels"], cm["columns"], cm["matrix"]
    svg = _svgs(page)["confusion matrix, counts"]
    cells = _rects(svg, "cell") + _rects(svg, "cell na")
    assert len(cells) == len(labels) * len(columns) == 7 * 11
    assert len(_rects(svg, "cell na")) == 7 * 4
    assert len(_rects(svg, "diagonal")) == 7
    tips = {r.find("title").text for r in cells}  # type: ignore[union-attr]
    for gold, row in zip(labels, matrix, strict=True):
        for col, count in zip(columns, row, strict=True):
            share = f" ({100 * count / sum(row):.1f} % of {sum(row)})"
            assert f"gold {gold} → {col}: {count}{share}" in tips
    # Each cell writes its count ("·" for none), row by row.
    assert _cell_words(svg) == [str(c) if c else "·" for row in matrix for c in row]
    words = _words(svg)
    for axis in ("gold", "predicted", "non-answers", "Counts", "Fear (n=7)"):
        assert axis in words
    # The non-answer columns: orange cells and labels, behind a dark bar.
    na = _rects(svg, "cell na")
    assert {r.get("fill") for r in na} <= {oranges(0.05 + 0.9 * v / 4) for v in range(5)}
    assert {t.get("fill") for t in svg.iter("text") if t.text == "refused"} == {NON_ANSWER}
    assert [ln for ln in svg.iter("line") if ln.get("stroke-width") == "2.0"]
    # Fear → Neutral (4) is the largest count: the darkest blue, with white text.
    darkest = blues(0.95)
    assert [r for r in cells if r.get("fill") == darkest]


def test_row_normalised_cells_are_percentages(run: tuple[dict[str, Any], str]) -> None:
    _, page = run
    svg = _svgs(page)["confusion matrix, row-normalised"]
    assert len(_rects(svg, "cell")) + len(_rects(svg, "cell na")) == 77
    words = _cell_words(svg)
    # Fear: 3 of 7 right, 4 of 7 answered Neutral; Neutral: 3 of 3 right.
    fear, neutral = 11 * 2, 11 * 4
    assert words[fear + 2] == "43%" and words[fear + 4] == "57%"
    assert words[neutral + 4] == "100%"


def _contrast(a: str, b: str) -> float:
    def lum(c: str) -> float:
        ch = [v / 255 for v in rgb(c)]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_cell_text_is_readable_on_its_colour(run: tuple[dict[str, Any], str]) -> None:
    _, page = run
    for name in FIGURES[:2]:
        svg = _svgs(page)[name]
        cells = [r for r in svg.iter("rect") if (r.get("class") or "").startswith("cell")]
        texts = _cell_texts(svg)
        assert len(texts) == len(cells)
        for rect, text in zip(cells, texts, strict=True):  # drawn in the same order
            assert _contrast(rect.get("fill") or "", text.get("fill") or "") >= 4.5, (
                name, rect.get("fill"), text.get("fill"))


def test_distribution_bars(run: tuple[dict[str, Any], str]) -> None:
    metrics, page = run
    svg = _svgs(page)["predicted vs gold label distribution"]
    gold, predicted = _rects(svg, "bar gold"), _rects(svg, "bar predicted")
    assert len(gold) == len(LABELS) and len(predicted) == len(LABELS) + 1  # + non-answers
    height = {r.find("title").text: float(r.get("height") or 0)  # type: ignore[union-attr]
              for r in gold + predicted}
    n = metrics["n"]
    # The Neutral bias: 15 answers Neutral against 3 gold Neutral, five times the bar.
    assert height[f"Neutral: predicted {100 * 15 / n:.1f} % (15 of {n})"] == pytest.approx(
        5 * height[f"Neutral: gold {100 * 3 / n:.1f} % (3 of {n})"], abs=0.2)
    fills = [r.get("fill") for r in predicted]
    assert fills[LABELS.index("Neutral")] == NEUTRAL and fills[-1] == NON_ANSWER
    assert "non-answer" in _words(svg) and "predicted Neutral" in _words(svg)


def test_per_class_bars(run: tuple[dict[str, Any], str]) -> None:
    metrics, page = run
    svg = _svgs(page)["per-class recall, precision and F1"]
    per_class = metrics["per_class"]
    for cls, key in (("bar recall", "recall"), ("bar precision", "precision"),
                     ("bar f1", "f1")):
        bars = _rects(svg, cls)
        assert len(bars) == len(LABELS)
        full = max(float(b.get("width") or 0) for b in bars) / max(
            v[key] for v in per_class.values())
        for bar, label in zip(bars, LABELS, strict=True):
            assert float(bar.get("width") or 0) == pytest.approx(
                full * per_class[label][key], abs=0.2)


def test_undefined_scores_are_dashes_not_bars(tmp_path: Path) -> None:
    # "Sad" is never predicted and has no gold sample: no precision, no recall.
    labels = ["Happy", "Sad"]
    preds = [pred("a.png", "Happy", "Happy"), pred("b.png", "Happy", "refused")]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    svg = _svgs(write_report(rd).read_text(encoding="utf-8"))[FIGURES[2]]
    assert len(_rects(svg, "bar recall")) == 1
    assert _words(svg).count("—") == 3


def test_label_markup_is_escaped_inside_the_svg(tmp_path: Path) -> None:
    labels = ["Happy", HOSTILE, "Neutral"]
    preds = [pred("1.png", HOSTILE, "Happy"), pred("2.png", "Happy", HOSTILE),
             pred("3.png", "Neutral", "Neutral")]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "<script" not in page
    escaped = html.escape(HOSTILE, quote=True).replace("&quot;", "&#34;").replace(
        "&#x27;", "&#39;")
    svgs = SVG.findall(page)
    assert len(svgs) == 4
    for text in svgs:  # every figure names the label
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert escaped in text  # whole, in a tooltip; the shown text is cut at 24
        assert "&#34;x&#34;" in text
    # Parsed back, the label is text: the same string, never an element.
    svg = _svgs(page)["confusion matrix, counts"]
    assert "script" not in {el.tag for el in svg.iter()}
    assert any(t.text == HOSTILE for t in svg.iter("title"))


def test_odd_and_long_labels_are_cut_with_the_full_name_as_tooltip(tmp_path: Path) -> None:
    long = "Überraschung, sehr lange Bezeichnung einer Klasse"
    labels = [long, "快乐", "$5 smile"]
    preds = [pred("1.png", long, "快乐"), pred("2.png", "快乐", "$5 smile"),
             pred("3.png", "$5 smile", long)]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    svg = _svgs(write_report(rd).read_text(encoding="utf-8"))["confusion matrix, counts"]
    words = _words(svg)
    assert "Überraschung, sehr lang… (n=1)" in words and "快乐 (n=1)" in words
    assert "$5 smile" in words
    assert long in {t.text for t in svg.iter("title")}
    assert float(svg.get("width") or 0) < 900


# --- no matplotlib on the way ----------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    # The child imports the vlmfer under test, whatever the working directory.
    import vlmfer

    src = str(Path(vlmfer.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "VLMFER_CACHE_DIR": str(tmp_path / "cache")}


def _imports_no_matplotlib(tmp_path: Path, *lines: str) -> None:
    """Run ``lines`` in a fresh interpreter; no matplotlib module may be loaded after."""
    code = "\n".join(["import sys", *lines,
                      "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]", proc.stdout


def test_write_report_imports_no_matplotlib(tmp_path: Path) -> None:
    run = neutral_biased_run(tmp_path)
    _imports_no_matplotlib(tmp_path, "from vlmfer.engine.rundir import RunFolder",
                           "from vlmfer.report.html import write_report",
                           f"write_report(RunFolder({str(run)!r}))")
    assert (run / "report.html").is_file() and (run / "confusion_matrix.png").is_file()


def test_vlmfer_run_imports_no_matplotlib(tmp_path: Path) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    data = tmp_path / "CAER-S"
    make_caer_s_like(data, per_class=2, splits=("test",), size=(64, 48))
    out = tmp_path / "run"
    argv = ["run", "--dataset", "caer-s", "--data-root", str(data), "--split", "test",
            "--model", "mock/neutral-biased", "--out", str(out), "--quiet"]
    _imports_no_matplotlib(tmp_path, "from vlmfer.cli import main", f"assert main({argv!r}) == 0")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(SVG.findall(page)) == 4
    assert (out / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")


def test_the_colours_are_matplotlibs_blues_and_oranges() -> None:
    # The paper figures (plots.py) draw with matplotlib's colour maps; the report matches.
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    for i in range(101):
        t = i / 100
        assert blues(t) == to_hex(colormaps["Blues"](t))
        assert oranges(t) == to_hex(colormaps["Oranges"](t))
