"""The cache key: everything that can change an answer changes it, and nothing else does.

A key that misses a part serves one model's (or one temperature's) answers for another;
a key that holds too much only costs a cache miss. Both are checked through the public
``cache_key`` and ``Prompt.key_material``, with the keys of real predictors.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import vlmfer
from vlmfer.engine import cache_key
from vlmfer.types import (
    GenerationOptions,
    Media,
    MediaSpec,
    Prompt,
    ResponseConstraint,
    TemplateRef,
)

URL = "http://127.0.0.1:9/v1"
LABELS = ["Happy", "Neutral", "Sad"]


def _media(path: str = "faces/a.png", sha: str = "a" * 64) -> Media:
    return Media(path=Path(path), kind="image", mime_type="image/png", sha256=sha)


def _prompt(**changes: Any) -> Prompt:
    base: dict[str, Any] = {
        "system": "You label facial expressions.",
        "text": "Which emotion? Emotion List: Happy, Neutral, Sad",
        "media": [_media()],
        "constraint": ResponseConstraint(kind="enum", labels=LABELS),
        "label_order": LABELS,
        "template": TemplateRef(name="seed", version="1", sha256="b" * 64),
    }
    return Prompt(**{**base, **changes})


def _openai(**options: Any) -> Any:
    return vlmfer.get_predictor("openai/gpt-4o", **{"base_url": URL, "api_key": "sk-a",
                                                    **options})


def _key(prompt: Prompt, predictor: Any = None) -> str:
    return cache_key((predictor or _openai()).cache_identity(), prompt)


def _other_value(model: type[BaseModel], name: str) -> Any:
    """A valid value of field ``name`` other than its default (Literal choices first)."""
    field = model.model_fields[name]
    default = field.get_default(call_default_factory=True)
    choices: list[Any] = []
    stack = [field.annotation]
    while stack:
        t = stack.pop()
        if typing.get_origin(t) is typing.Literal:
            choices += list(typing.get_args(t))
        else:
            stack += list(typing.get_args(t))
    for candidate in [*choices, 1, 2, 0.5, True, "x", ["x"]]:
        try:
            value = getattr(model.model_validate({name: candidate}), name)
        except ValidationError:
            continue
        if value != default:
            return value
    raise AssertionError(f"{model.__name__}.{name}: no other value found; add a candidate")


# ------------------------------------------------------------------ the predictor

@pytest.mark.parametrize(("a", "b"), [
    (("openai/gpt-4o", URL), ("openai/gpt-4.1", URL)),  # the model
    (("openai/gpt-4o", URL), ("gemini/gpt-4o", URL)),  # the provider
    (("openai/gpt-4o", URL), ("openai/gpt-4o", "http://127.0.0.1:8/v1")),  # the base URL
], ids=["model", "provider", "base_url"])
def test_the_predictor_changes_the_key(a: tuple[str, str], b: tuple[str, str]) -> None:
    first = vlmfer.get_predictor(a[0], base_url=a[1], api_key="k")
    second = vlmfer.get_predictor(b[0], base_url=b[1], api_key="k")
    assert _key(_prompt(), first) != _key(_prompt(), second)


def test_how_a_call_is_made_does_not_change_the_key() -> None:
    """The key, the timeout and the image cap change how a call goes, not its answer."""
    plain = _key(_prompt(), _openai())
    assert _key(_prompt(), _openai(api_key="sk-another")) == plain
    assert _key(_prompt(), _openai(timeout_s=5)) == plain
    assert _key(_prompt(), _openai(max_images=10)) == plain


# ------------------------------------------------------------------ the prompt

@pytest.mark.parametrize("name", sorted(GenerationOptions.model_fields))
def test_every_generation_option_changes_the_key(name: str) -> None:
    options = GenerationOptions.model_validate({name: _other_value(GenerationOptions, name)})
    assert _key(_prompt(options=options)) != _key(_prompt())


@pytest.mark.parametrize("name", sorted(MediaSpec.model_fields))
def test_every_media_spec_field_changes_the_key(name: str) -> None:
    spec = MediaSpec.model_validate({name: _other_value(MediaSpec, name)})
    assert _key(_prompt(media_spec=spec)) != _key(_prompt())


def test_the_media_spec_does_not_matter_without_media() -> None:
    spec = MediaSpec(frames="all", max_side=None)
    assert _key(_prompt(media=[], media_spec=spec)) == _key(_prompt(media=[]))


@pytest.mark.parametrize("changes", [
    {"text": "Which emotion? Emotion List: Sad, Neutral, Happy"},
    {"system": None},
    {"system": "Answer in one word."},
    {"media": []},
    {"media": [_media(sha="c" * 64)]},
    {"media": [_media(), _media(sha="c" * 64)]},
    {"media": [Media(path=Path("faces/a.png"), kind="video", mime_type="image/png",
                     sha256="a" * 64)]},
    {"media": [Media(path=Path("faces/a.png"), kind="image", mime_type="image/jpeg",
                     sha256="a" * 64)]},
    {"constraint": None},
    {"constraint": ResponseConstraint(kind="json_schema", labels=LABELS)},
    {"constraint": ResponseConstraint(kind="enum", labels=["Happy", "Sad"])},
    {"label_order": ["Sad", "Neutral", "Happy"]},
    {"label_order": None},
], ids=["text", "no-system", "system", "no-media", "media-bytes", "more-media", "media-kind",
        "media-mime", "no-constraint", "constraint-kind", "constraint-labels", "label-order",
        "no-label-order"])
def test_what_the_model_sees_or_is_asked_changes_the_key(changes: dict[str, Any]) -> None:
    assert _key(_prompt(**changes)) != _key(_prompt())


def test_where_the_file_lies_and_which_template_wrote_the_text_do_not_change_the_key() -> None:
    moved = _prompt(media=[_media(path="elsewhere/renamed.png")])
    other_template = _prompt(template=TemplateRef(name="mine", version="9", sha256="d" * 64))
    assert _key(moved) == _key(other_template) == _key(_prompt(template=None)) == _key(_prompt())


def test_every_prompt_field_is_either_keyed_or_known_to_be_cosmetic() -> None:
    """A new Prompt field must be decided on: part of the key, or listed here as not."""
    keyed = {"system", "text", "media", "media_spec", "options", "constraint", "label_order"}
    not_keyed = {"template"}
    assert set(Prompt.model_fields) == keyed | not_keyed


def test_unhashed_media_cannot_be_keyed() -> None:
    with pytest.raises(ValueError, match=r"faces/a.png: media must be hashed"):
        _prompt(media=[Media.from_path("faces/a.png")]).key_material()


def test_a_precomputed_prompt_hash_gives_the_same_key() -> None:
    identity = _openai().cache_identity()
    assert cache_key(identity, _prompt().hash()) == cache_key(identity, _prompt())


def test_the_key_of_a_known_prompt_is_stable() -> None:
    """Every user's cache is keyed this way: a change here empties it (bump SCHEMA_VERSION)."""
    identity = {"name": "openai/gpt-4o", "base_url": URL}
    assert _prompt().hash() == (
        "6d41d8eca45c0a29d14e1c2faf19c8103c0ba557fdbe778f15d015066181f8b4")
    assert cache_key(identity, _prompt()) == (
        "e6ddb9c1cc413e1afe04077dee210c1a5a4665d0d09669f31f3c3acfe18807a8")


def test_a_keyer_gives_the_same_key_as_cache_key() -> None:
    """The engine renders a predictor's identity once; stored keys must not change."""
    from vlmfer.engine.cache import cache_key, cache_keyer
    from vlmfer.types import Prompt

    identity = {"provider": "openai", "model": "gpt-5.2", "base_url": "http://127.0.0.1:1/v1",
                "options": {"reasoning": "é", "n": [1, 2]}}
    prompt = Prompt(text="Which emotion? Happy, Sad")
    assert cache_keyer(identity)(prompt.hash()) == cache_key(identity, prompt)
