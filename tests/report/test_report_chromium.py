"""Render the report in headless Chromium: the SVG figures show, injected markup stays text.

Needs Debian's ``chromium`` (the CI installs it); skipped with a reason otherwise.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from report_builders import ATTR_PROBE, PROBE_LABEL, SCRIPT_PROBE, neutral_biased_run, xss_run

from vlmfer.engine.rundir import RunFolder
from vlmfer.report import figures
from vlmfer.report.html import write_report


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.skip("headless Chromium is not installed (apt-get install -y chromium); "
                "the browser rendering test needs it")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", "--timeout=30000",
           f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        # A page that opens a JavaScript dialog (alert) never finishes loading headless.
        pytest.fail("Chromium did not finish rendering the report in 120 s; injected markup "
                    "opening a dialog would do this")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    browser = _chromium()
    tmp = tmp_path_factory.mktemp("chromium")
    report = write_report(RunFolder(neutral_biased_run(tmp)))
    url = report.resolve().as_uri()
    dom = _run(browser, tmp / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp / "shot.png"
    proc = _run(browser, tmp / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000",
                url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return report, dom.stdout, shot


def _assert_inert(parser: _Elements) -> None:
    """No script element, no event handler, no image but the embedded ones."""
    assert parser.title.startswith("vlmfer report:"), parser.title
    assert "pwned" not in parser.title
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/"), attrs


def test_injected_script_did_not_run(rendered: tuple[Path, str, Path]) -> None:
    _, dom, _ = rendered
    parser = _Elements()
    parser.feed(dom)
    _assert_inert(parser)
    # The hostile answer is on the page, as text.
    assert "document.title='pwned'" in dom.replace("&#x27;", "'").replace("&#39;", "'")


def test_figures_are_in_the_dom(rendered: tuple[Path, str, Path]) -> None:
    _, dom, _ = rendered
    parser = _Elements()
    parser.feed(dom)
    svgs = [a for t, a in parser.tags if t == "svg" and a.get("role") == "img"]
    assert {a.get("aria-label") for a in svgs} == {
        "confusion matrix, counts", "confusion matrix, row-normalised",
        "predicted vs gold label distribution", "per-class recall, precision and F1"}


def test_screenshot_shows_the_figures(rendered: tuple[Path, str, Path]) -> None:
    _, _, shot = rendered
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
    assert rgb.size == (1280, 2000)
    stat = ImageStat.Stat(rgb)
    assert max(stat.stddev) > 20, "the screenshot is blank"
    # The empty non-answer cells of the confusion matrices are this light orange, a
    # colour nothing else on the page uses: finding many such pixels means the
    # inline SVG figures were painted.
    target = figures.rgb(figures.oranges(0.05))
    near = sum(
        count for count, (r, g, b) in rgb.getcolors(maxcolors=1 << 22) or []
        if abs(r - target[0]) <= 4 and abs(g - target[1]) <= 4 and abs(b - target[2]) <= 4
    )
    assert near > 10_000, f"only {near} pixels of the non-answer colour {target}"


def test_xss_probes_in_ids_labels_and_answers_are_inert(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    browser = _chromium()
    tmp = tmp_path_factory.mktemp("chromium-xss")
    report = write_report(RunFolder(xss_run(tmp)))
    dom = _run(browser, tmp / "profile", "--dump-dom", report.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Elements()
    parser.feed(dom.stdout)
    _assert_inert(parser)
    # The page the browser built shows every probe as text.
    shown = html.unescape(dom.stdout)
    for probe in (SCRIPT_PROBE, ATTR_PROBE, PROBE_LABEL):
        assert probe in shown
