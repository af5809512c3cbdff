"""The HTML report: one self-contained file, every figure embedded.

The page loads nothing from anywhere (figures are inline SVG, thumbnails are
``data:`` URIs, the CSS is inlined from package data, there is no script), and a
Content-Security-Policy says so to the browser. The page is rendered from the
Jinja2 templates in ``vlmfer/report/templates`` with autoescape on: every string
that comes from a run (model text, sample ids, labels, manifest values) is escaped
by the template engine, so model output is data, never markup.

Writing a report imports no matplotlib: the figures are shapes computed in
:mod:`vlmfer.report.figures`, and ``confusion_matrix.png`` is drawn with Pillow
(:mod:`vlmfer.report.confusion_png`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import CONFUSION_PNG, REPORT, RunFolder
from vlmfer.report.context import (
    GALLERY_EXAMPLES,
    GALLERY_PAIRS,
    MAX_TEXT,
    OUTCOME_MEANING,
    Digest,
    ReportContext,
    build_context,
    run_title,
)
from vlmfer.report.formatting import ci_text, pct
from vlmfer.report.summary import load_metrics
from vlmfer.types import NON_ANSWERS, Prediction

__all__ = [
    "CSP", "GALLERY_EXAMPLES", "GALLERY_PAIRS", "MAX_TEXT", "OUTCOME_MEANING", "Digest",
    "build_html", "ci_text", "load_metrics", "pct", "render_page", "run_title",
    "write_report",
]

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

_NAV = (
    ("confusion", "Confusion"), ("per-class", "Per class"),
    ("distribution", "Predicted vs gold"), ("outcomes", "Outcomes & cost"),
    ("excluding-neutral", "Excluding Neutral"),
)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _no_figures(figures: object) -> None:
    if figures is not None:
        warnings.warn("the report's figures are drawn from the page as inline SVG: the "
                      "figures argument is ignored, and will be removed",
                      DeprecationWarning, stacklevel=3)


def render_page(page: ReportContext, *, source: str = "",
                figures: Mapping[str, bytes] | None = None) -> str:
    """The report page for a built context, its figures drawn as inline SVG."""
    from vlmfer._version import __version__
    from vlmfer.report.figures import report_figures
    from vlmfer.report.templating import render, static_text

    _no_figures(figures)
    nav = [*_NAV]
    if page.answered_only:
        nav.append(("answered-only", "Answered only"))
    if page.other_metrics:
        nav.append(("other-metrics", "Other metrics"))
    if page.calibration:
        nav.append(("calibration", "Calibration"))
    nav += [("gallery", "Confusions"), ("manifest", "Provenance")]
    return render(
        "report.html.j2",
        page=page,
        figures=report_figures(page),
        css=static_text("report.css"),
        csp=CSP,
        nav=nav,
        non_answers=NON_ANSWERS,
        version=__version__,
        source=source or "predictions.jsonl",
    )


def build_html(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any],
    predictions: Iterable[Prediction],
    *,
    thumbnails: bool = True,
    source: str = "",
    figures: Mapping[str, bytes] | None = None,
) -> str:
    """The report page as a string."""
    _no_figures(figures)
    page = build_context(manifest, metrics, predictions, thumbnails=thumbnails)
    return render_page(page, source=source)


def write_report(rundir: RunFolder, path: Path | None = None, *, thumbnails: bool = True) -> Path:
    """Write ``confusion_matrix.png`` into the run folder and the HTML report; return its path.

    The report goes to ``path`` (default ``<run>/report.html``). metrics.json is
    recomputed first when it is missing or older than predictions.jsonl. With
    ``thumbnails=False`` the confusion gallery shows text only.
    """
    from vlmfer.report.confusion_png import confusion_png

    manifest = rundir.read_manifest()
    metrics = load_metrics(rundir)
    predictions = rundir.iter_predictions()  # streamed once, by Digest
    page = build_context(manifest, metrics, predictions, thumbnails=thumbnails)
    _write_bytes_atomic(rundir.path / CONFUSION_PNG, confusion_png(page.confusion))
    text = render_page(page, source=rundir.predictions_path.name)
    out = Path(path) if path is not None else rundir.path / REPORT
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(out, text.encode("utf-8"))
    return out


def _png_figures(metrics: Mapping[str, Any]) -> dict[str, bytes]:
    # What render_figures returned: the report's figures as matplotlib PNGs, by their old names.
    from vlmfer.report.plots import figure_bytes

    old = {"confusion_matrix": "confusion_counts",
           "confusion_matrix_normalized": "confusion_normalized"}
    return {old.get(k, k): v for k, v in figure_bytes(metrics, "png").items()}


def __getattr__(name: str) -> Any:
    # Old homes of names that moved: they keep working for one release, with a warning.
    if name == "render_figures":
        warnings.warn("vlmfer.report.html.render_figures is gone from the report, whose "
                      "figures are inline SVG (vlmfer.report.figures.report_figures); for "
                      "PNG, PDF or SVG files use vlmfer.report.plots.write_figures",
                      DeprecationWarning, stacklevel=2)
        return _png_figures
    if name == "write_markdown":
        warnings.warn("vlmfer.report.html.write_markdown moved to "
                      "vlmfer.report.markdown.write_markdown", DeprecationWarning, stacklevel=2)
        from vlmfer.report.markdown import write_markdown

        return write_markdown
    if name == "CSS":
        warnings.warn("vlmfer.report.html.CSS moved to the package data file "
                      "templates/report.css: use "
                      "vlmfer.report.templating.static_text('report.css')",
                      DeprecationWarning, stacklevel=2)
        from vlmfer.report.templating import static_text

        return str(static_text("report.css"))
    if name == "e":
        warnings.warn("vlmfer.report.html.e is gone from the report, which escapes through "
                      "Jinja2 autoescape; render with vlmfer.report.templating.render, or use "
                      "html.escape", DeprecationWarning, stacklevel=2)
        import html

        return lambda value: html.escape("" if value is None else str(value), quote=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
