"""The Markdown summary of a run, for a paper's notes or a README.

It is rendered from the same :class:`~vlmfer.report.context.ReportContext` as the
HTML report, through ``templates/summary.md.j2``: every value is escaped for
Markdown, so a label or an answer cannot break the table or inject HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmfer.engine.rundir import RunFolder
from vlmfer.report.context import ReportContext, build_context
from vlmfer.report.summary import load_metrics


def render_markdown(page: ReportContext) -> str:
    """The Markdown summary of a built context."""
    from vlmfer.report.templating import render

    return render("summary.md.j2", page=page)


def markdown_summary(manifest: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """The Markdown summary for a run's manifest and metrics (no predictions needed)."""
    return render_markdown(build_context(manifest, metrics))


def write_markdown(rundir: RunFolder) -> str:
    """A short Markdown summary of a run, returned as text.

    WAR, UAR and macro-F1 with 95 % bootstrap intervals, the Neutral rates, the
    "excluding Neutral" numbers, the answered-only figures and any other metric
    when metrics.json has them, the outcomes and the cost. metrics.json is
    recomputed first when it is stale.
    """
    return markdown_summary(rundir.read_manifest(), load_metrics(rundir))
