"""Prompt templates: the seed prompt word for word, hashes, placeholders, user files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from strategy_harness import SEED_PROMPT, run, sample_of

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.strategies.common import label_order, media_word
from vlmfer.strategies.single_shot import SingleShot
from vlmfer.strategies.templates import (
    BUILTIN_TEMPLATES,
    TemplateError,
    example_labels,
    load_template,
)
from vlmfer.types import Media, MediaSpec, Sample


def _single_shot(**options: Any) -> SingleShot:
    """``get_strategy("single-shot", ...)``, as the class it builds (which renders prompts)."""
    strategy = vlmfer.get_strategy("single-shot", **options)
    assert isinstance(strategy, SingleShot)
    return strategy


def _render_default(sample: Sample, **options: Any) -> str:
    strategy = _single_shot(**options)
    prompt = strategy.prompt("answer", sample, step="answer", labels=strategy.labels)
    assert isinstance(prompt.text, str)
    return prompt.text


def test_seed_prompt_word_for_word_for_a_video(real_clip: Sample) -> None:
    assert _render_default(real_clip) == SEED_PROMPT


def test_seed_prompt_for_a_still_says_image(tiny_images: dict[str, Sample]) -> None:
    text = _render_default(tiny_images["Happy"])
    assert text == SEED_PROMPT.replace("in the video", "in the image")
    assert text.encode() == SEED_PROMPT.replace("video", "image").encode()


def test_seed_prompt_fixture_is_the_exact_seed_text() -> None:
    # The fixture itself: four lines, no trailing newline, straight quotes.
    lines = SEED_PROMPT.split("\n")
    assert len(lines) == 4
    assert lines[2] == "Emotion List: Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise"
    assert lines[3].startswith("The output should only be the label name (e.g., 'Happy', 'Sad')")
    assert not SEED_PROMPT.endswith("\n")


def test_builtin_templates_have_version_and_content_hash() -> None:
    for name in BUILTIN_TEMPLATES:
        kind = {"seed": "label"}.get(name, name)
        t = load_template(name, kind)
        assert t.version
        assert t.sha256 == hashlib.sha256(t.text.encode("utf-8")).hexdigest()
        assert t.ref.name == name


def test_recorded_template_ref_matches_the_file(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("single-shot")
    _, ctx = run(strategy, tiny_images["Happy"], vlmfer.get_predictor("mock/fixed:Happy"))
    seed = load_template("seed", "label")
    step = ctx.step("answer")
    assert step.template is not None
    assert step.template.sha256 == seed.sha256
    assert step.template.version == seed.version
    assert step.label_order == list(vlmfer.CAER_LABELS)
    assert step.text_sent == SEED_PROMPT.replace("video", "image")
    assert strategy.describe()["templates"]["answer"]["sha256"] == seed.sha256


def test_media_word_rule(tiny_images: dict[str, Sample], real_clip: Sample) -> None:
    image = tiny_images["Sad"]
    assert media_word("auto", image, MediaSpec()) == "image"
    assert media_word("auto", real_clip, MediaSpec()) == "video"
    assert media_word("auto", real_clip, MediaSpec(video_mode="native")) == "video"
    assert media_word("auto", real_clip, MediaSpec(video_mode="frames")) == "frames"
    assert media_word("frames", image, MediaSpec()) == "frames"
    text = _render_default(real_clip, media={"video_mode": "frames"})
    assert "the person in the frames by choosing" in text


def test_shuffled_order_is_per_sample_deterministic_and_recorded(
    tiny_images: dict[str, Sample],
) -> None:
    labels = vlmfer.CAER_LABELS
    orders = {
        s.id: label_order(labels, "shuffle", seed=7, sample_id=s.id, step="answer")
        for s in tiny_images.values()
    }
    assert all(sorted(o) == sorted(labels) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1  # differs between samples
    again = label_order(labels, "shuffle", seed=7, sample_id="Sad/001.png", step="answer")
    assert again == orders["Sad/001.png"]
    assert label_order(labels, "shuffle", seed=8, sample_id="Sad/001.png", step="answer") != again
    assert label_order(labels, "fixed", seed=7, sample_id="x", step="answer") == list(labels)

    strategy = vlmfer.get_strategy("single-shot", label_order="shuffle", order_seed=7)
    sample = tiny_images["Sad"]
    _, ctx = run(strategy, sample, vlmfer.get_predictor("mock/fixed:Sad"))
    step = ctx.step("answer")
    assert step.label_order == orders["Sad/001.png"]
    assert f"Emotion List: {', '.join(orders['Sad/001.png'])}\n" in step.text_sent
    # The examples stay the seed's, whatever the order.
    assert "(e.g., 'Happy', 'Sad')" in step.text_sent


def test_examples_follow_the_label_set() -> None:
    assert example_labels(vlmfer.CAER_LABELS) == ("Happy", "Sad")
    assert example_labels(("Positive", "Negative", "Neutral")) == ("Positive", "Negative")


def _write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_template_file_is_used_and_recorded(
    tmp_path: Path, tiny_images: dict[str, Sample]
) -> None:
    body = "Which emotion is on the face in this {media_word}? Pick one: {labels}."
    path = _write(tmp_path, f'version = "3"\ntext = "{body}"\n')
    strategy = vlmfer.get_strategy("single-shot", template=str(path))
    _, ctx = run(strategy, tiny_images["Fear"], vlmfer.get_predictor("mock/fixed:Fear"))
    step = ctx.step("answer")
    assert step.text_sent == (
        "Which emotion is on the face in this image? Pick one: "
        "Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise."
    )
    assert step.template is not None
    assert (step.template.name, step.template.version) == ("mine", "3")
    assert step.template.sha256 == hashlib.sha256(body.encode()).hexdigest()
    assert strategy.describe()["templates"]["answer"]["source"] == str(path)


def test_system_text_is_sent_and_hashed(tmp_path: Path, tiny_images: dict[str, Sample]) -> None:
    path = _write(
        tmp_path,
        'version = "1"\nsystem = "You label faces."\ntext = "Labels: {labels}"\n',
    )
    strategy = _single_shot(template=str(path))
    prompt = strategy.prompt("answer", tiny_images["Fear"], step="answer", labels=strategy.labels)
    assert prompt.system == "You label faces."
    expected = hashlib.sha256(b"You label faces.\x00Labels: {labels}").hexdigest()
    assert prompt.template is not None and prompt.template.sha256 == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('version = "1"\ntext = "Name the emotion in the {media_word}."', "must use {labels}"),
        ('version = "1"\ntext = "Pick {labels} for {person}"', "unknown placeholder(s) {person}"),
        ('version = "1"\ntext = "Pick from {labels} {0}"', "positional placeholder"),
        ('version = "1"\ntext = "Pick from {}"', "positional placeholder"),
        ('version = "1"\ntext = "Pick from {labels!r}"', "format spec or conversion"),
        ('version = "1"\ntext = "Pick from {labels.upper}"', "plain name"),
        ('version = "1"\ntext = "Use JSON {\\"a\\": 1} and {labels}"', "write literal braces"),
        ('version = "1"\ntext = "Pick from {labels"', "malformed placeholder"),
        ('text = "Pick from {labels}"', "missing key 'version'"),
        ('version = "1"\ntext = "Pick {labels}"\ntemprature = 0', "unknown key 'temprature'"),
        ('version = "1"\ntext = "   "', "'text' is empty"),
        ('version = "1"\nkind = "describe"\ntext = "Describe it."', "is a 'describe' template"),
        ('version = "1"\nkind = "shout"\ntext = "{labels}"', "kind"),
        ('version = 1\ntext = "x {labels}"', "version"),
        ("version = '1\ntext = 'x'", "not valid TOML"),
    ],
)
def test_bad_user_templates_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(TemplateError) as info:
        vlmfer.get_strategy("single-shot", template=str(path))
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_literal_braces_are_allowed(tmp_path: Path, tiny_images: dict[str, Sample]) -> None:
    path = _write(tmp_path, 'version = "1"\ntext = "Answer as {{\\"label\\": ...}} from {labels}"')
    strategy = _single_shot(template=str(path))
    prompt = strategy.prompt("answer", tiny_images["Sad"], step="answer", labels=strategy.labels)
    assert prompt.text.startswith('Answer as {"label": ...} from Anger, ')


def test_missing_template_file_names_the_choices() -> None:
    with pytest.raises(TemplateError, match=r"file not found.*built-in template: seed"):
        vlmfer.get_strategy("single-shot", template="nowhere/mine.toml")
    with pytest.raises(TemplateError, match="not a built-in template or a file"):
        vlmfer.get_strategy("single-shot", template="seeed")


def test_template_errors_are_config_errors() -> None:
    assert issubclass(TemplateError, ConfigError)


def test_prompt_carries_media_spec_and_generation_options(tiny_images: dict[str, Sample]) -> None:
    strategy = _single_shot(
        media={"max_side": 256, "frames": "uniform:4"}, temperature=0.3, max_tokens=12, seed=5,
    )
    sample = tiny_images["Anger"]
    prompt = strategy.prompt("answer", sample, step="answer", labels=strategy.labels)
    assert prompt.media == [sample.media]
    assert prompt.media_spec.max_side == 256 and prompt.media_spec.frames == "uniform:4"
    assert (prompt.options.temperature, prompt.options.max_tokens, prompt.options.seed) == (
        0.3, 12, 5,
    )
    assert prompt.options.logprobs is False


def test_video_sample_media_is_passed_through(real_clip: Sample) -> None:
    strategy = _single_shot()
    prompt = strategy.prompt("answer", real_clip, step="answer", labels=strategy.labels)
    assert prompt.media == [Media.from_path(real_clip.media.path)]
    assert sample_of(real_clip.media.path).media.kind == "video"


def test_one_strategy_renders_each_samples_own_order_and_media_word(
    tiny_images: dict[str, Sample], real_clip: Sample,
) -> None:
    """Prompts are rendered once per label order and media word, and reused: never another
    sample's order or word."""
    strategy = _single_shot(label_order="shuffle", order_seed=3)
    samples = [*tiny_images.values(), real_clip, *tiny_images.values()]
    for sample in samples:
        prompt = strategy.prompt("answer", sample, step="answer", labels=strategy.labels)
        assert prompt.label_order is not None
        assert f"Emotion List: {', '.join(prompt.label_order)}\n" in prompt.text
        word = "video" if sample is real_clip else "image"
        assert prompt.text == _render_default(
            sample, label_order="shuffle", order_seed=3), sample.id
        assert f" {word}" in prompt.text
