"""Throughput: `vlmfer run` against the emulator vs a bare asyncio loop over the same SDK.

Both clients run in their own child process, against one emulator in a third process (latency
0.2 s), over the same N JPEG files (~28 KB each):

- bare: ``AsyncOpenAI(max_retries=0)`` + ``asyncio.Semaphore(64)``, one chat call per file, the
  file's bytes as a base64 data URL (what a research script does);
- vlmfer: ``vlmfer run`` through the CLI (``--dataset folder --concurrency 64``), with the
  response cache on, the run directory written as it goes, and progress on with stderr going to
  a file (a non-TTY).

Request span = the emulator's log: first request's arrival to the last response's end, on the
server's clock, the same ruler for both. Client CPU = user + sys of the client's process
(``os.wait4``), interpreter start-up and imports included, divided by N. Ideal = N x latency /
concurrency. Prints figures and ratios; asserts nothing.

    python benchmarks/throughput.py [--quick] [--n 1000] [--inspect]

``--inspect`` also runs inspect_ai 0.3.x (installed into a side venv under the system temp
folder, not into the project) on the same images and prints vlmfer's speed-up over it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import (
    KEY,
    emit_result,
    emulator,
    fresh,
    inference,
    machine,
    make_jpeg_tree,
    run_child,
    span,
    table,
    verdict,
    vlmfer_cmd,
    vlmfer_env,
)

PROMPT = (
    "Analyze the facial expression of the person in this image. Emotion List: Anger, Disgust, "
    "Fear, Happy, Neutral, Sad, Surprise. Answer with exactly one word from the list."
)
SIDE_VENV = Path(tempfile.gettempdir()) / "vlmfer-bench-inspect-venv"


# ---------------------------------------------------------------- the bare loop (child)

async def _bare(base_url: str, root: Path, concurrency: int) -> None:
    import base64

    from openai import AsyncOpenAI

    files = sorted(root.rglob("*.jpg"))
    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    sem = asyncio.Semaphore(concurrency)
    answers: list[str | None] = []

    async def one(path: Path) -> None:
        async with sem:
            url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
            r = await client.chat.completions.create(
                model="gpt-5.2", temperature=0, max_tokens=16,
                messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": PROMPT}]}],
            )
            answers.append(r.choices[0].message.content)

    await asyncio.gather(*(one(p) for p in files))
    await client.close()
    print(json.dumps({"n": len(answers)}))


# ---------------------------------------------------------------- inspect_ai (side venv)

INSPECT_TASK = '''
import base64, pathlib
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageUser, ContentImage, ContentText
from inspect_ai.scorer import match
from inspect_ai.solver import generate

ROOT = pathlib.Path(__file__).parent / "data"
PROMPT = {prompt!r}

@task
def fer():
    samples = []
    for p in sorted(ROOT.rglob("*.jpg")):
        url = "data:image/jpeg;base64," + base64.b64encode(p.read_bytes()).decode()
        samples.append(Sample(input=[ChatMessageUser(content=[ContentImage(image=url),
                                                              ContentText(text=PROMPT)])],
                              target=p.parent.name, id=str(p.relative_to(ROOT))))
    return Task(dataset=samples, solver=generate(), scorer=match())
'''


def _side_venv() -> tuple[Path | None, str]:
    """A venv with inspect-ai 0.3.x, made once; (python, '') or (None, why not)."""
    py = SIDE_VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import inspect_ai, openai"],
                                      capture_output=True).returncode == 0:
        return py, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SIDE_VENV)], check=True,
                       capture_output=True, timeout=300)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "inspect-ai>=0.3,<0.4",
                            "openai"], capture_output=True, text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as e:
        return None, f"could not make the side venv: {e}"
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return None, "pip install inspect-ai failed: " + " | ".join(tail)
    return py, ""


def run_inspect(work: Path, data: Path, base_url: str, n: int, concurrency: int,
                emu_lines: int, emu: object) -> dict[str, float] | str:
    py, why = _side_venv()
    if py is None:
        return why
    task_dir = work / "inspect_task"
    task_dir.mkdir(exist_ok=True)
    (task_dir / "fer_task.py").write_text(INSPECT_TASK.format(prompt=PROMPT), encoding="utf-8")
    link = task_dir / "data"
    if not link.exists():
        link.symlink_to(data)
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": KEY,
           "INSPECT_LOG_DIR": str(work / "inspect_logs"), "INSPECT_DISPLAY": "none",
           "PATH": f"{py.parent}:{os.environ.get('PATH', '')}"}
    child = run_child([str(py.parent / "inspect"), "eval", "fer_task.py",
                       "--model", "openai/gpt-5.2", "--max-connections", str(concurrency),
                       "--limit", str(n), "--display", "none", "--max-retries", "0",
                       "--no-log-images"],
                      env=env, cwd=task_dir, timeout=1800)
    if child.returncode != 0:
        return f"inspect eval exited {child.returncode}: {child.stderr.strip()[-400:]}"
    entries = inference(emu.log(emu_lines))  # type: ignore[attr-defined]
    return {"span": span(entries), "wall": child.wall_s, "cpu_ms": child.cpu_s * 1000 / n,
            "calls": len(entries)}


# ---------------------------------------------------------------- the benchmark

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N=1000, one round (default: N=2000, 2 rounds, and at 1 s too)")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--inspect", action="store_true", help="also run inspect_ai 0.3.x")
    parser.add_argument("--slow-latency", type=float, default=1.0,
                        help="the full mode also compares at this latency (a cloud API's)")
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    parser.add_argument("--bare-child", nargs=3, metavar=("URL", "ROOT", "C"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        url, root, c = args.bare_child
        asyncio.run(_bare(url, Path(root), int(c)))
        return
    n = args.n or (1000 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 2)
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-tp-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, n, rounds, args.latency, args.concurrency, args.inspect,
            None if args.quick else args.slow_latency)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def pair(emu: Any, work: Path, data: Path, n: int, c: int, tag: str,
         ) -> dict[str, dict[str, float]]:
    """The bare loop, then `vlmfer run`, against one emulator: their spans, walls and CPU."""
    mark = emu.log_lines()
    bare = run_child([sys.executable, __file__, "--bare-child", emu.openai_base_url,
                      str(data), str(c)])
    if bare.returncode != 0:
        raise SystemExit(f"bare loop failed: {bare.stderr[-2000:]}")
    b_entries = inference(emu.log(mark))
    mark = emu.log_lines()
    vl = run_child(vlmfer_cmd("run", "--dataset", "folder", "--data-root", str(data),
                              "--split", "test", "--model", "openai/gpt-5.2",
                              "--base-url", emu.openai_base_url, "--concurrency", str(c),
                              "--out", str(fresh(work / f"run-{tag}"))),
                   env={**vlmfer_env(work), "VLMFER_CACHE_DIR": str(fresh(work / f"c-{tag}"))})
    if vl.returncode not in (0, 1):
        raise SystemExit(f"vlmfer run failed ({vl.returncode}): {vl.stderr[-2000:]}")
    v_entries = inference(emu.log(mark))
    return {
        "bare": {"span": span(b_entries), "wall": bare.wall_s,
                 "cpu_ms": bare.cpu_s * 1000 / n, "calls": len(b_entries)},
        "vlmfer": {"span": span(v_entries), "wall": vl.wall_s,
                   "cpu_ms": vl.cpu_s * 1000 / n, "calls": len(v_entries)},
    }


def run(work: Path, n: int, rounds: int, latency: float, c: int, inspect: bool,
        slow_latency: float | None) -> None:
    data = work / "data"
    t0 = time.perf_counter()
    files = make_jpeg_tree(data, n)
    kb = sum(f.stat().st_size for f in files) / n / 1024
    ideal = n * latency / c
    print(f"throughput: {machine()}")
    print(f"N={n} JPEGs (mean {kb:.1f} KB, made in {time.perf_counter() - t0:.1f} s), "
          f"emulator latency {latency} s in its own process, concurrency {c}, "
          f"ideal N*latency/concurrency = {ideal:.2f} s")
    best: dict[str, dict[str, float]] = {}
    with emulator(work, latency=latency, policy="neutral-biased", strict_media=False) as emu:
        for r in range(rounds):
            rows = pair(emu, work, data, n, c, f"r{r}")
            print(f"  round {r + 1}: bare span {rows['bare']['span']:.2f} s, "
                  f"vlmfer span {rows['vlmfer']['span']:.2f} s")
            for k, v in rows.items():
                if k not in best or v["span"] < best[k]["span"]:
                    best[k] = v
        insp: dict[str, float] | str | None = None
        if inspect:
            print("  inspect_ai: preparing the side venv and running the eval ...", flush=True)
            insp = run_inspect(work, data, emu.openai_base_url, n, c, emu.log_lines(), emu)
    b, v = best["bare"], best["vlmfer"]
    span_ratio = v["span"] / b["span"]
    cpu_ratio = v["cpu_ms"] / b["cpu_ms"]
    rows_out = [["client", "calls", "span s", "span/ideal", "wall s", "CPU ms/req"]]
    for name, fig in (("bare asyncio", b), ("vlmfer run", v)):
        rows_out.append([name, f"{fig['calls']:.0f}", f"{fig['span']:.2f}",
                         f"{fig['span'] / ideal:.2f}x", f"{fig['wall']:.2f}",
                         f"{fig['cpu_ms']:.2f}"])
    if isinstance(insp, dict):
        rows_out.append(["inspect_ai", f"{insp['calls']:.0f}", f"{insp['span']:.2f}",
                         f"{insp['span'] / ideal:.2f}x", f"{insp['wall']:.2f}",
                         f"{insp['cpu_ms']:.2f}"])
    print(table(rows_out))
    print(f"span: vlmfer / bare = {span_ratio:.3f} (target <= 1.10: {verdict(span_ratio <= 1.10)})")
    print(f"CPU per request: vlmfer / bare = {cpu_ratio:.2f} "
          f"(target <= 1.2: {verdict(cpu_ratio <= 1.2)})")
    print(f"span / ideal: bare {b['span'] / ideal:.2f}, vlmfer {v['span'] / ideal:.2f}")
    result: dict[str, object] = {
              "n": n, "ideal_s": round(ideal, 3), "bare_span_s": round(b["span"], 3),
              "vlmfer_span_s": round(v["span"], 3), "span_ratio": round(span_ratio, 3),
              "vlmfer_ideal_ratio": round(v["span"] / ideal, 3),
              "bare_cpu_ms": round(b["cpu_ms"], 2), "vlmfer_cpu_ms": round(v["cpu_ms"], 2),
              "cpu_ratio": round(cpu_ratio, 2)}
    if isinstance(insp, dict):
        speedup = insp["span"] / v["span"]
        print(f"inspect_ai / vlmfer request span = {speedup:.2f}x speed-up "
              f"(target >= 4: {verdict(speedup >= 4)}); wall {insp['wall'] / v['wall']:.2f}x")
        result["inspect_speedup"] = round(speedup, 2)
    elif isinstance(insp, str):
        print(f"inspect_ai: skipped ({insp})")
        result["inspect_speedup"] = f"skipped: {insp[:120]}"
    if slow_latency:
        with emulator(work, latency=slow_latency, policy="neutral-biased",
                      strict_media=False) as emu:
            rows = pair(emu, work, data, n, c, "slow")
        ratio = rows["vlmfer"]["span"] / rows["bare"]["span"]
        print(f"at latency {slow_latency} s (ideal {n * slow_latency / c:.1f} s): bare span "
              f"{rows['bare']['span']:.2f} s, vlmfer {rows['vlmfer']['span']:.2f} s, "
              f"ratio {ratio:.3f}")
        result["span_ratio_at_slow_latency"] = round(ratio, 3)
    emit_result("throughput", **result)


if __name__ == "__main__":
    main()
