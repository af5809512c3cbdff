"""``vlmfer demo``: the seed study's experiments, offline, end to end.

It draws a small CAER-S-like image set and a CAER-like AVI set, starts the
loopback emulator with a policy that imitates a Neutral-biased VLM over a gold
oracle, and runs the experiments through the real OpenAI and Gemini SDK
backends. The answers come from a simulator, and the summary says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.engine.cache import ResponseCache
from vlmfer.engine.core import EngineOptions
from vlmfer.engine.preflight import media_spec_of
from vlmfer.evaluation import evaluate_async
from vlmfer.plugins import get_dataset, get_predictor, get_strategy
from vlmfer.presets import DEFAULT_GEMINI_MODEL, DEFAULT_OPENAI_MODEL
from vlmfer.results import Run
from vlmfer.types import MediaSpec

DEMO_KEY = "demo-key-not-secret"


@dataclass
class DemoExperiment:
    """One row of the demo: which seed experiment, on what, through which SDK."""

    title: str
    folder: str
    dataset: str
    model: str
    strategy: str
    options: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None


EXPERIMENTS = [
    DemoExperiment("1. single-shot, 7 labels, video", "gemini-single-shot", "caer",
               f"gemini/{DEFAULT_GEMINI_MODEL}", "single-shot"),
    DemoExperiment("2. single-shot, 7 labels, images", "openai-single-shot", "caer-s",
               f"openai/{DEFAULT_OPENAI_MODEL}", "single-shot"),
    DemoExperiment("3. six-class (forced six-way)", "openai-six-class", "caer-s",
               f"openai/{DEFAULT_OPENAI_MODEL}", "six-class",
               classes=["Anger", "Disgust", "Fear", "Happy", "Sad", "Surprise"]),
    DemoExperiment("4. two-stage, video", "gemini-two-stage", "caer",
               f"gemini/{DEFAULT_GEMINI_MODEL}", "two-stage"),
    DemoExperiment("4. two-stage, images", "openai-two-stage", "caer-s",
               f"openai/{DEFAULT_OPENAI_MODEL}", "two-stage"),
    DemoExperiment("5. free description + lexicon", "openai-free-description", "caer-s",
               f"openai/{DEFAULT_OPENAI_MODEL}", "free-description", {"mapper": "lexicon"}),
]


def _make_data(root: Path) -> tuple[Path, Path]:
    from vlmfer.datasets.synthetic import make_caer_like, make_caer_s_like

    images, videos = root / "CAER-S", root / "CAER"
    if not images.exists():
        make_caer_s_like(images, per_class=4, splits=("test",))
    if not videos.exists():
        make_caer_like(videos, per_class=2, splits=("test",))
    return images, videos


def simulated_confusion() -> dict[str, Any]:
    """A Neutral-biased VLM, as the seed study saw: mostly Neutral, some Surprise.

    Rows are gold labels, columns answers. When a question leaves Neutral out
    (six-class, stage 2), the emulator renormalises the row over what is allowed.
    """
    from vlmfer.labels import CAER_LABELS

    matrix = []
    for gold in CAER_LABELS:
        row = dict.fromkeys(CAER_LABELS, 0.0)
        row["Neutral"] += 0.50
        row[gold] += 0.32
        row["Surprise"] += 0.08
        for other in CAER_LABELS:
            if other not in (gold, "Neutral", "Surprise"):
                row[other] += 0.10 / 4
        total = sum(row.values())
        matrix.append([row[a] / total for a in CAER_LABELS])
    return {"labels": list(CAER_LABELS), "matrix": matrix}


def _oracle(datasets: dict[str, Dataset], spec: MediaSpec) -> dict[str, str]:
    """Gold labels keyed by the hash of the bytes each backend will send."""
    import hashlib

    from vlmfer.media import prepare_media

    oracle: dict[str, str] = {}
    for ds in datasets.values():
        for sample in ds:
            if sample.label is None:
                continue
            modes = ("image",) if sample.media.kind == "image" else ("video", "frames")
            for mode in modes:
                prepared = prepare_media(sample.media, spec, as_=mode)  # type: ignore[arg-type]
                for part in prepared.parts:
                    oracle[hashlib.sha256(part.data).hexdigest()] = sample.label
    return oracle


async def _run_all(out: Path, *, quiet: bool) -> list[tuple[DemoExperiment, Run]]:
    from vlmfer.emulator import Emulator, EmulatorConfig

    images, videos = _make_data(out / "data")
    datasets: dict[str, Dataset] = {
        "caer-s": get_dataset("caer-s", root=images, split="test"),
        "caer": get_dataset("caer", root=videos, split="test"),
    }
    spec = media_spec_of(get_strategy("single-shot"))
    oracle = _oracle(datasets, spec)
    cache = ResponseCache(out / ".cache" / "responses.sqlite3")
    matrix = out / "data" / "simulated_confusion.json"
    matrix.write_text(json.dumps(simulated_confusion(), indent=1))
    config = EmulatorConfig(policy=f"confusion:{matrix}", oracle=oracle, seed=0,
                            api_key=DEMO_KEY)
    results: list[tuple[DemoExperiment, Run]] = []
    with Emulator(config, port=0) as emu:
        for exp in EXPERIMENTS:
            provider = exp.model.partition("/")[0]
            base_url = emu.openai_base_url if provider == "openai" else emu.gemini_base_url
            predictor = get_predictor(exp.model, base_url=base_url, api_key=DEMO_KEY)
            strategy = get_strategy(exp.strategy, **exp.options)
            dataset = datasets[exp.dataset]
            if exp.classes:
                root = images if exp.dataset == "caer-s" else videos
                dataset = get_dataset(exp.dataset, root=root, split="test", classes=exp.classes)
            roles = {role: get_predictor(spec_, base_url=base_url, api_key=DEMO_KEY)
                     for role, spec_ in strategy.roles().items()}
            options = EngineOptions(concurrency=8, progress=not quiet, n_boot=500)
            run = await evaluate_async(dataset, predictor, strategy, out=out / exp.folder,
                                       options=options, roles=roles, cache=cache)
            results.append((exp, run))
    return results


def run_demo(out: Path | str = "vlmfer-demo", *, quiet: bool = False) -> int:
    """Run every seed experiment against the emulator; print a summary table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # The demo never talks to a real API, whatever the shell has exported.
    for var in ("OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        os.environ.pop(var, None)
    t0 = time.perf_counter()
    results = asyncio.run(_run_all(out, quiet=quiet))
    elapsed = time.perf_counter() - t0
    print()
    print("vlmfer demo — answers come from the built-in SIMULATOR (a loopback emulator of the")
    print("OpenAI and Gemini APIs imitating a Neutral-biased VLM), not from a real model.")
    print()
    header = f"{'experiment':<34} {'model':<24} {'n':>3} {'WAR':>6} {'UAR':>6} {'pred N%':>8}"
    print(header)
    print("-" * len(header))
    for exp, run in results:
        m = run.metrics
        nr = m.get("neutral_rate")
        print(f"{exp.title:<34} {exp.model:<24} {m['n']:>3} {m['accuracy']:>6.3f} "
              f"{m['uar']:>6.3f} {'-' if nr is None else f'{nr * 100:.0f}%':>8}")
    print()
    for _, run in results:
        print(f"report: {run.path / 'report.html'}")
    print(f"\ndone in {elapsed:.1f} s. Run it for real: see docs/quickstart.md")
    return 0


def __getattr__(name: str) -> Any:
    if name == "Experiment":  # renamed: vlmfer.engine.config.Experiment is the experiment file
        import warnings

        warnings.warn("vlmfer.demo.Experiment is deprecated; use vlmfer.demo.DemoExperiment",
                      DeprecationWarning, stacklevel=2)
        return DemoExperiment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
