"""What the built-in strategies share: options, label order, prompts and outcomes."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import BaseModel, Field, ValidationError, field_validator

from vlmfer.errors import ConfigError, option_problems
from vlmfer.labels import CAER_LABELS, NEUTRAL, parse_label, rule_of
from vlmfer.strategies.base import SampleContext, Strategy, Verdict
from vlmfer.strategies.templates import Template, load_template, render_values, template_refs
from vlmfer.types import (
    GenerationOptions,
    LabelMatch,
    Media,
    MediaSpec,
    Prompt,
    Record,
    Response,
    ResponseConstraint,
    Sample,
)

MediaWord = Literal["auto", "video", "image", "frames"]
StepKind = Literal["label", "gate", "describe", "mapper"]

#: The output-token cap each kind of step gets by default (``max_tokens="auto"``),
#: sized to its answer: a label or a gate answer is one to three tokens, so 32 leaves
#: room for a label in quotes, a short sentence or JSON; a description is a few
#: sentences. A cap keeps a rambling model from producing a label inside a long
#: cut-off answer, and keeps a local server from generating a thousand tokens of it.
STEP_MAX_TOKENS: dict[str, int] = {"label": 32, "gate": 32, "describe": 512, "mapper": 32}
#: When a step's whole default budget went to hidden reasoning (finish reason
#: ``length`` and no text: reasoning models count their reasoning tokens against the
#: cap), the step is asked once more with this cap, as step ``<name>-more-tokens``.
REASONING_MAX_TOKENS = 4096
#: The suffix of the step name for that second ask.
MORE_TOKENS = "-more-tokens"


class CommonOptions(Record):
    """Options every built-in strategy takes."""

    #: The label set, in its canonical order (the dataset's labels).
    labels: tuple[str, ...] = CAER_LABELS
    #: A built-in template name or the path of a template TOML file (None: the default).
    template: str | None = None
    #: "fixed": labels in the order above; "shuffle": a per-sample permutation.
    label_order: Literal["fixed", "shuffle"] = "fixed"
    #: Seed of the per-sample permutation (with ``label_order="shuffle"``).
    order_seed: int = 0
    #: How media becomes bytes for the model (frames, size, face crop...).
    media: MediaSpec = Field(default_factory=MediaSpec)
    #: The word for the media in the prompt; "auto" follows the sample (see ``media_word``).
    media_word: MediaWord = "auto"
    temperature: float | None = Field(default=0.0, ge=0.0)
    #: The output-token cap of every step: "auto" (each step's default, see
    #: ``STEP_MAX_TOKENS``), a number for all steps, or "none" (send no cap).
    max_tokens: Annotated[int, Field(ge=1)] | Literal["auto", "none"] | None = "auto"
    seed: int | None = 0

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2:
            raise ValueError(f"need at least two labels, got {list(v)}")
        blank = [x for x in v if not x.strip()]
        if blank:
            raise ValueError(f"labels must be non-empty names, got {list(v)}")
        seen: dict[str, str] = {}
        for x in v:
            if x.casefold() in seen:
                raise ValueError(f"duplicate label {x!r} (same as {seen[x.casefold()]!r})")
            seen[x.casefold()] = x
        if any(x.strip().casefold() == "none" for x in v):
            raise ValueError("'none' cannot be a label: it is the answer for 'no label'")
        return v


def media_word(setting: str, sample: Sample, spec: MediaSpec) -> str:
    """Resolve the media word: an explicit setting wins; "auto" gives "image" for an
    image, "frames" for a video with ``media.video_mode="frames"`` and "video" otherwise
    (also with ``video_mode="auto"``, where the predictor decides how to send it)."""
    if setting != "auto":
        return setting
    if sample.media.kind == "image":
        return "image"
    return "frames" if spec.video_mode == "frames" else "video"


def run_media(ctx: SampleContext) -> MediaSpec | None:
    """The run's media settings, which the engine's context carries (None: the option's)."""
    spec = getattr(ctx, "media_spec", None)  # not every SampleContext carries them yet
    return spec if isinstance(spec, MediaSpec) else None


def label_order(
    labels: tuple[str, ...], mode: str, *, seed: int, sample_id: str, step: str
) -> list[str]:
    """The label order for one prompt: fixed, or a permutation seeded by
    ``(order_seed, sample id, step name)`` so that it is the same on every re-run."""
    order = list(labels)
    if mode == "shuffle":
        digest = hashlib.sha256(f"{seed}\x00{sample_id}\x00{step}".encode()).digest()
        random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def non_answer(response: Response, step: str) -> Verdict | None:
    """The outcome for a response that carries no answer; None if it has one.

    A refusal or a block is never parsed, whatever text came with it.
    """
    if response.status in ("refused", "blocked"):
        why = response.reason or response.finish_reason or f"the answer was {response.status}"
        return Verdict(pred=None, outcome=response.status, reason=f"{step}: {why}")
    if response.text is None or not response.text.strip():
        fin = f" (finish reason {response.finish_reason})" if response.finish_reason else ""
        return Verdict(pred=None, outcome="invalid", reason=f"{step}: empty answer{fin}")
    return None


def starved(response: Response) -> bool:
    """Whether the output-token cap ran out before any answer text."""
    return (response.status == "ok" and response.finish_reason == "length"
            and not (response.text or "").strip())


def answer_text(text: str, constrained: str | None) -> str:
    """The label text of an answer: the ``label`` field of a JSON-schema answer."""
    if constrained == "json_schema":
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and isinstance(data.get("label"), str):
            return str(data["label"])
    return text


def short(text: str | None, n: int = 200) -> str:
    t = (text or "").strip()
    return repr(t if len(t) <= n else t[: n - 1] + "…")


def is_refusal(match: LabelMatch) -> bool:
    """Whether the parser read the text as a refusal ("I'm sorry, I can't help...")."""
    return rule_of(match.how) == "refusal"


def declines(match: LabelMatch) -> bool:
    """Whether the text says the model cannot tell ("unknown", "cannot determine").

    Log-probabilities behind such a text still rank the labels, but the model's own
    answer was that it did not know: that is a non-answer, not a low-confidence label.
    """
    return rule_of(match.how) in ("unknown", "empty")


def invalid(step: str, text: str | None, match: LabelMatch) -> Verdict:
    """The outcome for an answer with no label: ``refused`` when the text is a refusal
    (some APIs return refusals as plain text), else ``invalid``."""
    if is_refusal(match):
        return Verdict(pred=None, outcome="refused", reason=f"{step}: {short(text)}")
    return Verdict(
        pred=None,
        outcome="invalid",
        reason=f"{step}: no single label in {short(text)} ({match.how})",
    )


#: Finish reasons that mean the answer was cut off at the token limit (OpenAI, Anthropic, Gemini).
CUT_OFF = frozenset({"length", "max_tokens", "max_output_tokens"})


def parse(
    text: str, labels: tuple[str, ...] | list[str], *, finish_reason: str | None = None
) -> LabelMatch:
    """``parse_label``, told whether the answer was cut off at the token limit: a cut-off
    answer gets a label only from a whole-answer match or a "Final answer:" line."""
    truncated = (finish_reason or "").casefold() in CUT_OFF
    return parse_label(text, tuple(labels), truncated=truncated)


def without_neutral(labels: tuple[str, ...], strategy: str) -> tuple[str, ...]:
    rest = tuple(x for x in labels if x.casefold() != NEUTRAL.casefold())
    if len(rest) == len(labels):
        raise ConfigError(
            f"strategy {strategy!r} removes {NEUTRAL!r} from the labels, but labels={list(labels)} "
            f"have no {NEUTRAL!r}; add it, or use the single-shot strategy"
        )
    if len(rest) < 2:
        raise ConfigError(
            f"strategy {strategy!r}: labels={list(labels)} leave fewer than two labels once "
            f"{NEUTRAL!r} is removed"
        )
    return rest


#: Rendered prompts kept per strategy (label orders x media words; 7! shuffles fit).
_RENDERED_MAX = 8192


#: The template slot of the step that asks for one label: a ``label`` template, the
#: ``seed`` one unless the ``template`` option names another.
ANSWER_SLOT: tuple[str, str, str] = ("label", "seed", "template")


class BuiltinStrategy(Strategy):
    """Shared machinery: option errors that name the strategy, templates, prompts."""

    Options: ClassVar[type[BaseModel]] = CommonOptions
    options: CommonOptions
    #: The template slots, in order: slot -> (kind, default template, option holding it).
    template_slots: ClassVar[dict[str, tuple[str, str, str]]] = {}

    def __init__(self, **options: Any) -> None:
        try:
            super().__init__(**options)
        except ValidationError as e:
            raise ConfigError(self._options_error(e)) from None
        self.templates: dict[str, Template] = {}
        for slot, (kind, default, option) in self.slots().items():
            ref = getattr(self.options, option) or default
            self.templates[slot] = load_template(ref, kind)

    @property
    def labels(self) -> tuple[str, ...]:
        """The label set it answers in: the ``labels`` option."""
        return self.options.labels

    def slots(self) -> dict[str, tuple[str, str, str]]:
        """The template slots this configuration uses (all of ``template_slots``)."""
        return dict(self.template_slots)

    @classmethod
    def _options_error(cls, e: ValidationError) -> str:
        valid = list(cls.Options.model_fields)
        return (f"strategy {cls.name!r}: {option_problems(e.errors(), valid)}. "
                f"Valid options: {', '.join(valid)}")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "options": self.options.model_dump(mode="json"),
            "labels": list(self.labels),
            "templates": template_refs(self.templates),
        }

    def generation(self, kind: StepKind = "label", **overrides: Any) -> GenerationOptions:
        """The generation options of a ``kind`` step; ``overrides`` win."""
        o = self.options
        base: dict[str, Any] = {
            "temperature": o.temperature,
            "max_tokens": self.max_tokens(kind),
            "seed": o.seed,
        }
        base.update(overrides)
        return GenerationOptions(**base)

    def max_tokens(self, kind: StepKind) -> int | None:
        """The cap sent for a ``kind`` step (None: no cap)."""
        v = self.options.max_tokens
        if v == "auto":
            return STEP_MAX_TOKENS[kind]
        if v == "none" or v is None:
            return None
        return int(v)

    async def ask(
        self, ctx: SampleContext, prompt: Prompt, *, step: str, role: str = "main"
    ) -> tuple[Response, str]:
        """Ask ``prompt``; return the answer and the name of the step that gave it.

        An answer starved by its default cap (finish reason ``length``, no text: a
        reasoning model spent the budget thinking) is asked once more with
        ``REASONING_MAX_TOKENS``. A cap the user set is theirs: never raised.
        """
        response = await ctx.ask(prompt, step=step, role=role)
        # The cap is part of the prompt hash; the step also says it in plain words.
        ctx.note(step, max_tokens=prompt.options.max_tokens)
        if self.options.max_tokens == "auto" and starved(response):
            options = prompt.options.model_copy(update={"max_tokens": REASONING_MAX_TOKENS})
            step = f"{step}{MORE_TOKENS}"
            response = await ctx.ask(prompt.model_copy(update={"options": options}),
                                     step=step, role=role)
            ctx.note(step, max_tokens=REASONING_MAX_TOKENS)
        return response, step

    async def ask_slot(
        self,
        slot: str,
        sample: Sample,
        ctx: SampleContext,
        *,
        step: str | None = None,
        labels: tuple[str, ...] | None = None,
        options: GenerationOptions | None = None,
        constraint: str | None = None,
    ) -> tuple[Prompt, Response, str]:
        """Ask the ``slot`` template about ``sample``, with the run's media settings.

        The step is named ``step`` (the slot's name by default). Returns the prompt, the
        answer and the name of the step that gave it (see ``ask``).
        """
        step = step or slot
        prompt = self.prompt(slot, sample, step=step, labels=labels, options=options,
                             constraint=constraint, media_spec=run_media(ctx))
        response, step = await self.ask(ctx, prompt, step=step)
        return prompt, response, step

    def prompt(
        self,
        slot: str,
        sample: Sample,
        *,
        step: str,
        labels: tuple[str, ...] | None = None,
        media: list[Media] | None = None,
        description: str | None = None,
        options: GenerationOptions | None = None,
        constraint: str | None = None,
        media_spec: MediaSpec | None = None,
    ) -> Prompt:
        """Render the ``slot`` template for ``sample`` into a Prompt.

        ``labels`` is the canonical label set the prompt lists (None for a template
        without a label list); its order for this sample is recorded.
        """
        template = self.templates[slot]
        kind = cast(StepKind, self.slots()[slot][0])
        o = self.options
        spec = media_spec or o.media
        order: list[str] | None = None
        if labels is not None:
            order = label_order(
                labels, o.label_order, seed=o.order_seed, sample_id=sample.id, step=step
            )
        if media is None:
            media = [sample.media]
        word = media_word(o.media_word, sample, spec) if media else None
        # A template renders the same text for one label order and media word: rendered
        # once, not once a sample (a free description makes each text its own).
        memo: dict[Any, tuple[Template, str | None, str]] = self.__dict__.setdefault(
            "_rendered", {})
        memo_key = (None if description is not None
                    else (slot, labels, None if order is None else tuple(order), word))
        hit = memo.get(memo_key) if memo_key is not None else None
        if hit is not None and hit[0] is template:
            system, text = hit[1], hit[2]
        else:
            values = (render_values(order=order, canonical=labels)
                      if order is not None and labels is not None else {})
            if word is not None:
                values["media_word"] = word
            if description is not None:
                values["description"] = description
            system, text = template.render(**values)
            if memo_key is not None:
                if len(memo) >= _RENDERED_MAX:
                    memo.clear()
                memo[memo_key] = (template, system, text)
        resp_constraint = None
        if constraint is not None and order is not None:
            resp_constraint = ResponseConstraint(
                kind="enum" if constraint == "enum" else "json_schema", labels=order
            )
        return Prompt(
            system=system,
            text=text,
            media=media,
            media_spec=spec,
            options=options if options is not None else self.generation(kind),
            constraint=resp_constraint,
            template=template.ref,
            label_order=order,
        )
