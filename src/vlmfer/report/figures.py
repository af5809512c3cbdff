"""The report's figures as shapes: what each one shows, in which colour, and where.

The HTML report draws them as inline SVG: ``templates/report/figures.html.j2`` writes out the
rectangles, lines and texts computed here, and autoescape covers every label, so a label a
model or a dataset made up stays text. ``confusion_matrix.png`` is drawn with Pillow from the
same heat-map cells (:mod:`vlmfer.report.confusion_png`). Nothing here imports matplotlib:
only the paper figures of :mod:`vlmfer.report.plots` are drawn with it.

Sizes are CSS pixels. The browser picks the font, so text widths are estimated from the
number of characters, generously; a long label is cut, with the full text as a tooltip.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from vlmfer.report.formatting import pct
from vlmfer.types import NON_ANSWERS

if TYPE_CHECKING:
    from vlmfer.report.context import Confusion, DistributionRow, PerClassRow, ReportContext

# Colours: labels in blue, non-answers in orange, gold in grey, Neutral in red.
GOLD = "#9aa0a6"
PRED = "#3b78c2"
NEUTRAL = "#c0392b"
NON_ANSWER = "#e67e22"
#: F1, the third bar of the per-class figure.
F1 = "#4a5160"
INK = "#222222"
#: A row with no gold sample has no normalised value.
EMPTY = "#ededed"
SEPARATOR = "#333333"
DIAGONAL = "#1a1a1a"
GRID = "#e3e6ea"
AXIS = "#8a9099"

# ColorBrewer's sequential Blues and Oranges (matplotlib's "Blues" and "Oranges").
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5",
          "#08519c", "#08306b")
_ORANGES = ("#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801",
            "#a63603", "#7f2704")

#: Labels longer than this are cut (with "…"); the full text is the tooltip.
MAX_LABEL = 24


def rgb(colour: str) -> tuple[int, int, int]:
    """'#3b78c2' → (59, 120, 194)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(c: Sequence[float]) -> str:
    return "#" + "".join(f"{round(v):02x}" for v in c)


def ramp(stops: Sequence[str], t: float) -> str:
    """The colour at ``t`` (0–1) of a colour map, as matplotlib's 256-entry lookup table has it."""
    i = min(max(int(t * 256), 0), 255)
    x = i / 255 * (len(stops) - 1)
    k = min(int(x), len(stops) - 2)
    f = x - k
    a, b = rgb(stops[k]), rgb(stops[k + 1])
    return _hex([(1 - f) * u + f * v for u, v in zip(a, b, strict=True)])


def blues(t: float) -> str:
    return ramp(_BLUES, t)


def oranges(t: float) -> str:
    return ramp(_ORANGES, t)


def _luminance(colour: str) -> float:
    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(v) for v in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_on(fill: str) -> str:
    """White or near-black text, whichever contrasts more with ``fill`` (WCAG contrast)."""
    lum = _luminance(fill)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance(INK) + 0.05)
    return "#ffffff" if on_white > on_dark else INK


def clip_label(text: str, limit: int = MAX_LABEL) -> str:
    """One line of at most ``limit`` characters: control characters become spaces."""
    line = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def text_width(text: str, size: float) -> float:
    """A generous estimate of the width of ``text`` in a sans-serif font of ``size`` px."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return size * (0.62 * (len(text) - wide) + 1.0 * wide)


# --- the heat map's content, shared by the SVG and confusion_matrix.png ------------------


@dataclass(frozen=True)
class HeatCell:
    count: int
    #: The count, or its share of the gold row when normalised (None: an empty row).
    value: float | None
    text: str
    fill: str
    ink: str
    #: A correct answer: the column is the row's gold label.
    diagonal: bool
    tip: str


@dataclass(frozen=True)
class HeatMap:
    """A confusion matrix to draw: gold rows, answer columns (labels, then non-answers)."""

    title: str
    normalize: bool
    rows: list[str]
    support: list[int]
    columns: list[str]
    non_answer: list[bool]
    cells: list[list[HeatCell]]

    @property
    def n_labels(self) -> int:
        """How many columns are labels; the non-answer columns follow them."""
        return sum(1 for na in self.non_answer if not na)

    @property
    def empty(self) -> bool:
        return not self.rows or not self.columns


def heat_map(confusion: Confusion, *, normalize: bool = False, title: str = "") -> HeatMap:
    """The cells of a confusion matrix: counts, or shares of each gold row with ``normalize``.

    A cell's colour runs from near-white to dark blue (labels) or dark orange (non-answers)
    with its value, as in matplotlib's "Blues" and "Oranges" from 0.05 to 0.95.
    """
    columns = list(confusion.columns)
    non_answer = [c in NON_ANSWERS for c in columns]
    rows = [r.label for r in confusion.rows]
    support = [r.total for r in confusion.rows]
    counts = [[int(v) for v in r.counts][: len(columns)] for r in confusion.rows]
    counts = [row + [0] * (len(columns) - len(row)) for row in counts]
    vmax = 1.0 if normalize else float(max([1, *(v for row in counts for v in row)]))
    cells = []
    for label, total, row in zip(rows, support, counts, strict=True):
        out = []
        for j, count in enumerate(row):
            value: float | None = (count / total if total else None) if normalize else count
            if value is None:
                fill, text = EMPTY, "–"
            else:
                fill = (oranges if non_answer[j] else blues)(0.05 + 0.9 * value / vmax)
                text = ("·" if not count else
                        f"{100 * value:.0f}%" if normalize else str(count))
            share = f" ({pct(count / total)} of {total})" if total else ""
            out.append(HeatCell(
                count=count, value=value, text=text, fill=fill, ink=ink_on(fill),
                diagonal=columns[j] == label and not non_answer[j],
                tip=f"gold {label} → {columns[j]}: {count}{share}"))
        cells.append(out)
    return HeatMap(title=title, normalize=normalize, rows=rows, support=support,
                   columns=columns, non_answer=non_answer, cells=cells)


# --- shapes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    #: The element's class: what it stands for ("cell", "bar gold", …), for styles and tests.
    cls: str = ""
    stroke: str = ""
    stroke_width: float = 0.0
    tip: str = ""


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str
    width: float = 1.0


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 12.0
    anchor: Literal["start", "middle", "end"] = "start"
    fill: str = INK
    bold: bool = False
    italic: bool = False
    #: Degrees, clockwise, about (x, y).
    rotate: float = 0.0
    tip: str = ""
    cls: str = ""


@dataclass
class Figure:
    """One SVG figure: its accessible name, its size and its shapes (lines under rectangles
    under texts)."""

    label: str
    width: float = 0.0
    height: float = 0.0
    rects: list[Rect] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)

    def text(self, x: float, y: float, text: str, *, size: float = 12.0,
             anchor: Literal["start", "middle", "end"] = "start", fill: str = INK,
             bold: bool = False, italic: bool = False, rotate: float = 0.0,
             tip: str = "", cls: str = "") -> None:
        self.texts.append(Text(x=_r(x), y=_r(y), text=text, size=size, anchor=anchor,
                               fill=fill, bold=bold, italic=italic, rotate=rotate, tip=tip,
                               cls=cls))

    def label_text(self, x: float, y: float, label: str, suffix: str = "", *,
                   size: float = 12.0, anchor: Literal["start", "middle", "end"] = "start",
                   fill: str = INK, bold: bool = False, italic: bool = False,
                   rotate: float = 0.0) -> None:
        """A label cut to :data:`MAX_LABEL` characters, with the full text as its tooltip."""
        shown = clip_label(label)
        self.text(x, y, shown + suffix, size=size, anchor=anchor, fill=fill, bold=bold,
                  italic=italic, rotate=rotate, tip=label if shown != label else "")

    def rect(self, x: float, y: float, w: float, h: float, fill: str, *, cls: str = "",
             stroke: str = "", stroke_width: float = 0.0, tip: str = "") -> None:
        self.rects.append(Rect(x=_r(x), y=_r(y), w=_r(w), h=_r(h), fill=fill, cls=cls,
                               stroke=stroke, stroke_width=stroke_width, tip=tip))

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str,
             width: float = 1.0) -> None:
        self.lines.append(Line(x1=_r(x1), y1=_r(y1), x2=_r(x2), y2=_r(y2), stroke=stroke,
                               width=width))

    def legend(self, x: float, y: float, entries: Sequence[tuple[str, str]]) -> None:
        for colour, name in entries:
            self.rect(x, y - 9, 10, 10, colour, cls="key")
            self.text(x + 14, y, name, size=11)
            x += 14 + text_width(name, 11) + 10

    def finish(self, width: float, height: float) -> Figure:
        self.width, self.height = math.ceil(width), math.ceil(height)
        return self


def _r(v: float) -> float:
    return round(v, 1)


_SIN40, _COS40 = math.sin(math.radians(40)), math.cos(math.radians(40))
_SIN30, _COS30 = math.sin(math.radians(30)), math.cos(math.radians(30))


def heat_map_svg(heat: HeatMap, label: str) -> Figure:
    """The heat map laid out: row labels left, column labels below at 40°, the non-answer
    columns apart behind a dark bar, the diagonal outlined, each cell's text on it."""
    fig = Figure(label=label)
    fs, cs, cw, ch = 13.0, 12.0, 44.0, 30.0
    if heat.empty:
        fig.text(8, 22, "No confusion matrix in metrics.json.", size=12)
        return fig.finish(320, 36)
    row_text = [f"{clip_label(r)} (n={s})" for r, s in zip(heat.rows, heat.support, strict=True)]
    col_text = [clip_label(c) for c in heat.columns]
    split = 0 < heat.n_labels < len(heat.columns)
    gap = 12.0 if split else 0.0

    def col_x(j: int) -> float:  # left edge of column j, from the grid's left edge
        return j * cw + (gap if split and heat.non_answer[j] else 0.0)

    label_w = max(text_width(t, fs) for t in row_text)
    left = 26 + label_w + 8
    # A long column label runs down-left from its column: keep it inside the figure.
    for j, t in enumerate(col_text):
        left = max(left, 6 + text_width(t, fs) * _COS40 - col_x(j) - cw / 2)
    top = 8.0 + (24 if heat.title else 0) + (16 if split else 0)
    grid_w = col_x(len(heat.columns) - 1) + cw
    grid_h = ch * len(heat.rows)
    if heat.title:
        fig.text(8, 8 + 15, heat.title, size=14, bold=True)
    for i, row in enumerate(heat.cells):
        y = top + i * ch
        for j, cell in enumerate(row):
            x = left + col_x(j)
            fig.rect(x, y, cw - 1, ch - 1, cell.fill,
                     cls="cell na" if heat.non_answer[j] else "cell", tip=cell.tip)
            fig.text(x + (cw - 1) / 2, y + (ch - 1) / 2 + cs * 0.36, cell.text, size=cs,
                     anchor="middle", fill=cell.ink, cls="value")
        fig.label_text(left - 8, y + ch / 2 + fs * 0.36, heat.rows[i],
                       f" (n={heat.support[i]})", anchor="end", size=fs)
    for i, row in enumerate(heat.cells):
        for j, cell in enumerate(row):
            if cell.diagonal:
                fig.rect(left + col_x(j) - 0.5, top + i * ch - 0.5, cw, ch, "none",
                         cls="diagonal", stroke=DIAGONAL, stroke_width=1.5)
    if split:
        sx = left + heat.n_labels * cw + gap / 2 - 0.5
        fig.line(sx, top - 4, sx, top + grid_h + 3, SEPARATOR, 2.0)
        first = left + col_x(heat.n_labels)
        fig.text((first + left + grid_w) / 2, top - 6, "non-answers", size=12,
                 anchor="middle", fill=NON_ANSWER, italic=True)
    base = top + grid_h + 10
    for j, (name, na) in enumerate(zip(heat.columns, heat.non_answer, strict=True)):
        fig.label_text(left + col_x(j) + cw / 2 + 3, base + fs * 0.7, name, anchor="end",
                       size=fs, rotate=-40.0, fill=NON_ANSWER if na else INK, italic=na)
    drop = max(text_width(t, fs) * _SIN40 + fs * _COS40 for t in col_text)
    height = base + drop + 30
    fig.text(left + grid_w / 2, height - 8, "predicted", size=fs, anchor="middle",
             bold=True)
    fig.text(14, top + grid_h / 2, "gold", size=fs, anchor="middle", bold=True,
             rotate=-90.0)
    title_w = 8 + text_width(heat.title, 14) + 8
    return fig.finish(max(left + grid_w + 10, title_w), height)


def _step(top: float) -> float:
    """A round tick step giving about four to six ticks up to ``top``."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        if top / step <= 6:
            return float(step)
    return float(10 ** math.ceil(math.log10(top / 6)))


def distribution_svg(rows: Sequence[DistributionRow], n: int) -> Figure:
    """Gold vs predicted share of each label, plus all non-answers, as paired bars.

    The predicted Neutral bar is red, so an over-predicted Neutral stands out beside its grey
    gold bar; the non-answers have an orange bar and no gold one.
    """
    fig = Figure(label="predicted vs gold label distribution")
    labels = [r for r in rows if not r.non_answer]
    non_answers = sum(r.predicted for r in rows if r.non_answer)

    def share(count: int) -> float:
        return 100.0 * count / n if n else 0.0

    groups: list[tuple[str, int | None, int, str, bool]] = [
        (r.label, r.gold, r.predicted, NEUTRAL if r.highlight else PRED, r.highlight)
        for r in labels]
    groups.append(("non-answer", None, non_answers, NON_ANSWER, False))
    fs, gw, bw, ph = 12.0, 44.0, 16.0, 180.0
    names = [clip_label(g[0]) for g in groups]
    left = 48.0
    for k, name in enumerate(names):  # a long first label runs left of the axis
        left = max(left, 6 + text_width(name, fs) * _COS30 - k * gw - gw / 2)
    top = 38.0
    peak = max([1.0, *(share(g[1] or 0) for g in groups), *(share(g[2]) for g in groups)])
    ymax = peak * 1.18
    step = _step(ymax)
    scale = ph / ymax
    base = top + ph
    width = left + gw * len(groups) + 12
    tick = 0.0
    while tick <= ymax + 1e-9:
        y = base - tick * scale
        fig.line(left, y, width - 8, y, GRID if tick else AXIS)
        fig.text(left - 6, y + 4, f"{tick:g}", size=10, anchor="end", fill="#5f6b7a")
        tick += step
    for k, (name, gold, pred, colour, neutral) in enumerate(groups):
        cx = left + k * gw + gw / 2
        if gold is not None:
            h = share(gold) * scale
            fig.rect(cx - bw - 1, base - h, bw, h, GOLD, cls="bar gold",
                     tip=f"{name}: gold {share(gold):.1f} % ({gold} of {n})")
        h = share(pred) * scale
        fig.rect(cx + 1, base - h, bw, h, colour, cls="bar predicted",
                 tip=f"{name}: predicted {share(pred):.1f} % ({pred} of {n})")
        if pred:
            fig.text(cx + 1 + bw / 2, base - h - 3, f"{share(pred):.0f}%", size=9.5,
                     anchor="middle", fill="#333333")
        na = gold is None
        fig.label_text(cx + 4, base + 12, name, size=fs, anchor="end", rotate=-30.0,
                       fill=NEUTRAL if neutral else NON_ANSWER if na else INK,
                       bold=neutral, italic=na)
    fig.text(14, top + ph / 2, "share of samples (%)", size=11, anchor="middle",
             rotate=-90.0)
    keys = [(GOLD, "gold"), (PRED, "predicted")]
    if any(r.highlight for r in labels):
        keys.append((NEUTRAL, "predicted Neutral"))
    keys.append((NON_ANSWER, "non-answer"))
    fig.legend(left, 18, keys)
    drop = max(text_width(t, fs) * _SIN30 + fs * _COS30 for t in names)
    legend_w = left + sum(24 + text_width(name, 11) for _, name in keys)
    return fig.finish(max(width, legend_w), base + 12 + drop + 8)


def per_class_svg(rows: Sequence[PerClassRow]) -> Figure:
    """Recall, precision and F1 of each label as three horizontal bars; "—" when undefined."""
    fig = Figure(label="per-class recall, precision and F1")
    fs, bh, rh, pw = 12.0, 7.0, 30.0, 260.0
    label_w = max(text_width(clip_label(r.label), fs) for r in rows) if rows else 0.0
    left = 10 + label_w + 10
    top = 36.0
    bottom = top + rh * len(rows)
    for tick in (0, 25, 50, 75, 100):
        x = left + pw * tick / 100
        fig.line(x, top - 4, x, bottom, GRID if tick else AXIS)
        fig.text(x, bottom + 14, str(tick), size=10, anchor="middle", fill="#5f6b7a")
    bars = (("recall", PRED), ("precision", GOLD), ("F1", F1))
    for i, r in enumerate(rows):
        y = top + i * rh + (rh - 3 * bh - 2) / 2
        for k, (name, colour) in enumerate(bars):
            v = {"recall": r.recall, "precision": r.precision, "F1": r.f1}[name]
            by = y + k * (bh + 1)
            if v is None:
                fig.text(left + 3, by + bh - 0.5, "—", size=9, fill="#5f6b7a")
                continue
            w = pw * max(0.0, min(1.0, v))
            fig.rect(left, by, w, bh, colour, cls=f"bar {name.lower()}",
                     tip=f"{r.label}: {name} {pct(v)}")
            fig.text(left + w + 3, by + bh - 0.5, f"{100 * v:.0f}%", size=9,
                     fill="#5f6b7a")
        fig.label_text(left - 10, top + i * rh + rh / 2 + fs * 0.36, r.label, size=fs,
                       anchor="end", fill=NEUTRAL if r.highlight else INK, bold=r.highlight)
    fig.text(left + pw / 2, bottom + 30, "%", size=11, anchor="middle")
    fig.legend(left, 18, [(colour, name) for name, colour in bars])
    return fig.finish(left + pw + 36, bottom + 38)


def report_figures(page: ReportContext) -> dict[str, Figure]:
    """Every figure of the report, by name: ``confusion_counts``, ``confusion_normalized``,
    ``distribution`` and, when metrics.json has per-class scores, ``per_class``."""
    figs = {
        "confusion_counts": heat_map_svg(
            heat_map(page.confusion, title="Counts"), "confusion matrix, counts"),
        "confusion_normalized": heat_map_svg(
            heat_map(page.confusion, normalize=True, title="Row-normalised (% of gold row)"),
            "confusion matrix, row-normalised"),
        "distribution": distribution_svg(page.distribution, page.n),
    }
    if page.per_class:
        figs["per_class"] = per_class_svg(page.per_class)
    return figs
