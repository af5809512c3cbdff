"""hf/<path> end to end on a tiny random model: generation, exact label scores, frames."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
import vlmfer
from hf_tiny import LABELS, NO_SYSTEM_TEMPLATE
from vlmfer.errors import PredictorError
from vlmfer.types import (
    GenerationOptions,
    Media,
    MediaSpec,
    Prompt,
    ResponseConstraint,
)

QUESTION = "What facial expression does this person show? Answer with one word."
# The tiny tokenizer learnt the CAER labels as single tokens; these take several.
EXTRA = ["Contempt", "Boredom", "Confusion"]
MIXED = LABELS + EXTRA


def ask(predictor: Any, prompt: Prompt) -> Any:
    return asyncio.run(predictor.predict(prompt))


def image_prompt(path: Path, **kw: Any) -> Prompt:
    return Prompt(system="You are an expert in facial expressions.", text=QUESTION,
                  media=[Media.from_path(path)], **kw)


def logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def test_image_prompt_generates_text(predictor: Any, face_image: Path) -> None:
    r = ask(predictor, image_prompt(face_image, options=GenerationOptions(max_tokens=6)))
    assert r.status == "ok"
    assert isinstance(r.text, str)
    assert r.finish_reason in ("stop", "length")
    # 4 image tokens plus the rendered system and user turns.
    assert r.usage.input_tokens > 4 + 10
    assert 1 <= r.usage.output_tokens <= 6
    assert r.logprobs is None and r.label is None
    assert r.cost_usd == 0.0 and predictor.cost_usd(r) == 0.0
    assert r.model_version.startswith("llava@")
    assert r.details["images"] == 1
    assert r.details["media"][0]["as"] == "image"
    assert r.details["generation"]["do_sample"] is False
    # Greedy is deterministic.
    again = ask(predictor, image_prompt(face_image, options=GenerationOptions(max_tokens=6)))
    assert again.text == r.text


def test_seeded_sampling_repeats(predictor: Any, face_image: Path) -> None:
    opts = GenerationOptions(temperature=1.0, seed=7, max_tokens=8)
    a = ask(predictor, image_prompt(face_image, options=opts))
    b = ask(predictor, image_prompt(face_image, options=opts))
    assert a.text == b.text
    assert a.details["generation"] == {"do_sample": True, "temperature": 1.0, "top_p": None,
                                       "max_new_tokens": 8, "seed": 7}


def test_constrained_answer_is_argmax_of_normalised_label_scores(
    predictor: Any, face_image: Path
) -> None:
    prompt = image_prompt(face_image, constraint=ResponseConstraint(kind="enum", labels=LABELS),
                          label_order=LABELS)
    r = ask(predictor, prompt)
    assert list(r.logprobs) == LABELS
    assert all(v <= 0 for v in r.logprobs.values())
    assert logsumexp(list(r.logprobs.values())) == pytest.approx(0.0, abs=1e-6)
    best = max(LABELS, key=lambda x: r.logprobs[x])
    assert r.text == best and r.label is None
    assert r.usage.output_tokens == 0 and r.finish_reason == "stop"
    scores = r.details["label_scores"]
    # Seven one-token labels: one row, one pass.
    assert scores["forward_passes"] == 1 and scores["rows"] == 1
    raw = scores["raw"]
    assert list(raw) == LABELS and all(v < 0 for v in raw.values())
    # Normalised = raw sums minus their logsumexp.
    total = logsumexp(list(raw.values()))
    for label in LABELS:
        assert r.logprobs[label] == pytest.approx(raw[label] - total, abs=1e-6)
    assert all(n >= 1 for n in scores["tokens"].values())


def test_label_scores_equal_one_sequence_at_a_time(
    predictor: Any, tiny_model: Path, face_image: Path
) -> None:
    """The batched, right-padded pass gives each label's exact log-likelihood."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    prompt = image_prompt(face_image, constraint=ResponseConstraint(kind="enum", labels=MIXED))
    scores = ask(predictor, prompt).details["label_scores"]
    raw = scores["raw"]
    tokens = scores["tokens"]
    assert all(tokens[x] == 1 for x in LABELS) and all(tokens[x] > 1 for x in EXTRA)
    assert scores["rows"] == len(EXTRA) and scores["forward_passes"] == 1

    processor = AutoProcessor.from_pretrained(tiny_model, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model, local_files_only=True).eval()
    image = Image.open(prompt.media[0].path).convert("RGB")
    messages = [
        {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
        {"role": "user", "content": [{"type": "image", "image": image},
                                     {"type": "text", "text": QUESTION}]},
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    label_ids = predictor.label_token_ids(text, MIXED)
    enc = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=True, return_tensors="pt")
    n = enc["input_ids"].shape[1]
    for label in MIXED:
        ids = torch.tensor([label_ids[label]])
        with torch.inference_mode():
            logits = model(input_ids=torch.cat([enc["input_ids"], ids], dim=1),
                           attention_mask=torch.ones(1, n + ids.shape[1], dtype=torch.long),
                           pixel_values=enc["pixel_values"]).logits
        logp = torch.log_softmax(logits[0, n - 1:-1].float(), dim=-1)
        expected = float(logp.gather(-1, ids[0].unsqueeze(-1)).sum())
        assert raw[label] == pytest.approx(expected, abs=1e-4), label
        # The label's own text comes back from its tokens.
        assert processor.tokenizer.decode(label_ids[label]) == label


def test_label_batch_size_changes_passes_not_scores(
    tiny_model: Path, predictor: Any, face_image: Path
) -> None:
    prompt = image_prompt(face_image, constraint=ResponseConstraint(kind="enum", labels=MIXED))
    whole = ask(predictor, prompt)
    chunked = ask(vlmfer.get_predictor(f"hf/{tiny_model}", label_batch_size=2), prompt)
    # Three multi-token labels, two rows a pass.
    assert chunked.details["label_scores"]["forward_passes"] == 2
    assert list(chunked.logprobs) == MIXED
    for label in MIXED:
        assert chunked.logprobs[label] == pytest.approx(whole.logprobs[label], abs=1e-5)


def test_logprobs_with_label_order_generate_and_score(predictor: Any, face_image: Path) -> None:
    """What ``calibrated`` asks: a free answer, plus exact scores over its labels."""
    labels = ["Happy", "Neutral", "Sad"]
    prompt = image_prompt(face_image, label_order=labels,
                          options=GenerationOptions(logprobs=True, top_logprobs=20, max_tokens=4))
    r = ask(predictor, prompt)
    assert r.usage.output_tokens >= 1 and r.label is None
    assert list(r.logprobs) == labels
    assert logsumexp(list(r.logprobs.values())) == pytest.approx(0.0, abs=1e-6)


def test_logprobs_without_labels_are_first_token_alternatives(
    predictor: Any, face_image: Path
) -> None:
    prompt = image_prompt(face_image, options=GenerationOptions(logprobs=True, top_logprobs=5,
                                                                max_tokens=3))
    r = ask(predictor, prompt)
    assert 1 <= len(r.logprobs) <= 5
    assert all(v <= 0 for v in r.logprobs.values())
    assert r.details["logprobs"].startswith("top alternatives")


def test_constraint_with_temperature_draws_a_label_by_seed(
    predictor: Any, face_image: Path
) -> None:
    def draw(seed: int) -> str:
        prompt = image_prompt(face_image,
                              constraint=ResponseConstraint(kind="enum", labels=LABELS),
                              options=GenerationOptions(temperature=1.0, seed=seed))
        r = ask(predictor, prompt)
        assert r.details["answer"] == "sampled from the label scores"
        assert r.text in LABELS
        return str(r.text)

    assert draw(3) == draw(3)


def test_json_schema_constraint_answers_a_label_object(predictor: Any, face_image: Path) -> None:
    prompt = image_prompt(face_image,
                          constraint=ResponseConstraint(kind="json_schema", labels=LABELS))
    r = ask(predictor, prompt)
    assert json.loads(r.text or "")["label"] in LABELS


def test_video_as_sampled_frames(predictor: Any, face_clip: Path) -> None:
    prompt = Prompt(text=QUESTION, media=[Media.from_path(face_clip)],
                    media_spec=MediaSpec(frames="uniform:3"),
                    constraint=ResponseConstraint(kind="enum", labels=LABELS))
    r = ask(predictor, prompt)
    assert r.text in LABELS
    assert r.details["images"] == 3
    record = r.details["media"][0]
    assert record["as"] == "frames" and len(record["frame_indices"]) == 3
    # Three images of four tokens each, plus the caption and question.
    assert r.usage.input_tokens > 12
    free = ask(predictor, prompt.model_copy(update={"constraint": None}))
    assert isinstance(free.text, str) and free.details["images"] == 3


def test_too_many_frames_is_refused_before_the_model_runs(
    tiny_model: Path, face_clip: Path
) -> None:
    predictor = vlmfer.get_predictor(f"hf/{tiny_model}", max_images=2)
    assert predictor.capabilities.max_images == 2
    prompt = Prompt(text=QUESTION, media=[Media.from_path(face_clip)],
                    media_spec=MediaSpec(frames="uniform:3"))
    with pytest.raises(PredictorError, match="3 images, over max_images=2") as info:
        ask(predictor, prompt)
    assert info.value.kind == "too_many_images" and not info.value.retryable
    assert predictor._model is None  # weights never loaded for nothing


def test_template_without_system_turn_gets_system_in_user_turn(
    tiny_model: Path, tmp_path: Path, face_image: Path
) -> None:
    template = tmp_path / "no_system.jinja"
    template.write_text(NO_SYSTEM_TEMPLATE, encoding="utf-8")
    predictor = vlmfer.get_predictor(f"hf/{tiny_model}", chat_template_file=str(template))
    r = ask(predictor, image_prompt(face_image, options=GenerationOptions(max_tokens=2)))
    assert r.details["system_merged_into_user"] is True
    # The template is part of what identifies the answers.
    default = vlmfer.get_predictor(f"hf/{tiny_model}")
    assert predictor.cache_identity() != default.cache_identity()


def test_capabilities_and_manifest_entries(predictor: Any, tiny_model: Path) -> None:
    caps = predictor.capabilities
    assert (caps.image, caps.video, caps.video_as_frames) == (True, False, True)
    assert (caps.logprobs, caps.enum_output, caps.json_schema) == (True, True, False)
    assert predictor.name == f"hf/{tiny_model}"
    described = predictor.describe()
    assert described["model_type"] == "llava" and described["path"] == str(tiny_model)
    assert described["options"]["device"] == "cpu"
    identity = predictor.cache_identity()
    assert identity["fingerprint"] == described["fingerprint"]
    assert "scoring" in identity


def test_estimate_counts_image_tokens_without_loading(tiny_model: Path, face_image: Path) -> None:
    predictor = vlmfer.get_predictor(f"hf/{tiny_model}")
    prompt = Prompt(text="x" * 40, media=[Media.from_path(face_image)] * 2)
    assert predictor.estimate_input_tokens(prompt) == 40 // 4 + 16 + 2 * 4
    assert predictor._model is None


def test_bfloat16_weights_take_bfloat16_pixels(tiny_model: Path, face_image: Path) -> None:
    predictor = vlmfer.get_predictor(f"hf/{tiny_model}", dtype="bfloat16")
    prompt = image_prompt(face_image, constraint=ResponseConstraint(kind="enum", labels=LABELS))
    r = ask(predictor, prompt)
    assert str(predictor._model.dtype) == "torch.bfloat16"
    assert logsumexp(list(r.logprobs.values())) == pytest.approx(0.0, abs=1e-5)
    assert predictor.cache_identity()["dtype"] == "bfloat16"
