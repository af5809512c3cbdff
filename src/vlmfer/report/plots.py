"""The report's figures as files for papers (PNG, PDF, SVG), drawn with matplotlib's Agg
canvas: ``vlmfer report RUN_DIR --figure-format png,pdf,svg``.

Only this export uses matplotlib. The HTML report draws the same figures as inline SVG
(:mod:`vlmfer.report.figures`) and ``confusion_matrix.png`` with Pillow
(:mod:`vlmfer.report.confusion_png`), so ``vlmfer run`` and ``vlmfer report`` never import
it. matplotlib is imported inside each function (``import vlmfer`` must stay light), and
figures are built on ``matplotlib.figure.Figure`` with an Agg canvas rather than through
pyplot: no GUI backend and no global state.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from vlmfer.report.figures import GOLD, NEUTRAL, NON_ANSWER, PRED
from vlmfer.types import NON_ANSWERS

_DPI = 110


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _plain(text: str) -> str:
    """Escape ``$`` so matplotlib never parses a label as mathtext (and never fails on one)."""
    return text.replace("$", r"\$")


#: The figure formats vlmfer writes: PNG for the report, PDF and SVG (vector) for papers.
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")


def _png(fig: Any, fmt: str = "png") -> bytes:
    if fmt not in FIGURE_FORMATS:
        from vlmfer.errors import ConfigError

        raise ConfigError(f"figure format {fmt!r}: choose from {', '.join(FIGURE_FORMATS)}")
    buf = io.BytesIO()
    # Fixed metadata: the same run gives the same PDF/SVG bytes.
    meta: dict[str, Any] = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt, {})
    fig.savefig(buf, format=fmt, dpi=_DPI, bbox_inches="tight", facecolor="white",
                metadata=meta or None)
    return buf.getvalue()


def confusion_png(cm: Mapping[str, Any], *, normalize: bool = False, title: str = "",
                  fmt: str = "png") -> bytes:
    """A confusion-matrix heat map: gold rows, predicted labels then non-answer columns.

    ``cm`` is metrics.json's ``confusion_matrix`` (``labels``, ``columns``,
    ``matrix``). With ``normalize`` each row is divided by its gold count and
    cells show percentages; otherwise cells show counts.
    """
    from matplotlib import colormaps

    labels = [str(x) for x in cm.get("labels", [])]
    columns = [str(x) for x in cm.get("columns", labels)]
    counts = [[int(v) for v in row] for row in cm.get("matrix", [])]
    k, c = len(labels), len(columns)
    support = [sum(row) for row in counts]
    values: list[list[float | None]] = []
    for row, tot in zip(counts, support, strict=True):
        if normalize:
            values.append([v / tot if tot else None for v in row])
        else:
            values.append([float(v) for v in row])
    vmax = 1.0 if normalize else max([1.0, *(v for r in values for v in r if v is not None)])

    blues, oranges = colormaps["Blues"], colormaps["Oranges"]
    rgba = []
    for vrow in values:
        out_row = []
        for j, v in enumerate(vrow):
            if v is None:
                out_row.append((0.93, 0.93, 0.93, 1.0))
                continue
            cmap = oranges if columns[j] in NON_ANSWERS else blues
            # Start the scale at 0.05 so an empty cell is near-white, not pure white.
            out_row.append(cmap(0.05 + 0.9 * (v / vmax)))
        rgba.append(out_row)

    fig = _figure(1.3 + 0.5 * c, 1.3 + 0.42 * max(k, 1))
    ax = fig.add_subplot(1, 1, 1)
    if k and c:
        ax.imshow(rgba, aspect="auto", interpolation="nearest")
    for i, vrow in enumerate(values):
        for j, v in enumerate(vrow):
            if v is None:
                text = "–"
            elif normalize:
                text = f"{100 * v:.0f}%" if counts[i][j] else "·"
            else:
                text = str(counts[i][j]) if counts[i][j] else "·"
            dark = v is not None and v / vmax > 0.55
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "#222222")
        if i < c and columns[i] == labels[i]:
            ax.add_patch(_rect(i, i))  # the diagonal: correct answers
    n_labels = sum(1 for col in columns if col not in NON_ANSWERS)
    if 0 < n_labels < c:
        ax.axvline(n_labels - 0.5, color="#333333", linewidth=2)
    ax.set_xticks(range(c))
    ax.set_xticklabels([_plain(col) for col in columns], rotation=40, ha="right")
    for tick, col in zip(ax.get_xticklabels(), columns, strict=True):
        if col in NON_ANSWERS:
            tick.set_color(NON_ANSWER)
            tick.set_fontstyle("italic")
    ax.set_yticks(range(k))
    ax.set_yticklabels([f"{_plain(lab)} (n={s})"
                        for lab, s in zip(labels, support, strict=True)])
    ax.set_xlabel("model's answer (labels | non-answers)")
    ax.set_ylabel("gold label")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    return _png(fig, fmt)


def _rect(i: int, j: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#1a1a1a", linewidth=1.2)


def distribution_png(
    gold: Mapping[str, int],
    predicted: Mapping[str, int],
    *,
    labels: Sequence[str],
    neutral: str = "Neutral",
    fmt: str = "png",
) -> bytes:
    """Gold vs predicted share per label, plus the non-answers, as grouped bars.

    The predicted Neutral bar is drawn in red so an over-predicted Neutral
    stands out beside its grey gold bar.
    """
    n = sum(int(gold.get(lab, 0)) for lab in labels)
    non_answers = sum(int(predicted.get(o, 0)) for o in NON_ANSWERS)
    groups = [*labels, "non-answer"]
    g = [int(gold.get(lab, 0)) for lab in labels] + [0]
    p = [int(predicted.get(lab, 0)) for lab in labels] + [non_answers]
    share = (lambda v: 100.0 * v / n) if n else (lambda v: 0.0)

    fig = _figure(1.2 + 0.6 * len(groups), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.4
    xs = list(range(len(groups)))
    ax.bar([x - width / 2 for x in xs], [share(v) for v in g], width, color=GOLD,
           label="gold")
    colours = [NEUTRAL if lab == neutral else PRED for lab in labels] + [NON_ANSWER]
    bars = ax.bar([x + width / 2 for x in xs], [share(v) for v in p], width, color=colours,
                  label="predicted")
    for bar, v in zip(bars, p, strict=True):
        if v:
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{share(v):.0f}%",
                    ha="center", va="bottom", fontsize=8, color="#333333")
    ax.set_xticks(xs)
    ax.set_xticklabels([_plain(g) for g in groups], rotation=30, ha="right")
    for tick, name in zip(ax.get_xticklabels(), groups, strict=True):
        if name == neutral:
            tick.set_color(NEUTRAL)
            tick.set_fontweight("bold")
        elif name == "non-answer":
            tick.set_color(NON_ANSWER)
            tick.set_fontstyle("italic")
    ax.set_ylabel("share of samples (%)")
    top = max([share(v) for v in g + p] + [1.0])
    ax.set_ylim(0, top * 1.18)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    from matplotlib.patches import Patch

    handles = [Patch(color=GOLD, label="gold"), Patch(color=PRED, label="predicted")]
    if neutral in labels:
        handles.append(Patch(color=NEUTRAL, label=f"predicted {neutral}"))
    handles.append(Patch(color=NON_ANSWER, label="non-answer"))
    ax.legend(handles=handles, frameon=False, fontsize=8, ncol=2, loc="upper left")
    return _png(fig, fmt)


def per_class_png(per_class: Mapping[str, Mapping[str, Any]], *, fmt: str = "png") -> bytes:
    """Per-class recall and precision as paired horizontal bars."""
    labels = list(per_class)
    fig = _figure(4.2, 0.9 + 0.36 * max(len(labels), 1))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(labels)))
    h = 0.38

    def vals(key: str) -> list[float]:
        out = []
        for lab in labels:
            v = per_class[lab].get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append(100.0 * v)
            else:
                out.append(0.0)  # undefined (never predicted / no gold sample)
        return out

    ax.barh([y - h / 2 for y in ys], vals("recall"), h, color=PRED, label="recall")
    ax.barh([y + h / 2 for y in ys], vals("precision"), h, color=GOLD, label="precision")
    ax.set_yticks(ys)
    ax.set_yticklabels([_plain(lab) for lab in labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.legend(frameon=False, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=2)
    return _png(fig, fmt)


def figure_bytes(metrics: Mapping[str, Any], fmt: str = "png") -> dict[str, bytes]:
    """The report's figures in one format (png, pdf, svg), by file name: ``confusion_matrix``,
    ``confusion_matrix_normalized``, ``distribution`` and, with per-class scores,
    ``per_class``."""
    cm = metrics.get("confusion_matrix") or {"labels": [], "columns": [], "matrix": []}
    figures = {
        "confusion_matrix": confusion_png(cm, title="Counts", fmt=fmt),
        "confusion_matrix_normalized": confusion_png(
            cm, normalize=True, title="Row-normalised (% of gold row)", fmt=fmt),
        "distribution": distribution_png(
            metrics.get("gold_distribution") or {},
            metrics.get("predicted_distribution") or {}, labels=list(cm.get("labels", [])),
            fmt=fmt),
    }
    if metrics.get("per_class"):
        figures["per_class"] = per_class_png(metrics["per_class"], fmt=fmt)
    return figures


def write_figures(metrics: Mapping[str, Any], folder: Any, formats: Sequence[str]) -> list[Any]:
    """Write the report's figures into ``folder`` in each of ``formats`` (png, pdf, svg):
    ``confusion_matrix``, ``confusion_matrix_normalized``, ``distribution`` and
    ``per_class``; return the paths written."""
    from pathlib import Path

    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad:
        from vlmfer.errors import ConfigError

        raise ConfigError(f"--figure-format {','.join(bad)}: choose from "
                          f"{', '.join(FIGURE_FORMATS)} (comma-separated)")
    out = Path(folder)
    written = []
    for fmt in dict.fromkeys(formats):
        for name, data in figure_bytes(metrics, fmt).items():
            path = out / f"{name}.{fmt}"
            path.write_bytes(data)
            written.append(path)
    return written
