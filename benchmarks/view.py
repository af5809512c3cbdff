"""Viewer: a page of `vlmfer view` opens in under 1 s at 20 000 samples.

Two run folders of N samples each (predictions written directly, valid ``Prediction``
records with the seed prompt and a short answer; media are tiny PNGs) are served by
``vlmfer view`` in its own process. Measured:

- building the index of one run's predictions.jsonl (cold, no ``.view/`` yet), and
  loading it back from the cache, in-process;
- one page as the browser opens it over HTTP, each request timed: the HTML, the CSS
  and script, ``/api/runs`` (both confusion matrices), ``/api/samples`` (20 samples
  of both runs, read by offset) and the 20 thumbnails (made on demand the first time,
  cached after). Requests are made one after another, so the sum is an upper bound
  of what a browser, which fetches in parallel, waits;
- the same for a page deep in the run, a confusion-cell filter, a text filter and
  "disagree only";
- with Playwright and the system's Chromium installed: the wall time from navigation
  to the first page rendered.

Prints figures; asserts nothing.

    python benchmarks/view.py [--n 20000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import LABELS, emit_result, ensure_bytecode, machine, make_tiny_tree, table, verdict

TARGET_S = 1.0
PROMPT = ("Please identify the facial expression of the person in the image by choosing one "
          "from the following list of emotions.\nIf multiple people are shown, please select "
          "the expression of the person whose face is most clearly visible.\nEmotion List: "
          f"{', '.join(LABELS)}\nThe output should only be the label name (e.g., 'Happy', "
          "'Sad'), without any additional explanations or punctuation.")


def write_run(folder: Path, data: Path, files: list[Path], seed: int) -> Path:
    from vlmfer.types import LabelMatch, Prediction, Step, Usage

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    manifest = {"dataset": {"name": "folder", "root": str(data), "split": "test",
                            "labels": list(LABELS)},
                "model": {"name": f"mock/bench-{seed}"}, "strategy": {"name": "single-shot"},
                "labels": list(LABELS), "media": {"max_side": 768}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for path in files:
            sid = path.relative_to(data).as_posix()
            gold = path.parent.name
            roll = rng.random()
            label = gold if roll < 0.6 else rng.choice(LABELS)
            refused = roll > 0.97
            step = Step(name="answer", model=f"mock/bench-{seed}", prompt_hash="0" * 64,
                        text_sent=PROMPT, response_text=None if refused else label,
                        status="refused" if refused else "ok",
                        usage=Usage(input_tokens=361, output_tokens=2), latency_s=0.8,
                        cost_usd=0.0001,
                        parsed=None if refused else LabelMatch(label=label, how="exact",
                                                               candidates=[label]))
            pred = Prediction(sample_id=sid, gold=gold, pred=None if refused else label,
                              outcome="refused" if refused else "ok",
                              reason="the model refused" if refused else None,
                              steps=[step], cost_usd=0.0001)
            f.write(pred.model_dump_json() + "\n")
    return folder


def timed_get(url: str, path: str, params: dict[str, Any] | None = None) -> tuple[float, bytes]:
    parts = urlsplit(url)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=120)
    conn.request("GET", path + ("?" + urlencode(params) if params else ""))
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    took = time.perf_counter() - start
    if resp.status != 200:
        raise RuntimeError(f"{path} {params}: HTTP {resp.status}: {body[:300]!r}")
    return took, body


def open_page(url: str, params: dict[str, Any]) -> dict[str, float]:
    """The requests a page load makes, each timed; returns seconds by part."""
    out: dict[str, float] = {}
    out["html+css+js"] = sum(timed_get(url, p)[0] for p in
                             ("/", "/static/view.css", "/static/view.js"))
    out["/api/runs"] = timed_get(url, "/api/runs")[0]
    took, body = timed_get(url, "/api/samples", {**params, "size": 20})
    out["/api/samples"] = took
    items = json.loads(body)["items"]
    out["thumbnails"] = sum(timed_get(url, "/thumb", {"run": 0, "id": i["sample_id"]})[0]
                            for i in items)
    out["total"] = sum(out.values())
    return out


def browser_open(url: str) -> float | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(bypass_csp=True)
        start = time.perf_counter()
        page.goto(url + "#page=250")
        page.wait_for_function("document.body.dataset.loading === '0' && "
                               "document.querySelectorAll('article.sample').length === 20")
        took = time.perf_counter() - start
        browser.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    args = parser.parse_args()
    ensure_bytecode()
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-view-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.n)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, n: int) -> None:
    from vlmfer.view import ViewRun

    print(f"# vlmfer view at N = {n} ({machine()})")
    data = work / "data"
    files = make_tiny_tree(data, n)
    runs = [write_run(work / name, data, files, seed)
            for name, seed in (("run-a", 1), ("run-b", 2))]
    for r in runs:
        shutil.rmtree(r / ".view", ignore_errors=True)
    size_mb = (runs[0] / "predictions.jsonl").stat().st_size / 1e6

    start = time.perf_counter()
    view = ViewRun(runs[0])
    assert len(view.index.rows()) == n
    build = time.perf_counter() - start
    start = time.perf_counter()
    again = ViewRun(runs[0])
    again.index.rows()
    cached = time.perf_counter() - start
    assert again.index.source == "cached"
    index_kb = (view.cache_dir / "index.json").stat().st_size / 1e3

    proc = subprocess.Popen([sys.executable, "-m", "vlmfer", "view", *map(str, runs)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        while "serving" not in (line := proc.stdout.readline()):
            if not line:
                raise RuntimeError("vlmfer view stopped before printing its URL")
        url = line.split(" at ", 1)[1].split()[0]
        pages = {
            "first page (thumbnails made)": {},
            "first page again (thumbnails cached)": {},
            "page 500": {"page": 500},
            "cell Sad -> Neutral, page 3": {"gold": "Sad", "pred": "Neutral", "page": 3},
            "answer contains 'surprise'": {"q": "surprise", "page": 10},
            "disagree only, page 100": {"disagree": 1, "page": 100},
        }
        results = {name: open_page(url, params) for name, params in pages.items()}
        in_browser = browser_open(url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"predictions.jsonl: {size_mb:.1f} MB per run; index file {index_kb:.0f} KB")
    print(table([
        ["index of one run", "seconds"],
        ["built (cold, no .view/)", f"{build:.2f}"],
        ["loaded from .view/index.json", f"{cached:.2f}"],
    ]))
    print()
    rows = [["page (2 runs side by side)", "html+css+js", "/api/runs", "/api/samples",
             "20 thumbnails", "total", f"target < {TARGET_S:g} s"]]
    for name, r in results.items():
        rows.append([name, *(f"{r[k]:.3f}" for k in ("html+css+js", "/api/runs", "/api/samples",
                                                      "thumbnails", "total")),
                     verdict(r["total"] < TARGET_S)])
    print(table(rows))
    if in_browser is not None:
        print(f"\nheadless Chromium, navigation to page 251 rendered: {in_browser:.2f} s "
              f"(target < {TARGET_S:g} s: {verdict(in_browser < TARGET_S)})")
    worst = max(r["total"] for r in results.values())
    emit_result("view", n=n, index_build_s=round(build, 3), index_cached_s=round(cached, 3),
                worst_page_s=round(worst, 3), browser_s=in_browser,
                target=f"page < {TARGET_S:g} s", met=worst < TARGET_S)


if __name__ == "__main__":
    main()
