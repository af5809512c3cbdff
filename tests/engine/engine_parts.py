"""Inline components for engine tests: real implementations of the ABCs, no SDK involved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from vlmfer.datasets.base import Dataset
from vlmfer.errors import MediaError, PredictorError
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import StepContext, Strategy, Verdict
from vlmfer.types import Capabilities, Media, Prompt, Response, Sample, Usage, stable_hash

LABELS = ("Anger", "Happy", "Neutral")


class TinyDataset(Dataset):
    name = "tiny"

    def __init__(self, root: Path, n: int = 6, kind: str = "image") -> None:
        from PIL import Image

        self.labels = LABELS
        self.splits = ("test",)
        self.split = "test"
        self.media_kind = "image"
        self.root = root
        self.samples: list[Sample] = []
        for i in range(n):
            label = LABELS[i % len(LABELS)]
            path = root / "test" / label / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (i * 20 % 255, 80, 120)).save(path)
            self.samples.append(Sample(id=f"test/{label}/{i:04d}.png",
                                       media=Media.from_path(path), label=label))

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def fingerprint(self) -> str:
        return stable_hash([s.id for s in self.samples])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.root)}


class ScriptedPredictor(Predictor):
    """Answers from a script keyed by file name; can fail, refuse or block on demand."""

    provider = "scripted"

    def __init__(self, answers: dict[str, Any] | None = None, default: str = "Happy",
                 caps: Capabilities | None = None) -> None:
        self.model = "v1"
        self.capabilities = caps or Capabilities(image=True, logprobs=True)
        self.answers = answers or {}
        self.default = default
        self.calls: list[Prompt] = []
        self.failures: dict[str, int] = {}

    async def predict(self, prompt: Prompt) -> Response:
        self.calls.append(prompt)
        key = prompt.media[0].path.name if prompt.media else prompt.text
        action = self.answers.get(key, self.default)
        if isinstance(action, PredictorError):
            seen = self.failures.get(key, 0)
            self.failures[key] = seen + 1
            limit = getattr(action, "times", 10**9)
            if seen < limit:
                raise action
            action = self.default
        if isinstance(action, MediaError):
            raise action
        if action == "REFUSE":
            return Response(text=None, status="refused", reason="policy")
        if action == "BLOCK":
            return Response(text=None, status="blocked", reason="SAFETY")
        return Response(text=str(action), usage=Usage(input_tokens=100, output_tokens=2),
                        cost_usd=0.001)


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: list[str] = list(LABELS)


class ParseStrategy(Strategy):
    """One call; the answer text must be one of the labels."""

    name = "parse"
    Options: ClassVar[type[BaseModel]] = EchoOptions

    @property
    def labels(self) -> tuple[str, ...]:
        assert isinstance(self.options, EchoOptions)
        return tuple(self.options.labels)

    async def run(self, sample: Sample, ctx: StepContext) -> Verdict:
        prompt = Prompt(text="Which emotion? " + ", ".join(self.labels), media=[sample.media])
        r = await ctx.ask(prompt, step="answer")
        if r.status != "ok":
            return Verdict(pred=None, outcome=r.status, reason=r.reason)
        if r.text in self.labels:
            return Verdict(pred=r.text, outcome="ok")
        return Verdict(pred=None, outcome="invalid", reason=f"not a label: {r.text!r}")
