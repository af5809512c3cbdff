"""The HTML report, built from hand-made run folders with real tiny media."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from report_builders import (
    ATTR_PROBE,
    INJECTION,
    LABELS,
    PROBE_LABEL,
    PROBE_MODEL,
    SCRIPT_PROBE,
    make_face,
    manifest,
    neutral_biased_run,
    pred,
    with_metrics,
    write_run,
    xss_run,
)
from support import shared_file

from vlmfer.engine.rundir import RunFolder
from vlmfer.report.html import write_report
from vlmfer.report.markdown import write_markdown
from vlmfer.report.summary import write_metrics
from vlmfer.report.thumbs import media_path, thumbnail_jpeg

DATA_URI = re.compile(r'<img src="data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture()
def report(tmp_path: Path) -> tuple[RunFolder, str]:
    rd = RunFolder(neutral_biased_run(tmp_path))
    write_metrics(rd)
    path = write_report(rd)
    return rd, path.read_text(encoding="utf-8")


def test_writes_report_and_confusion_png(report: tuple[RunFolder, str]) -> None:
    rd, _ = report
    assert (rd.path / "report.html").is_file()
    png = rd.path / "confusion_matrix.png"
    with Image.open(png) as img:
        assert img.format == "PNG"
        assert img.width > 300 and img.height > 200


def test_report_is_self_contained(report: tuple[RunFolder, str]) -> None:
    _, page = report
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page, flags=re.I)
    assert links, "expected figures and anchors"
    for link in links:
        assert link.startswith(("data:", "#")), link
    assert not re.search(r"https?://[^\s\"<]*\.(?:css|js|png|jpe?g|svg|woff2?)", page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "Content-Security-Policy" in page


def test_figures_are_inline_and_thumbnails_decode(report: tuple[RunFolder, str]) -> None:
    _, page = report
    # Two confusion matrices, the per-class bars and the label distribution, as inline SVG.
    assert len(re.findall(r'<svg class="fig" role="img" aria-label="[^"]+"', page)) == 4
    found = DATA_URI.findall(page)
    assert found, "the gallery should carry thumbnails"
    for mime, data in found:
        assert mime == "image/jpeg"
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            assert img.format == "JPEG"
            assert img.width > 10 and img.height > 10


def test_headline_non_answers_and_sections(report: tuple[RunFolder, str]) -> None:
    rd, page = report
    metrics = json.loads(rd.metrics_path.read_text())
    assert "Non-answers count as wrong" in page
    for name in ("WAR", "UAR", "Macro-F1", "95 % CI"):
        assert name in page
    lo, hi = metrics["ci"]["accuracy"]
    assert f"{100 * lo:.1f}–{100 * hi:.1f}" in page
    # The non-answer columns of the confusion table.
    for outcome in ("invalid", "refused", "blocked", "error"):
        assert f'<th class="na">{outcome}</th>' in page
    assert "excluding Neutral: subset" in page
    assert "excluding Neutral: forced six-way" in page
    assert "not available" in page  # no scores in this run
    # The Neutral bias in numbers.
    assert f"predicted {100 * metrics['neutral_rate']:.1f} %" in page
    assert f"gold {100 * metrics['gold_neutral_rate']:.1f} %" in page
    # One error step has no price, so the cost is unknown, never $0.
    assert metrics["cost_usd"] is None
    assert "Cost: unknown" in page
    # Provenance.
    for text in ("mock/neutral-biased", "http://127.0.0.1:9/v1", "single-shot", "f" * 64,
                 "ab" * 32, "0.0.test", "2026-01-01T00:05:00+00:00"):
        assert text in page


def test_model_text_is_escaped(report: tuple[RunFolder, str]) -> None:
    _, page = report
    assert INJECTION not in page
    assert "<img src=x" not in page
    assert "document.title=" in page  # shown, as text
    assert ("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"
            "&lt;img src=x onerror=alert(1)&gt;") in page
    assert "Wide eyes; &lt;b&gt;calm&lt;/b&gt; mouth." in page  # the free description


def test_gallery_thumbnails_video_and_placeholders(report: tuple[RunFolder, str]) -> None:
    _, page = report
    assert "Fear → <span>Neutral</span>" in page
    # The video's middle frame, decoded by PyAV.
    assert re.search(r'<img src="data:image/jpeg;base64,[^"]+" alt="test/Sad/0000\.avi">', page)
    # A missing file and a corrupt file each get a placeholder; the report still exists.
    assert page.count("no preview") == 2


def test_no_thumbnails(tmp_path: Path) -> None:
    rd = RunFolder(neutral_biased_run(tmp_path))
    page = write_report(rd, thumbnails=False).read_text(encoding="utf-8")
    assert "data:image/jpeg" not in page
    assert "no preview" not in page
    assert "--no-thumbnails" in page
    assert "Neutral. The face shows no strong emotion." in page  # the words stay


def test_no_dataset_root_means_no_thumbnails(tmp_path: Path) -> None:
    rd = RunFolder(neutral_biased_run(tmp_path, with_root=False))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "data:image/jpeg" not in page
    assert "records no dataset root" in page


def test_metrics_recomputed_when_missing_and_custom_path(tmp_path: Path) -> None:
    rd = RunFolder(neutral_biased_run(tmp_path))
    assert not rd.metrics_path.exists()
    out = write_report(rd, tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html" and out.is_file()
    assert rd.metrics_path.is_file()
    assert (rd.path / "confusion_matrix.png").is_file()
    assert not (rd.path / "report.html").exists()


def test_sample_id_cannot_leave_the_dataset_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_face(tmp_path / "secret.png", "Happy")
    assert media_path(root, "../secret.png") is None
    assert media_path(root, str(tmp_path / "secret.png")) is None
    assert media_path(root, "Happy/1.png") == (root / "Happy/1.png").resolve()
    assert media_path(None, "Happy/1.png") is None
    preds = [pred("../secret.png", "Happy", "Sad")]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=root), preds))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "data:image/jpeg" not in page
    assert "no preview" in page


def test_thumbnail_of_unreadable_files_is_none(tmp_path: Path) -> None:
    (tmp_path / "bad.avi").write_bytes(b"\x00" * 100)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "notes.txt").write_text("hello")
    for name in ("bad.avi", "bad.png", "notes.txt", "absent.jpg"):
        assert thumbnail_jpeg(tmp_path / name) is None
    make_face(tmp_path / "ok.png", "Sad")
    jpeg = thumbnail_jpeg(tmp_path / "ok.png", side=48)
    assert jpeg is not None
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG" and max(img.size) == 48


def _full_decode_thumb(path: Path, side: int) -> Image.Image:
    with Image.open(path) as img:
        rgb: Image.Image = img.convert("RGB")
    rgb.thumbnail((side, side))
    return rgb


@pytest.mark.parametrize("side", [48, 160])
def test_jpeg_thumbnails_decoded_at_reduced_scale_match_a_full_decode(
    tmp_path: Path, side: int
) -> None:
    # A JPEG is decoded at 1/2, 1/4 or 1/8 scale when that leaves both sides >= the
    # thumbnail's: same size, and close to the thumbnail of a full decode.
    face = shared_file("london_faces", "Happy", "001.jpg")
    big = tmp_path / "big.jpg"
    with Image.open(face) as img:
        img.convert("RGB").resize((1280, 720)).save(big, quality=92)
    for path in (face, big):
        jpeg = thumbnail_jpeg(path, side=side)
        assert jpeg is not None
        with Image.open(io.BytesIO(jpeg)) as got:
            want = _full_decode_thumb(path, side)
            assert got.size == want.size and max(got.size) == side
            diff = ImageChops.difference(got.convert("L"), want.convert("L"))
            # The mean grey-level difference, of 255: JPEG noise, not another picture.
            assert ImageStat.Stat(diff).mean[0] < 6, path


def test_real_video_middle_frame() -> None:
    clip = shared_file("video", "clip_0001.avi")
    jpeg = thumbnail_jpeg(clip)
    assert jpeg is not None
    with Image.open(io.BytesIO(jpeg)) as img:
        assert max(img.size) == 160


def test_calibration_and_forced_six_way_shown(tmp_path: Path) -> None:
    root = tmp_path / "data"
    preds = []
    for i, gold in enumerate(LABELS * 3):
        sid = f"{gold}/{i}.png"
        make_face(root / sid, gold)
        # Neutral gets a bonus everywhere; the gold label is still second best.
        scores = {lab: 0.05 for lab in LABELS}
        scores[gold] = 0.35
        scores["Neutral"] = 0.4 if gold != "Neutral" else 0.6
        preds.append(pred(sid, gold, "Neutral" if gold != "Happy" else "Happy",
                          scores=scores))
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=root, strategy="calibrated"), preds))
    metrics = write_metrics(rd)
    assert metrics["calibration"] is not None
    assert metrics["excluding_neutral"]["forced_six_way"]["available"]
    page = write_report(rd).read_text(encoding="utf-8")
    assert '<h2 id="calibration">Calibration</h2>' in page
    assert "batch-calibrated" in page
    cal = metrics["calibration"]["batch_calibrated"]["accuracy"]
    assert f"{100 * cal:.1f} %" in page
    forced = metrics["excluding_neutral"]["forced_six_way"]["accuracy"]
    assert f"{100 * forced:.1f} %" in page


def test_known_cost_and_no_calibration_section(tmp_path: Path) -> None:
    preds = [pred(f"{g}/1.png", g, g, cost=0.0125) for g in LABELS]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None), preds))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "Cost: $0.0875" in page
    assert 'id="calibration"' not in page
    assert "every scored sample was answered correctly" in page


def test_label_set_without_neutral(tmp_path: Path) -> None:
    labels = ["Happy", "Sad"]
    preds = [pred("a.png", "Happy", "Sad"), pred("b.png", "Sad", "Sad"),
             pred("c.png", "Happy", "refused")]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "no Neutral class" in page
    assert "Happy → <span>Sad</span>" in page
    assert 'Happy → <span class="na">refused</span>' in page


def test_empty_run_still_reports(tmp_path: Path) -> None:
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None), []))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "0 scored samples" in page
    assert "—" in page
    md = write_markdown(rd)
    assert "| WAR | — | — |" in md


def test_not_a_run_dir(tmp_path: Path) -> None:
    from vlmfer.errors import ConfigError

    with pytest.raises(ConfigError, match="not a run directory"):
        write_report(RunFolder(tmp_path))


def test_markdown_summary(report: tuple[RunFolder, str]) -> None:
    rd, _ = report
    m = json.loads(rd.metrics_path.read_text())
    md = write_markdown(rd)
    lo, hi = m["ci"]["uar"]
    assert f"| UAR | {100 * m['uar']:.1f} | {100 * lo:.1f}–{100 * hi:.1f} |" in md
    assert "| Neutral rate: predicted |" in md and "| Neutral rate: gold |" in md
    assert "excluding Neutral: subset" in md
    assert "Outcomes: ok 34, invalid 1, refused 1, blocked 1, error 1" in md
    assert "Cost: unknown" in md
    assert "count as wrong" in md


def test_run_report_method(tmp_path: Path) -> None:
    from vlmfer import Run

    run = Run(neutral_biased_run(tmp_path))
    run.recompute()
    out = run.report(thumbnails=False)
    assert out == run.path / "report.html" and out.is_file()


def test_cli_report_subprocess(tmp_path: Path) -> None:
    run = neutral_biased_run(tmp_path)
    out = tmp_path / "paper" / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "vlmfer", "report", str(run), "--html", str(out),
         "--no-thumbnails"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and (run / "metrics.json").is_file()
    assert (run / "confusion_matrix.png").is_file()
    assert "data:image/jpeg" not in out.read_text(encoding="utf-8")


def test_compiled_templates_are_kept_in_the_cache_and_render_the_same(tmp_path: Path) -> None:
    # The second process loads the templates compiled by the first (~0.1 s of a run's end).
    run = neutral_biased_run(tmp_path)
    env = {**os.environ, "VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    pages = []
    for i in range(2):
        out = tmp_path / f"report{i}.html"
        proc = subprocess.run(
            [sys.executable, "-m", "vlmfer", "report", str(run), "--html", str(out),
             "--no-thumbnails"],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert proc.returncode == 0, proc.stderr
        pages.append(out.read_text(encoding="utf-8"))
    assert pages[0] == pages[1]
    assert any((tmp_path / "cache" / "jinja").iterdir())


def test_the_markdown_environment_never_serves_html_its_unescaped_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Jinja2 keys compiled templates on name and source only; autoescape is compiled in.
    # One template compiled by both kinds must not share a cache entry.
    from vlmfer.report import templating

    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    templating.environment.cache_clear()
    try:
        src = "report/macros.html.j2"
        templating.environment("markdown").get_template(src)
        templating.environment.cache_clear()  # a new process, reading the folder back
        html = templating.environment("html").get_template(src)
        assert html.environment.autoescape is True
        names = sorted(p.name for p in (tmp_path / "cache" / "jinja").iterdir())
        assert len(names) == 2 and any("_markdown_" in n for n in names) \
            and any("_html_" in n for n in names), names
    finally:
        templating.environment.cache_clear()


def test_odd_label_names_do_not_break_the_figures(tmp_path: Path) -> None:
    # "$" would start mathtext in a matplotlib figure; "<" and "&" must be escaped in the page.
    labels = ["$5 smile", "a<b & c"]
    preds = [pred("1.png", "$5 smile", "a<b & c"), pred("2.png", "a<b & c", "a<b & c")]
    rd = RunFolder(write_run(tmp_path / "run", manifest(root=None, labels=labels), preds))
    page = write_report(rd).read_text(encoding="utf-8")
    assert "$5 smile → <span>a&lt;b &amp; c</span>" in page
    assert "a<b" not in page


# --- hostile run text -----------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_xss_probes_in_answers_ids_and_labels_are_text(tmp_path: Path) -> None:
    page = write_report(RunFolder(xss_run(tmp_path))).read_text(encoding="utf-8")
    for probe in (SCRIPT_PROBE, ATTR_PROBE, PROBE_LABEL):
        assert probe not in page
    assert "<script" not in page.lower() and "<img src=x" not in page
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag != "script"
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/"), attrs
    # Each probe is on the page as text: as an answer, a sample id, a label and a reason.
    text = "".join(parser.text)
    assert text.count(SCRIPT_PROBE) >= 3
    assert text.count(ATTR_PROBE) >= 3
    assert f"{PROBE_LABEL} → " in text  # the label, in the gallery and every table
    assert f"{SCRIPT_PROBE}.png" in text and f"{ATTR_PROBE}.png" in text  # the sample ids
    assert "mock/evil|" in text  # the model id, in the title


_CELL_BAR = re.compile(r"(?<!\\)\|")


def test_markdown_escapes_pipes_newlines_and_html(tmp_path: Path) -> None:
    rd = RunFolder(xss_run(tmp_path))
    with_metrics(rd.path, **{"evil|metric<b>": 0.5},
                 model_snapshots={f"snap|{SCRIPT_PROBE}": 5},
                 excluding_neutral={"subset": {"convention": f"subset|\n{ATTR_PROBE}"}})
    md = write_markdown(rd)
    assert "<" not in md.replace("\\<", "")  # no raw HTML at all
    assert "injected" in md
    assert "\n| injected | row |" not in md  # the model id's newline did not start a row
    # Every table row keeps its three columns: no value added a cell.
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len(rows) >= 8
    for line in rows:
        assert len(_CELL_BAR.findall(line)) == 4, line
    assert "evil\\|metric\\<b\\>" in md
    assert "mock/evil\\|\\<script\\>alert(1)\\</script\\> \\| injected \\| row \\|" in md
    assert PROBE_MODEL not in md


# --- metrics.json keys that may or may not be there -----------------------------------------


def _extras_run(tmp_path: Path, **extra: object) -> tuple[RunFolder, str, str]:
    rd = RunFolder(with_metrics(neutral_biased_run(tmp_path), **extra))
    page = write_report(rd, thumbnails=False).read_text(encoding="utf-8")
    return rd, page, write_markdown(rd)


def test_answered_only_section(tmp_path: Path) -> None:
    _, page, md = _extras_run(tmp_path, answered_only={
        "n": 34, "accuracy": 0.61764, "war": 0.61764, "uar": 0.5512, "macro_f1": 0.4987,
        "ci": {"accuracy": [0.4412, 0.7647], "war": [0.4412, 0.7647], "uar": None}})
    assert '<h2 id="answered-only">Answered only (n = 34)</h2>' in page
    assert '<a href="#answered-only">' in page
    for value in ("61.8 %", "55.1 %", "49.9 %", "44.1–76.5"):
        assert value in page
    assert "| WAR, answered only (n = 34) | 61.8 | 44.1–76.5 |" in md
    assert "| UAR, answered only (n = 34) | 55.1 | — |" in md


def test_plugin_metrics_in_other_metrics(tmp_path: Path) -> None:
    rd, page, md = _extras_run(tmp_path, brier_score=0.21345, confident_errors=7,
                               ci={"brier_score": [0.18, 0.251]},
                               calibration_table={"bins": [0.1, 0.2]})
    m = json.loads(rd.metrics_path.read_text())
    assert '<h2 id="other-metrics">Other metrics</h2>' in page
    assert "<td>brier_score</td><td>0.213</td><td>0.180–0.251</td>" in page
    assert "<td>confident_errors</td><td>7</td><td>—</td>" in page
    # A built-in metric no other section shows is listed too, on its own scale.
    assert f"<td>cohen_kappa</td><td>{m['cohen_kappa']:.3f}</td>" in page
    # A metric that is not a number is shown as JSON.
    assert "<td>calibration_table</td>" in page and "{&#34;bins&#34;: [0.1, 0.2]}" in page
    # The built-ins with a section of their own are not repeated.
    assert "<td>accuracy</td>" not in page and "<td>neutral_rate</td>" not in page
    assert "| brier\\_score | 0.213 | 0.180–0.251 |" in md


def test_model_snapshots_in_the_header(tmp_path: Path) -> None:
    _, page, md = _extras_run(tmp_path, model_snapshots={"gpt-x-2026-02-01": 4,
                                                         "gpt-x-2026-01-01": 34},
                              mixed_snapshots=True)
    assert ('Model snapshots that answered: <span class="mono">gpt-x-2026-01-01</span> '
            '(34 samples), <span class="mono">gpt-x-2026-02-01</span> (4 samples)') in page
    assert "more than one snapshot answered this run" in page
    assert "Model snapshots: gpt-x-2026-01-01 (34), gpt-x-2026-02-01 (4)." in md
    assert "More than one snapshot answered this run." in md


def test_two_models_with_one_snapshot_each_are_not_a_warning(tmp_path: Path) -> None:
    _, page, _ = _extras_run(tmp_path, model_snapshots={"gpt-x-2026-01-01": 38,
                                                        "gemini-y-001": 38},
                             mixed_snapshots=False)
    assert "gemini-y-001" in page and "more than one snapshot" not in page


def test_sent_parameters_in_the_header(tmp_path: Path) -> None:
    why = "gpt-5.2 does not accept it (only its default, 1)"
    _, page, md = _extras_run(tmp_path, sent_parameters={"openai/gpt-5.2": {
        "sent": {"seed": 0, "max_completion_tokens": 16}, "dropped": {"temperature": why}}})
    line = f"openai/gpt-5.2: seed 0; max_completion_tokens 16; temperature: provider default; {why}"
    assert f"Sent: {line}" in page
    assert "Sent: openai/gpt-5.2: seed 0; max\\_completion\\_tokens 16" in md
    assert "<td>sent_parameters</td>" not in page  # not repeated under other metrics


def test_one_snapshot(tmp_path: Path) -> None:
    _, page, _ = _extras_run(tmp_path, model_snapshots={"gpt-x-2026-01-01": 38})
    assert ('Model snapshot that answered: <span class="mono">gpt-x-2026-01-01</span> '
            "(38 samples).") in page
    assert "more than one snapshot" not in page


def test_simulated_banner(tmp_path: Path) -> None:
    _, page, md = _extras_run(tmp_path, simulated=True)
    assert "Simulated answers — not from a real model" in page
    assert "<title>[simulated] vlmfer report:" in page
    # Above everything but the title: a reader cannot miss it.
    assert page.index('id="simulated"') < page.index('<div class="cards">')
    assert md.startswith("**Simulated answers — not from a real model.**")


def test_forced_six_way_names_its_scores(tmp_path: Path) -> None:
    _, page, _ = _extras_run(
        tmp_path, excluding_neutral={"forced_six_way": {"scores": "batch-calibrated"}})
    assert 'Scores used: <span class="mono">batch-calibrated</span>.' in page


def test_extras_absent_or_false_show_nothing(report: tuple[RunFolder, str],
                                             tmp_path: Path) -> None:
    _, page = report
    # metrics.json always has the answered-only block: the report always shows it.
    assert "Answered only (n = " in page
    for absent in ("snapshot", "Simulated answers", "[simulated]"):
        assert absent not in page
    _, page, md = _extras_run(tmp_path, simulated=False, model_snapshots={})
    assert "Simulated answers" not in page and "Simulated" not in md
    assert "snapshot" not in page.lower()


def test_metrics_without_optional_blocks_still_render(tmp_path: Path) -> None:
    # A minimal metrics.json (an older vlmfer, or another tool's) renders; nothing is invented.
    run = neutral_biased_run(tmp_path)
    (run / "metrics.json").write_text(json.dumps({"n": 3, "accuracy": 0.5}), encoding="utf-8")
    rd = RunFolder(run)
    page = write_report(rd, thumbnails=False).read_text(encoding="utf-8")
    assert "50.0 %" in page and "no interval" in page
    assert "Other metrics" not in page and "Answered only" not in page
    assert "| WAR | 50.0 | — |" in write_markdown(rd)


# --- staleness, templates ---------------------------------------------------------------


def test_metrics_staleness_is_decided_by_the_files(tmp_path: Path) -> None:
    from vlmfer.report.summary import load_metrics, metrics_stale

    rd = RunFolder(neutral_biased_run(tmp_path))
    assert metrics_stale(rd) and metrics_stale(rd.path)  # never computed
    n = write_metrics(rd)["n"]
    assert not metrics_stale(rd)
    # A resume appends a prediction: metrics.json is now older than its source.
    with rd.predictions_path.open("a", encoding="utf-8") as f:
        f.write(pred("late.png", "Happy", "Happy").model_dump_json() + "\n")
    stamp = rd.metrics_path.stat().st_mtime_ns
    os.utime(rd.predictions_path, ns=(stamp + 1_000_000, stamp + 1_000_000))
    assert metrics_stale(rd)
    assert load_metrics(rd)["n"] == n + 1
    assert not metrics_stale(rd)
    page = write_report(rd, thumbnails=False).read_text(encoding="utf-8")
    assert f"{n + 1} scored samples" in page


def test_templates_escape_by_default() -> None:
    from jinja2 import UndefinedError

    from vlmfer.report.templating import environment, render

    assert environment("html").autoescape is True
    templates = Path(vlmfer_report_dir()) / "templates"
    for t in templates.rglob("*.j2"):
        body = t.read_text(encoding="utf-8")
        # Nothing opts out of escaping: only Python may mark package data as Markup.
        assert "|safe" not in body.replace(" ", "") and "autoescape false" not in body, t
    with pytest.raises(UndefinedError):
        render("report/answered_only.html.j2", page={"answered_onyl": None})


def vlmfer_report_dir() -> str:
    import vlmfer.report

    return str(Path(vlmfer.report.__file__).parent)


def test_style_sheet_is_inlined_unescaped(report: tuple[RunFolder, str]) -> None:
    _, page = report
    assert 'font:15px/1.5 -apple-system, "Segoe UI"' in page
    assert "&#34;Segoe UI" not in page


def test_old_markdown_import_still_works() -> None:
    from vlmfer.report import markdown

    with pytest.warns(DeprecationWarning, match="vlmfer.report.markdown.write_markdown"):
        from vlmfer.report.html import write_markdown as old
    assert old is markdown.write_markdown
    with pytest.warns(DeprecationWarning, match="report.css"):
        from vlmfer.report.html import CSS
    assert ".card" in CSS


def test_old_png_figures_still_work_with_a_warning(report: tuple[RunFolder, str]) -> None:
    rd, _ = report
    metrics = json.loads(rd.metrics_path.read_text())
    with pytest.warns(DeprecationWarning, match="inline SVG"):
        from vlmfer.report.html import render_figures
    figures = render_figures(metrics)
    assert sorted(figures) == ["confusion_counts", "confusion_normalized", "distribution",
                               "per_class"]
    assert all(png.startswith(b"\x89PNG") for png in figures.values())
    from vlmfer.report.context import build_context
    from vlmfer.report.html import render_page

    with pytest.warns(DeprecationWarning, match="figures argument is ignored"):
        again = render_page(build_context(json.loads((rd.path / "manifest.json").read_text()),
                                          metrics), figures=figures)
    assert again.count('<svg class="fig"') == 4
