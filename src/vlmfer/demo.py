"""``vlmfer demo``: the seed study's experiments, offline, end to end, as a study.

It draws a small CAER-S-like image set and a CAER-like AVI set, starts the
loopback emulator with a policy that imitates a Neutral-biased VLM over a gold
oracle, and runs the experiments through the real OpenAI and Gemini SDK
backends, as one ``vlmfer study`` (``vlmfer.study``) whose table it prints. The answers
come from a simulator, and the table says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmfer.datasets.base import Dataset
from vlmfer.engine.preflight import media_spec_of
from vlmfer.plugins import get_dataset, get_strategy
from vlmfer.presets import DEFAULT_GEMINI_MODEL, DEFAULT_OPENAI_MODEL
from vlmfer.report.table import to_markdown
from vlmfer.study import Study, build_experiments, run_study_async
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


#: The demo's experiments: the seed study's, each numbered once (its folder name).
DEMO_STUDY: tuple[tuple[str, DemoExperiment], ...] = (
    ("1-gemini-caer-single-shot", EXPERIMENTS[0]),
    ("2-openai-caer-s-single-shot", EXPERIMENTS[1]),
    ("3-openai-caer-s-six-class", EXPERIMENTS[2]),
    ("4a-gemini-caer-two-stage", EXPERIMENTS[3]),
    ("4b-openai-caer-s-two-stage", EXPERIMENTS[4]),
    ("5-openai-caer-s-free-description", EXPERIMENTS[5]),
)


def demo_study(out: Path, images: Path, videos: Path, *, openai_url: str, gemini_url: str,
               quiet: bool = True) -> Study:
    """The demo as a study: the seed experiments against the emulator's two APIs."""
    entries = []
    for name, exp in DEMO_STUDY:
        provider = exp.model.partition("/")[0]
        tables: dict[str, Any] = {
            "dataset": {"name": exp.dataset, "split": "test",
                        "root": str(images if exp.dataset == "caer-s" else videos)},
            "model": {"name": exp.model,
                      "base_url": openai_url if provider == "openai" else gemini_url},
            "strategy": {"name": exp.strategy, **exp.options},
        }
        if exp.classes:
            tables["dataset"]["classes"] = exp.classes
        entries.append((name, tables))
    defaults = {"run": {"concurrency": 8, "n_boot": 500, "quiet": quiet}}
    experiments = build_experiments(entries, defaults, out, where="vlmfer demo")
    return Study("vlmfer-demo", out, experiments,
                 description="The seed study's experiments against vlmfer's loopback "
                 "emulator: SIMULATED answers, not a real model.", simulated=True)


@contextlib.contextmanager
def _demo_keys() -> Iterator[None]:
    """The emulator's key for this process only; nothing can reach a real API."""
    names = ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_BASE_URL",
             "GOOGLE_GEMINI_BASE_URL")
    saved = {k: os.environ.get(k) for k in names}
    for var in names:
        os.environ.pop(var, None)
    os.environ["OPENAI_API_KEY"] = os.environ["GEMINI_API_KEY"] = DEMO_KEY
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def _run_all(out: Path, *, quiet: bool) -> dict[str, Any]:
    from vlmfer.emulator import Emulator, EmulatorConfig

    images, videos = _make_data(out / "data")
    datasets: dict[str, Dataset] = {
        "caer-s": get_dataset("caer-s", root=images, split="test"),
        "caer": get_dataset("caer", root=videos, split="test"),
    }
    spec = media_spec_of(get_strategy("single-shot"))
    oracle = _oracle(datasets, spec)
    matrix = out / "data" / "simulated_confusion.json"
    matrix.write_text(json.dumps(simulated_confusion(), indent=1))
    config = EmulatorConfig(policy=f"confusion:{matrix}", oracle=oracle, seed=0,
                            api_key=DEMO_KEY)
    with Emulator(config, port=0) as emu:
        study = demo_study(out, images, videos, openai_url=emu.openai_base_url,
                           gemini_url=emu.gemini_base_url, quiet=quiet)
        return await run_study_async(study, cache_dir=out / ".cache")


def run_demo(out: Path | str = "vlmfer-demo", *, quiet: bool = False) -> int:
    """Run the seed experiments as a study against the emulator; print its table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _demo_keys():
        data = asyncio.run(_run_all(out, quiet=quiet))
    elapsed = time.perf_counter() - t0
    print()
    print("vlmfer demo — answers come from the built-in SIMULATOR (a loopback emulator of the")
    print("OpenAI and Gemini APIs imitating a Neutral-biased VLM), not from a real model.")
    print()
    if data["table"] is not None:
        print(to_markdown(data["table"]))
    for e in data["experiments"]:
        print(f"report: {out / e['folder'] / 'report.html'}")
    print(f"study:  {out / 'index.html'}")
    print(f"\ndone in {elapsed:.1f} s. Run it for real: see docs/quickstart.md")
    return 0


def __getattr__(name: str) -> Any:
    if name == "Experiment":  # renamed: vlmfer.engine.config.Experiment is the experiment file
        import warnings

        warnings.warn("vlmfer.demo.Experiment is deprecated; use vlmfer.demo.DemoExperiment",
                      DeprecationWarning, stacklevel=2)
        return DemoExperiment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
