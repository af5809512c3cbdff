"""The HTML report: one self-contained file, every figure embedded.

The page loads nothing from anywhere (figures are ``data:`` URIs, the CSS is
inlined from package data, there is no script), and a Content-Security-Policy
says so to the browser. The page is rendered from the Jinja2 templates in
``vlmfer/report/templates`` with autoescape on: every string that comes from a
run (model text, sample ids, labels, manifest values) is escaped by the
template engine, so model output is data, never markup.
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
    "build_html", "ci_text", "load_metrics", "pct", "render_figures", "render_page",
    "run_title", "write_report",
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


def render_page(page: ReportContext, *, figures: Mapping[str, bytes], source: str = "") -> str:
    """The report page for a built context; ``figures`` holds the PNGs by name."""
    from vlmfer._version import __version__
    from vlmfer.report.templating import render, static_text
    from vlmfer.report.thumbs import data_uri

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
        figures={k: data_uri(v, "image/png") for k, v in figures.items()},
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
    figures: Mapping[str, bytes],
    thumbnails: bool = True,
    source: str = "",
) -> str:
    """The report page as a string. ``figures`` holds the PNGs by name."""
    page = build_context(manifest, metrics, predictions, thumbnails=thumbnails)
    return render_page(page, figures=figures, source=source)


def render_figures(metrics: Mapping[str, Any]) -> dict[str, bytes]:
    """Every figure of the report, as PNG bytes."""
    from vlmfer.report import plots

    cm = metrics.get("confusion_matrix") or {"labels": [], "columns": [], "matrix": []}
    labels = list(cm.get("labels", []))
    figs = {
        "confusion_counts": plots.confusion_png(cm, title="Counts"),
        "confusion_normalized": plots.confusion_png(cm, normalize=True,
                                                    title="Row-normalised (% of gold row)"),
        "distribution": plots.distribution_png(
            metrics.get("gold_distribution") or {}, metrics.get("predicted_distribution") or {},
            labels=labels,
        ),
    }
    if metrics.get("per_class"):
        figs["per_class"] = plots.per_class_png(metrics["per_class"])
    return figs


def write_report(rundir: RunFolder, path: Path | None = None, *, thumbnails: bool = True) -> Path:
    """Write ``confusion_matrix.png`` into the run folder and the HTML report; return its path.

    The report goes to ``path`` (default ``<run>/report.html``). metrics.json is
    recomputed first when it is missing or older than predictions.jsonl. With
    ``thumbnails=False`` the confusion gallery shows text only.
    """
    manifest = rundir.read_manifest()
    metrics = load_metrics(rundir)
    predictions = rundir.iter_predictions()  # streamed once, by Digest
    figures = render_figures(metrics)
    _write_bytes_atomic(rundir.path / CONFUSION_PNG, figures["confusion_counts"])
    page = build_html(manifest, metrics, predictions, figures=figures, thumbnails=thumbnails,
                      source=rundir.predictions_path.name)
    out = Path(path) if path is not None else rundir.path / REPORT
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(out, page.encode("utf-8"))
    return out


def __getattr__(name: str) -> Any:
    # Old homes of names that moved: they keep working for one release, with a warning.
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
