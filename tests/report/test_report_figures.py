"""Figures for papers: ``vlmfer report --figure-format png,pdf,svg``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from report_builders import neutral_biased_run


def test_report_writes_figures_as_pdf_and_svg(tmp_path: Path) -> None:
    run = neutral_biased_run(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "report", str(run),
                           "--figure-format", "png,pdf,svg"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    for name in ("confusion_matrix", "confusion_matrix_normalized", "distribution",
                 "per_class"):
        assert (run / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert b"<svg" in (run / f"{name}.svg").read_bytes()[:2000]
        assert (run / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    first = (run / "confusion_matrix.pdf").read_bytes()
    subprocess.run([sys.executable, "-m", "vlmfer", "report", str(run), "--figure-format",
                    "pdf"], capture_output=True, text=True, timeout=180, check=True)
    assert (run / "confusion_matrix.pdf").read_bytes() == first  # reproducible bytes


def test_an_unknown_figure_format_is_a_usage_error(tmp_path: Path) -> None:
    run = neutral_biased_run(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "report", str(run),
                           "--figure-format", "png,tiff"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2
    assert "tiff" in proc.stderr and "png, pdf, svg" in proc.stderr
