"""Hand-built run directories for the report tests: real files, real tiny media."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from vlmfer.types import Prediction, Step, Usage

# CAER's label set, spelled out (as vlmfer.CAER_LABELS has it).
LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
INJECTION = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"

_COLOURS = {
    "Anger": (200, 40, 40), "Disgust": (90, 140, 40), "Fear": (120, 60, 160),
    "Happy": (240, 200, 40), "Neutral": (150, 150, 150), "Sad": (40, 80, 200),
    "Surprise": (240, 130, 30),
}


def make_face(path: Path, label: str) -> None:
    """A drawn 96x96 'face' whose colour tells the class."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (96, 96), _COLOURS.get(label, (200, 200, 200)))
    d = ImageDraw.Draw(img)
    d.ellipse((18, 14, 78, 84), fill=(240, 215, 190))
    d.ellipse((34, 36, 42, 44), fill=(20, 20, 20))
    d.ellipse((54, 36, 62, 44), fill=(20, 20, 20))
    d.arc((36, 52, 60, 70), 20, 160, fill=(120, 30, 30), width=3)
    img.save(path)


def make_video(path: Path, frames: int = 12) -> None:
    """A tiny real MPEG-4 AVI whose frames get brighter over time."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", (64, 48), (20 * i % 255, 60, 120))
            frame = av.VideoFrame.from_image(img)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def step(text: str | None, *, name: str = "classify", status: str = "ok",
         cost: float | None = 0.001) -> Step:
    return Step(
        name=name, model="mock/test", prompt_hash="0" * 64, text_sent="Which emotion?",
        response_text=text, status=status,
        usage=Usage(input_tokens=100, output_tokens=5), cost_usd=cost,
    )


def pred(sample_id: str, gold: str | None, answer: str, *, text: str | None = None,
         reason: str | None = None, extra: dict[str, Any] | None = None,
         scores: dict[str, float] | None = None, cost: float | None = 0.001) -> Prediction:
    """A prediction; ``answer`` is a label or a non-answer outcome name."""
    is_label = answer not in ("invalid", "refused", "blocked", "error")
    status = answer if answer in ("refused", "blocked", "error") else "ok"
    return Prediction(
        sample_id=sample_id, gold=gold,
        pred=answer if is_label else None,
        outcome="ok" if is_label else answer,
        reason=reason if reason is not None else (None if is_label else f"{answer} answer"),
        steps=[step(text if text is not None else answer, status=status, cost=cost)],
        scores=scores, cost_usd=cost, extra=extra or {},
    )


def manifest(*, root: Path | None, labels: Sequence[str] = LABELS, name: str = "folder",
             split: str | None = "test", fingerprint: str = "f" * 64,
             model: str = "mock/neutral-biased", strategy: str = "single-shot",
             n: int = 0) -> dict[str, Any]:
    ds: dict[str, Any] = {"name": name, "split": split, "fingerprint": fingerprint, "n": n,
                          "labels": list(labels)}
    if root is not None:
        ds["root"] = str(root)
    return {
        "vlmfer_version": "0.0.test",
        "plugins": [{"plugin": "vlmfer.builtin", "distribution": "vlmfer", "version": "0.0.test"}],
        "dataset": ds,
        "model": {"name": model, "base_url": "http://127.0.0.1:9/v1"},
        "roles": {},
        "strategy": {"name": strategy, "options": {"temperature": 0.0, "frames": "uniform:8"},
                     "labels": list(labels),
                     "templates": {"main": {"name": "seed", "version": "1", "sha256": "ab" * 32,
                                            "kind": "classify", "source": "builtin"}}},
        "labels": list(labels),
        "engine": {"concurrency": 4, "seed": 0, "n_boot": 200},
        "mode": "online",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:05:00+00:00",
        "calls": n,
    }


def write_run(path: Path, man: dict[str, Any], preds: Sequence[Prediction]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text(json.dumps(man, indent=2), encoding="utf-8")
    with (path / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for p in preds:
            f.write(p.model_dump_json() + "\n")
    return path


def neutral_biased_run(tmp_path: Path, *, with_root: bool = True) -> Path:
    """A 7-class image run with a Neutral bias, every non-answer kind and hostile text."""
    root = tmp_path / "data"
    preds: list[Prediction] = []
    i = 0

    def add(gold: str, answer: str, **kw: Any) -> None:
        nonlocal i
        i += 1
        sid = kw.pop("sample_id", f"test/{gold}/{i:04d}.png")
        if kw.pop("media", True):
            make_face(root / sid, gold)
        preds.append(pred(sid, gold, answer, **kw))

    for gold in LABELS:
        for _ in range(3):
            add(gold, gold, text=f"The person looks {gold.lower()}.")
    # The Neutral bias: most mistakes are "Neutral". The gallery shows the top pairs
    # (Fear, Sad, Anger, Surprise -> Neutral) with their first examples by sample id.
    add("Fear", "Neutral", sample_id="test/Fear/0000.png", text=INJECTION,
        extra={"description": "Wide eyes; <b>calm</b> mouth."})
    for gold in ("Fear", "Fear", "Fear", "Sad", "Sad", "Anger", "Surprise", "Disgust"):
        add(gold, "Neutral", text="Neutral. The face shows no strong emotion.")
    make_video(root / "test/Sad/0000.avi")
    preds.append(pred("test/Sad/0000.avi", "Sad", "Neutral", text="Neutral (video)"))
    # Media that cannot be shown: the report shows a placeholder instead of failing.
    preds.append(pred("test/Anger/0000.png", "Anger", "Neutral", text="Neutral"))  # missing
    (root / "test/Surprise").mkdir(parents=True, exist_ok=True)
    (root / "test/Surprise/0000.png").write_bytes(b"not a png at all")
    preds.append(pred("test/Surprise/0000.png", "Surprise", "Neutral", text="Neutral"))
    add("Disgust", "Anger", text="Anger")
    add("Happy", "refused", text=None, reason="refused: I can't identify emotions of people.")
    add("Sad", "invalid", text="Sad or maybe Fear", reason="named two labels")
    add("Anger", "blocked", text=None, reason="blocked: SAFETY")
    add("Surprise", "error", text=None, reason="api_error: HTTP 500 (after 6 attempts)",
        cost=None)
    man = manifest(root=root if with_root else None, n=len(preds))
    return write_run(tmp_path / "run", man, preds)


# Hostile text, put where a run's own strings go: answers, reasons, sample ids, label names,
# the model id. Each must reach the page and the Markdown as text.
SCRIPT_PROBE = "<script>alert(1)</script>"
ATTR_PROBE = '"><img src=x onerror=alert(1)>'
PROBE_LABEL = f"Sad{ATTR_PROBE}"
PROBE_MODEL = f"mock/evil|{SCRIPT_PROBE}\n| injected | row |"


def xss_run(tmp_path: Path) -> Path:
    """A run whose answers, ids, a label and the model id carry XSS and Markdown probes."""
    labels = ["Happy", PROBE_LABEL, "Neutral"]
    preds = [
        pred(f"{SCRIPT_PROBE}.png", "Happy", "Neutral", text=SCRIPT_PROBE),
        pred(f"{ATTR_PROBE}.png", "Happy", "Neutral", text=ATTR_PROBE),
        pred("ok.png", PROBE_LABEL, "Happy", text=f"{PROBE_LABEL}? no, Happy"),
        pred("refusal.png", PROBE_LABEL, "refused", text=None,
             reason=f"refused: {SCRIPT_PROBE}{ATTR_PROBE}"),
        pred("right.png", "Neutral", "Neutral"),
    ]
    man = manifest(root=None, labels=labels, model=PROBE_MODEL, n=len(preds))
    return write_run(tmp_path / "run", man, preds)


def with_metrics(path: Path, **extra: Any) -> Path:
    """Recompute metrics.json for the run at ``path`` and add ``extra`` keys to it.

    A key whose value is a dict is merged into the existing block of that name.
    """
    from vlmfer.engine.rundir import RunFolder
    from vlmfer.report.summary import write_metrics

    metrics = write_metrics(RunFolder(path))
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(metrics.get(key), dict):
            _merge(metrics[key], value)
        else:
            metrics[key] = value
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return path


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
