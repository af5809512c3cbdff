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
    ensure_bytecode,
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

async def _bare(base_url: str, root: Path, concurrency: int, post: bool = False) -> None:
    """The reference: ``chat.completions.create`` over every JPEG, ``concurrency`` at once.

    ``post``: the same body through the client's ``post``, as vlmfer sends it (no
    ``create`` walk over the SDK's TypedDicts), to show vlmfer's own cost apart.
    """
    import base64

    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

    files = sorted(root.rglob("*.jpg"))
    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    sem = asyncio.Semaphore(concurrency)
    answers: list[str | None] = []

    async def one(path: Path) -> None:
        async with sem:
            url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
            request: dict[str, Any] = {
                "model": "gpt-5.2", "temperature": 0, "max_tokens": 16,
                "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": PROMPT}]}]}
            if post:
                r = await client.post("/chat/completions", body=request, cast_to=ChatCompletion)
            else:
                r = await client.chat.completions.create(**request)
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
                        help="N=1000, one round, fast server at N=1000 (default: N=600 and "
                             "1000, 2 rounds, fast server at N=5000, and at latency 1 s too)")
    parser.add_argument("--n", default=None, help="comma-separated Ns (default 600,1000)")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--inspect", action="store_true", help="also run inspect_ai 0.3.x")
    parser.add_argument("--lenient-media", action="store_true",
                        help="the emulator does not decode images (default: it validates "
                             "every image, in the same run, as the target asks)")
    parser.add_argument("--fast-n", type=int, default=None,
                        help="N of the fast local server (latency 0.02 s); default 5000, "
                             "1000 with --quick")
    parser.add_argument("--slow-latency", type=float, default=1.0,
                        help="the full mode also compares at this latency (a cloud API's)")
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    parser.add_argument("--bare-child", nargs=3, metavar=("URL", "ROOT", "C"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--bare-post", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        url, root, c = args.bare_child
        asyncio.run(_bare(url, Path(root), int(c), post=args.bare_post))
        return
    ensure_bytecode()
    ns = [int(x) for x in (args.n or ("1000" if args.quick else "600,1000")).split(",")]
    rounds = args.rounds or (1 if args.quick else 2)
    fast_n = args.fast_n or (1000 if args.quick else 5000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="vlmfer-bench-tp-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, ns, rounds, args.latency, args.concurrency, args.inspect,
            None if args.quick else args.slow_latency, not args.lenient_media, fast_n,
            args.quick)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _figures(child: Any, entries: list[dict[str, Any]], n: int) -> dict[str, float]:
    """Span, wall and CPU of one client; start-up = launch to its first inference request."""
    first = min(e["time"] for e in entries) if entries else child.launched_at
    startup_cpu = child.cpu_at(first) if child.cpu_timeline else 0.0
    return {"span": span(entries), "wall": child.wall_s, "cpu_ms": child.cpu_s * 1000 / n,
            "run_cpu_ms": (child.cpu_s - startup_cpu) * 1000 / n,
            "startup_s": first - child.launched_at, "startup_cpu_s": startup_cpu,
            "calls": len(entries)}


def pair(emu: Any, work: Path, data: Path, n: int, c: int, tag: str,
         ) -> dict[str, dict[str, float]]:
    """The bare loop, then `vlmfer run`, against one emulator: their spans, walls and CPU."""
    mark = emu.log_lines()
    bare = run_child([sys.executable, __file__, "--bare-child", emu.openai_base_url,
                      str(data), str(c)], timeline=True)
    if bare.returncode != 0:
        raise SystemExit(f"bare loop failed: {bare.stderr[-2000:]}")
    b_entries = inference(emu.log(mark))
    mark = emu.log_lines()
    bare_post = run_child([sys.executable, __file__, "--bare-child", emu.openai_base_url,
                           str(data), str(c), "--bare-post"], timeline=True)
    if bare_post.returncode != 0:
        raise SystemExit(f"bare loop (post) failed: {bare_post.stderr[-2000:]}")
    bp_entries = inference(emu.log(mark))
    mark = emu.log_lines()
    vl = run_child(vlmfer_cmd("run", "--dataset", "folder", "--data-root", str(data),
                              "--split", "test", "--model", "openai/gpt-5.2",
                              "--base-url", emu.openai_base_url, "--concurrency", str(c),
                              "--out", str(fresh(work / f"run-{tag}"))),
                   env={**vlmfer_env(work), "VLMFER_CACHE_DIR": str(empty_response_cache(work))},
                   timeline=True)
    if vl.returncode not in (0, 1):
        raise SystemExit(f"vlmfer run failed ({vl.returncode}): {vl.stderr[-2000:]}")
    v_entries = inference(emu.log(mark))
    return {"bare": _figures(bare, b_entries, n), "vlmfer": _figures(vl, v_entries, n),
            "bare_post": _figures(bare_post, bp_entries, n)}


def empty_response_cache(work: Path) -> Path:
    """vlmfer's cache folder with its response cache removed: every answer is a live call.

    The rest of the folder stays, as on any machine that has run vlmfer before: the report
    templates compiled by the warm-up run (``warm_up``; compiling them costs a machine's
    first run 70-80 ms of CPU, once: ``bookkeeping.py``).
    """
    folder = work / "vlmfer-cache"
    for f in folder.glob("responses.sqlite3*"):
        f.unlink()
    return folder


def warm_up(emu: Any, work: Path, data: Path) -> None:
    """One small ``vlmfer run`` (8 samples), not measured: it compiles the report templates
    into the cache folder, as a user's first run does once."""
    mark = emu.log_lines()
    r = run_child(vlmfer_cmd("run", "--dataset", "folder", "--data-root", str(data),
                             "--split", "test", "--model", "openai/gpt-5.2", "--limit", "8",
                             "--base-url", emu.openai_base_url,
                             "--out", str(fresh(work / "run-warm-up"))),
                  env={**vlmfer_env(work), "VLMFER_CACHE_DIR": str(empty_response_cache(work))})
    if r.returncode not in (0, 1):
        raise SystemExit(f"the warm-up vlmfer run failed ({r.returncode}): {r.stderr[-2000:]}")
    print(f"  warm-up: vlmfer run on 8 samples ({len(inference(emu.log(mark)))} calls), "
          "its compiled report templates kept; the response cache emptied before each run",
          flush=True)


def _best_pair(emu: Any, work: Path, data: Path, n: int, c: int, rounds: int, tag: str,
               ) -> dict[str, dict[str, float]]:
    best: dict[str, dict[str, float]] = {}
    for r in range(rounds):
        rows = pair(emu, work, data, n, c, f"{tag}r{r}")
        print(f"  N={n} round {r + 1}: bare span {rows['bare']['span']:.2f} s, "
              f"vlmfer span {rows['vlmfer']['span']:.2f} s", flush=True)
        for k, v in rows.items():
            if k not in best or v["span"] < best[k]["span"]:
                best[k] = v
    return best


def _print_pair(b: dict[str, float], v: dict[str, float], ideal: float,
                insp: dict[str, float] | None = None,
                bare_post: dict[str, float] | None = None) -> None:
    rows_out = [["client", "calls", "span s", "span/ideal", "wall s", "CPU ms/req",
                 "CPU ms/req after start-up", "start-up s"]]
    clients = ([("bare asyncio", b)] + ([("bare, post", bare_post)] if bare_post else [])
               + [("vlmfer run", v)] + ([("inspect_ai", insp)] if insp else []))
    for name, fig in clients:
        rows_out.append([name, f"{fig['calls']:.0f}", f"{fig['span']:.2f}",
                         f"{fig['span'] / ideal:.2f}x", f"{fig['wall']:.2f}",
                         f"{fig['cpu_ms']:.2f}", f"{fig.get('run_cpu_ms', float('nan')):.2f}",
                         f"{fig.get('startup_s', float('nan')):.2f}"])
    print(table(rows_out))


def run(work: Path, ns: list[int], rounds: int, latency: float, c: int, inspect: bool,
        slow_latency: float | None, strict: bool, fast_n: int, quick: bool) -> None:
    print(f"throughput: {machine()}")
    media = "validating every image (strict_media)" if strict else "not decoding images"
    print(f"emulator in its own process, {media}, concurrency {c}; "
          "the run folder, the cache and progress (to a file) on")
    result: dict[str, object] = {"strict_media": strict}
    trees: dict[int, Path] = {}

    def tree(n: int) -> Path:
        if n not in trees:
            t0 = time.perf_counter()
            files = make_jpeg_tree(work / f"data{n}", n)
            kb = sum(f.stat().st_size for f in files) / n / 1024
            print(f"  made N={n} JPEGs (mean {kb:.1f} KB) in {time.perf_counter() - t0:.1f} s",
                  flush=True)
            trees[n] = work / f"data{n}"
        return trees[n]

    best: dict[str, dict[str, float]] = {}
    with emulator(work, latency=latency, policy="neutral-biased", strict_media=strict) as emu:
        warm_up(emu, work, tree(ns[0]))
        for n in ns:
            ideal = n * latency / c
            print(f"N={n}, latency {latency} s, ideal N*latency/concurrency = {ideal:.2f} s")
            best = _best_pair(emu, work, tree(n), n, c, rounds, f"n{n}")
            b, v = best["bare"], best["vlmfer"]
            _print_pair(b, v, ideal, bare_post=best["bare_post"])
            ratio = v["span"] / b["span"]
            print(f"span at N={n}: vlmfer / bare = {ratio:.3f} "
                  f"(target <= 1.10: {verdict(ratio <= 1.10)})")
            result[f"span_ratio_{n}"] = round(ratio, 3)
        n = ns[-1]
        b, v = best["bare"], best["vlmfer"]
        cpu_ratio = v["run_cpu_ms"] / b["run_cpu_ms"]
        print(f"client CPU per request, start-up excluded, N={n}: vlmfer {v['run_cpu_ms']:.2f} ms"
              f" / bare {b['run_cpu_ms']:.2f} ms = {cpu_ratio:.2f} "
              f"(target <= 1.3: {verdict(cpu_ratio <= 1.3)}); with start-up "
              f"{v['cpu_ms'] / b['cpu_ms']:.2f} (vlmfer {v['startup_cpu_s']:.2f} s of start-up "
              f"CPU, bare {b['startup_cpu_s']:.2f} s)")
        bp = best["bare_post"]
        own = v["run_cpu_ms"] / bp["run_cpu_ms"]
        print(f"vlmfer's own cost, against a bare loop that sends the same body through the "
              f"client's post as vlmfer does (no target; vlmfer's bookkeeping alone): CPU per "
              f"request after start-up {own:.2f}x ({v['run_cpu_ms']:.2f} vs "
              f"{bp['run_cpu_ms']:.2f} ms), span {v['span'] / bp['span']:.3f}x")
        result.update(own_cpu_ratio_vs_post=round(own, 2))
        sdk = min(run_child([sys.executable, "-c", "import openai"]).wall_s for _ in range(3))
        bare_py = min(run_child([sys.executable, "-c", "pass"]).wall_s for _ in range(3))
        print(f"start-up to the first request, vlmfer run on {n} files: {v['startup_s']:.2f} s "
              f"(bare loop {b['startup_s']:.2f} s; of both, `import openai` alone takes "
              f"{sdk:.2f} s and the interpreter {bare_py:.2f} s: the SDK's floor; "
              f"target <= 0.4 s: {verdict(v['startup_s'] <= 0.4)})")
        result.update(sdk_import_s=round(sdk, 3), interpreter_s=round(bare_py, 3))
        result.update(bare_span_s=round(b["span"], 3), vlmfer_span_s=round(v["span"], 3),
                      bare_cpu_ms=round(b["run_cpu_ms"], 2),
                      vlmfer_cpu_ms=round(v["run_cpu_ms"], 2), cpu_ratio=round(cpu_ratio, 2),
                      startup_s=round(v["startup_s"], 3), bare_startup_s=round(b["startup_s"], 3))
        insp: dict[str, float] | str | None = None
        if inspect:
            print("  inspect_ai: preparing the side venv and running the eval ...", flush=True)
            insp = run_inspect(work, tree(n), emu.openai_base_url, n, c, emu.log_lines(), emu)
    if isinstance(insp, dict):
        _print_pair(b, v, n * latency / c, insp)
        speedup = insp["span"] / v["span"]
        print(f"inspect_ai / vlmfer request span = {speedup:.2f}x speed-up "
              f"(target >= 4: {verdict(speedup >= 4)}); wall {insp['wall'] / v['wall']:.2f}x")
        result["inspect_speedup"] = round(speedup, 2)
    else:
        why = insp if isinstance(insp, str) else "add --inspect (installs it in a side venv)"
        print(f"speed-up over inspect_ai 0.3.x: not measured in this run, {why} "
              f"(target >= 4; 5.95x when last measured, 2026-12-03)")
        result["inspect_speedup"] = f"skipped: {why[:120]}"

    fast_latency = 0.02
    with emulator(work, latency=fast_latency, policy="neutral-biased", strict_media=strict) as emu:
        data = tree(fast_n)
        print(f"fast local server: latency {fast_latency} s, concurrency {c}, N={fast_n}"
              + (" (--quick; the target is stated at N=5000)" if quick and fast_n < 5000 else ""))
        fast = _best_pair(emu, work, data, fast_n, c, 1, "fast")
    _print_pair(fast["bare"], fast["vlmfer"], fast_n * fast_latency / c,
                bare_post=fast["bare_post"])
    tp = fast["bare"]["span"] / fast["vlmfer"]["span"]
    print(f"fast server throughput, N={fast_n}: vlmfer / bare = {tp:.2f} "
          f"({fast_n / fast['vlmfer']['span']:.0f} vs {fast_n / fast['bare']['span']:.0f} "
          f"requests/s; target >= 0.8: {verdict(tp >= 0.8)}); against the bare loop through "
          f"post: {fast['bare_post']['span'] / fast['vlmfer']['span']:.2f}")
    result.update(fast_n=fast_n, fast_throughput_ratio=round(tp, 3))
    if slow_latency:
        with emulator(work, latency=slow_latency, policy="neutral-biased",
                      strict_media=strict) as emu:
            rows = pair(emu, work, tree(n), n, c, "slow")
        ratio = rows["vlmfer"]["span"] / rows["bare"]["span"]
        print(f"at latency {slow_latency} s (ideal {n * slow_latency / c:.1f} s): bare span "
              f"{rows['bare']['span']:.2f} s, vlmfer {rows['vlmfer']['span']:.2f} s, "
              f"ratio {ratio:.3f}")
        result["span_ratio_at_slow_latency"] = round(ratio, 3)
    emit_result("throughput", **result)


if __name__ == "__main__":
    main()
