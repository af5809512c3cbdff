"""``free-description``: describe the face in free words, then map the words to a label."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from vlmfer.errors import ConfigError
from vlmfer.labels import map_description
from vlmfer.strategies.base import SampleContext, Verdict
from vlmfer.strategies.common import (
    BuiltinStrategy,
    CommonOptions,
    invalid,
    is_refusal,
    non_answer,
    parse,
    short,
)
from vlmfer.strategies.embedding import BUNDLED_MODEL, check_available, map_with_embedding
from vlmfer.types import LabelMatch, Sample

Mapper = Literal["lexicon", "llm", "embedding"]


class FreeDescriptionOptions(CommonOptions):
    """Options of ``free-description`` (``template`` is the describe template)."""

    #: How the description becomes a label.
    mapper: Mapper = "lexicon"
    #: With ``mapper="llm"``: the model that maps ("provider/model"); None: the main model.
    mapper_model: str | None = None
    #: With ``mapper="llm"``: the mapper template (a built-in name or a file).
    mapper_template: str | None = None
    #: With ``mapper="embedding"``: the bundled model package, or a local model folder.
    embedding_model: str = BUNDLED_MODEL
    #: With ``mapper="embedding"``: the least cosine similarity that still names a label.
    embedding_threshold: float = Field(default=0.3, ge=-1.0, le=1.0)


def is_none_answer(text: str) -> bool:
    return text.strip().strip(" \t\r\n\"'`.,:;!?()[]{}*").casefold() in {"none", "none of them"}


class FreeDescription(BuiltinStrategy):
    """Stage 1 (vision): describe the person's facial expression, with no label list.
    Stage 2: map the description to a label with the ``lexicon`` (offline word table),
    an ``llm`` (a text-only call, possibly to another model) or an ``embedding`` model.
    The description is kept in ``extra["description"]``; one that maps to no label is
    ``invalid``."""

    name: ClassVar[str] = "free-description"
    Options: ClassVar[type[BaseModel]] = FreeDescriptionOptions
    options: FreeDescriptionOptions
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {
        "describe": ("describe", "describe", "template"),
        "mapper": ("mapper", "mapper", "mapper_template"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        if o.mapper != "llm":
            for name in ("mapper_model", "mapper_template"):
                if getattr(o, name) is not None:
                    raise ConfigError(
                        f"strategy {self.name!r}: option {name!r} is only used with "
                        f"mapper='llm' (mapper is {o.mapper!r}); remove it or set mapper='llm'"
                    )
        if o.mapper_model is not None and "/" not in o.mapper_model:
            raise ConfigError(
                f"strategy {self.name!r}: mapper_model={o.mapper_model!r} must be written as "
                "provider/model, e.g. 'openai/gpt-5-mini'"
            )
        self._embedding_path: str | None = None
        if o.mapper == "embedding":
            self._embedding_path = check_available(o.embedding_model)

    def slots(self) -> dict[str, tuple[str, str, str]]:
        slots = dict(self.template_slots)
        if self.options.mapper != "llm":
            slots.pop("mapper")
        return slots

    def roles(self) -> dict[str, str]:
        o = self.options
        if o.mapper == "llm" and o.mapper_model is not None:
            return {"mapper": o.mapper_model}
        return {}

    async def decide(self, sample: Sample, ctx: SampleContext) -> Verdict:
        o = self.options
        _, response, describe_step = await self.ask_slot("describe", sample, ctx)
        stop = non_answer(response, "describe")
        if stop is not None:
            return stop
        description = (response.text or "").strip()
        extra: dict[str, Any] = {"description": description, "mapper": o.mapper}
        # A refusal in plain text is not a description: no mapper may turn it into a label.
        as_answer = parse(description, self.labels)
        if is_refusal(as_answer):
            ctx.note(describe_step, parsed=as_answer, mapper=o.mapper)
            return Verdict(
                pred=None, outcome="refused", reason=f"describe: {short(description)}",
                extra=extra,
            )

        step, read = describe_step, description
        if o.mapper == "lexicon":
            match = map_description(description, self.labels)
        elif o.mapper == "embedding":
            assert self._embedding_path is not None
            match = await asyncio.to_thread(
                map_with_embedding, description, self.labels,
                model_path=self._embedding_path, threshold=o.embedding_threshold,
            )
        else:
            step = "map"
            role = "mapper" if o.mapper_model is not None else "main"
            extra["mapper_model"] = o.mapper_model
            map_prompt = self.prompt(
                "mapper", sample, step=step, labels=self.labels, media=[],
                description=description,
            )
            mapped, step = await self.ask(ctx, map_prompt, step=step, role=role)
            stop = non_answer(mapped, step)
            if stop is not None:
                return stop.model_copy(update={"extra": extra})
            text = read = mapped.text or ""
            if is_none_answer(text):
                match = LabelMatch(label=None, how="the mapper answered 'none'")
            else:
                match = parse(text, self.labels, finish_reason=mapped.finish_reason)
        ctx.note(step, parsed=match, mapper=o.mapper)
        if match.label is None:
            if is_refusal(match):
                return invalid(step, read, match).model_copy(update={"extra": extra})
            return Verdict(
                pred=None,
                outcome="invalid",
                reason=f"{step}: the description {short(description)} maps to no label "
                f"({match.how})",
                extra=extra,
            )
        return Verdict(pred=match.label, outcome="ok", extra=extra)
