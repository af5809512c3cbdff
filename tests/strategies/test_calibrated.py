"""calibrated: logprob scores, contextual calibration and the sampling fallback."""

from __future__ import annotations

import math
from pathlib import Path

import av
import pytest
from PIL import Image
from strategy_harness import COLOURS, Scripted, run

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.calibrated import (
    MIN_FLOOR,
    argmax,
    calibrate,
    empirical_distribution,
    label_distribution,
    token_label,
)
from vlmfer.strategies.content_free import content_free_media
from vlmfer.types import Capabilities, Prompt, Response, Sample

LABELS = vlmfer.CAER_LABELS
#: The fake model's stated prior (logit offsets): strongly Neutral, a little Sad.
PRIOR = {"Neutral": 3.0, "Sad": 1.5}
#: How much the true expression adds to its label's logit: less than the Neutral bias.
SIGNAL = 2.0


class BiasedLogprobs(Predictor):
    """Sees the true label in a tiny image's colour, but adds a label prior.

    A mid-grey (content-free) image carries no signal, so its distribution is the
    prior alone; dividing it out must recover the true label.
    """

    provider = "fake"

    def __init__(self, colours: dict[str, tuple[int, int, int]]) -> None:
        self.model = "biased"
        self.capabilities = Capabilities(logprobs=True)
        self.by_colour = {c: label for label, c in colours.items()}
        self.calls = 0

    async def predict(self, prompt: Prompt) -> Response:
        self.calls += 1
        with Image.open(prompt.media[0].path) as im:
            colour = im.convert("RGB").getpixel((0, 0))
        truth = self.by_colour.get(colour)  # None for the grey content-free image
        logits = {x: PRIOR.get(x, 0.0) + (SIGNAL if x == truth else 0.0) for x in LABELS}
        z = math.log(sum(math.exp(v) for v in logits.values()))
        # Real APIs return tokens, not labels: vary the spelling.
        tokens = {"Neutral": " Neutral", "Disgust": "Disg", "Happy": "happy"}
        logprobs = {tokens.get(x, x): v - z for x, v in logits.items()}
        answer = max(logits, key=lambda x: logits[x])
        return Response(text=answer, logprobs=logprobs if prompt.options.logprobs else None)


def test_contextual_calibration_recovers_the_true_labels(
    tiny_images: dict[str, Sample], _cache_dir: Path
) -> None:
    fake = BiasedLogprobs(COLOURS)
    strategy = vlmfer.get_strategy("calibrated")
    assert strategy.requirements().logprobs is True
    raw_preds, cal_preds = {}, {}
    for label, sample in tiny_images.items():
        pred, ctx = run(strategy, sample, fake)
        assert pred.outcome == "ok"
        assert [s.name for s in pred.steps] == ["answer", "content-free"]
        raw_preds[label] = pred.extra["raw_pred"]
        cal_preds[label] = pred.pred
        assert pred.scores is not None
        assert sum(pred.scores.values()) == pytest.approx(1.0)
        assert sum(pred.extra["raw_scores"].values()) == pytest.approx(1.0)
        assert argmax(pred.scores, LABELS) == pred.pred
        cf = ctx.prompts[1]
        assert cf.media[0].path.parent == _cache_dir / "content-free"
        assert cf.text == ctx.prompts[0].text and cf.label_order == ctx.prompts[0].label_order
        assert ctx.prompts[0].options.logprobs and ctx.prompts[0].options.top_logprobs == 20
    # Raw: the prior wins for every label but Neutral itself and Sad (1.5 + 2 > 3).
    assert raw_preds == {x: x if x in ("Neutral", "Sad") else "Neutral" for x in LABELS}
    # Calibrated: every label is recovered.
    assert cal_preds == {x: x for x in LABELS}
    # The content-free prior matches the stated one.
    q = pred.extra["content_free_scores"]
    assert q["Neutral"] / q["Anger"] == pytest.approx(math.exp(3.0))
    assert q["Sad"] / q["Anger"] == pytest.approx(math.exp(1.5))


def test_no_calibration_keeps_raw_scores(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("calibrated", calibration="none")
    pred, _ = run(strategy, tiny_images["Fear"], BiasedLogprobs(COLOURS))
    assert [s.name for s in pred.steps] == ["answer"]
    assert pred.pred == "Neutral" == pred.extra["raw_pred"]
    assert pred.scores == pred.extra["raw_scores"]


class Flat(BiasedLogprobs):
    """Gives every label the same score, image or content-free: no label stands out."""

    async def predict(self, prompt: Prompt) -> Response:
        self.calls += 1
        lp = {x: -math.log(len(LABELS)) for x in LABELS}
        return Response(text="Neutral", logprobs=lp if prompt.options.logprobs else None)


@pytest.mark.parametrize("calibration", ["contextual", "none"])
def test_a_tie_is_invalid_never_the_first_label(
    tiny_images: dict[str, Sample], calibration: str
) -> None:
    strategy = vlmfer.get_strategy("calibrated", calibration=calibration)
    pred, _ = run(strategy, tiny_images["Fear"], Flat(COLOURS))
    assert pred.outcome == "invalid" and pred.pred is None
    assert "tie" in (pred.reason or "")


def test_calibrated_with_the_mock(tiny_images: dict[str, Sample]) -> None:
    pred, ctx = run(
        vlmfer.get_strategy("calibrated"), tiny_images["Happy"], vlmfer.get_predictor("mock/oracle")
    )
    assert pred.outcome == "ok" and pred.pred == "Happy"
    assert ctx.step("answer").details["method"] == "logprobs"
    assert pred.extra["text_pred"] == "Happy"


def test_content_free_inputs_match_the_shape(real_clip: Sample, happy_face: Sample) -> None:
    grey = content_free_media(happy_face.media)
    with Image.open(grey.path) as im, Image.open(happy_face.media.path) as orig:
        assert im.size == orig.size
        assert im.convert("RGB").getpixel((5, 5)) == (128, 128, 128)
    assert content_free_media(happy_face.media) == grey  # reused

    blank = content_free_media(real_clip.media)
    assert blank.kind == "video" and blank.path.suffix == ".avi"
    with av.open(str(blank.path)) as out, av.open(str(real_clip.media.path)) as src:
        b, s = out.streams.video[0], src.streams.video[0]
        assert (b.width, b.height, b.average_rate) == (s.width, s.height, s.average_rate)
        assert sum(1 for _ in out.decode(b)) == s.frames
    first = blank.with_hash().sha256
    blank.path.unlink()
    assert content_free_media(real_clip.media).with_hash().sha256 == first  # byte-identical


def test_calibrated_on_a_real_clip(real_clip: Sample) -> None:
    pred, ctx = run(
        vlmfer.get_strategy("calibrated"), real_clip, vlmfer.get_predictor("mock/neutral-biased")
    )
    assert pred.outcome == "ok"
    assert ctx.prompts[1].media[0].kind == "video"


def test_missing_labels_get_a_floor() -> None:
    # Top-3 only: 0.6 + 0.25 + 0.1 = 0.95 seen; 0.05 left for the 4 missing labels.
    lp = {"Happy": math.log(0.6), " neutral": math.log(0.25), "Sad": math.log(0.1)}
    dist, found = label_distribution(lp, LABELS)
    assert found == ["Happy", "Neutral", "Sad"]
    floor = 0.05 / 4
    total = 0.95 + 4 * floor
    assert dist["Anger"] == pytest.approx(floor / total)
    assert dist["Happy"] == pytest.approx(0.6 / total)
    assert sum(dist.values()) == pytest.approx(1.0)
    # The floor never exceeds the least top-k probability, and never reaches zero.
    dist, _ = label_distribution({"Happy": math.log(0.5), "x": math.log(0.001)}, LABELS)
    assert dist["Anger"] / dist["Happy"] == pytest.approx(0.001 / 0.5)
    dist, _ = label_distribution({"Happy": 0.0}, LABELS)
    assert dist["Sad"] > 0 and dist["Sad"] == pytest.approx(MIN_FLOOR / (1 + 6 * MIN_FLOOR))
    dist, _ = label_distribution({"Happy": math.log(0.5)}, LABELS, floor=0.01)
    assert dist["Sad"] / dist["Happy"] == pytest.approx(0.02)
    # Keys that name no label: nothing found.
    assert label_distribution({'{"': -0.1, "The": -2.0}, LABELS)[1] == []


def test_token_keys_map_to_labels() -> None:
    assert token_label(" Happy", LABELS) == "Happy"
    assert token_label("happy", LABELS) == "Happy"
    assert token_label("Disg", LABELS) == "Disgust"
    assert token_label("S", LABELS) is None  # Sad or Surprise
    assert token_label("Sur", LABELS) == "Surprise"
    assert token_label("An", LABELS) is None  # too short: "An angry face..."
    assert token_label('{"', LABELS) is None


def test_calibrate_and_empirical() -> None:
    p = {"A": 0.5, "B": 0.5}
    assert calibrate(p, {"A": 0.8, "B": 0.2}) == pytest.approx({"A": 0.2, "B": 0.8})
    assert argmax({"A": 0.5, "B": 0.5}, ["A", "B"]) == "A"  # ties: label order
    e = empirical_distribution(["A", "A", "A", "B"], ["A", "B", "C"])
    assert e == pytest.approx({"A": 3 / 4.5, "B": 1 / 4.5, "C": 0.5 / 4.5})


def test_sampling_fallback(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy("calibrated", fallback="sampling", samples=4)
    assert strategy.requirements().logprobs is False
    answers = ["Happy", "Happy", "Happy", "Sad", "Pain"]  # greedy answer, then 4 samples
    cf = ["Neutral", "Neutral", "Happy", "Neutral", "Sad"]
    predictor = Scripted(answers + cf, logprobs=False)
    pred, _ = run(strategy, tiny_images["Happy"], predictor)
    assert [s.name for s in pred.steps] == [
        "answer", "sample-1", "sample-2", "sample-3", "sample-4",
        "content-free", "content-free-sample-1", "content-free-sample-2",
        "content-free-sample-3", "content-free-sample-4",
    ]
    temps = [p.options.temperature for p in predictor.prompts]
    assert temps == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    seeds = [p.options.seed for p in predictor.prompts[1:5]]
    assert seeds == [1, 2, 3, 4]
    raw = pred.extra["raw_scores"]
    assert raw["Happy"] / raw["Sad"] == pytest.approx(2.0)  # votes: Happy 2, Sad 1, Pain none
    assert pred.extra["score_method"] == "sampling"
    assert pred.outcome == "ok" and pred.pred == "Happy"


def test_without_logprobs_or_fallback_is_invalid(tiny_images: dict[str, Sample]) -> None:
    pred, _ = run(
        vlmfer.get_strategy("calibrated"), tiny_images["Sad"], Scripted(["Sad"], logprobs=False)
    )
    assert (pred.pred, pred.outcome) == (None, "invalid")
    assert "fallback='sampling'" in (pred.reason or "")


@pytest.mark.parametrize(("policy", "outcome"), [("refuse", "refused"), ("block", "blocked")])
def test_calibrated_non_answers(tiny_images: dict[str, Sample], policy: str, outcome: str) -> None:
    mock = vlmfer.get_predictor(f"mock/{policy}")
    pred, _ = run(vlmfer.get_strategy("calibrated"), tiny_images["Sad"], mock)
    assert (pred.pred, pred.outcome, pred.scores) == (None, outcome, None)
    # All samples refused: the sampling fallback reports the refusal too.
    refused = Response(text=None, status="refused", reason="no")
    strategy = vlmfer.get_strategy("calibrated", fallback="sampling", samples=2)
    pred, _ = run(strategy, tiny_images["Sad"], Scripted([("Sad", None), refused, refused]))
    assert (pred.pred, pred.outcome) == (None, "refused")


def test_content_free_refusal_is_an_error_not_a_label(tiny_images: dict[str, Sample]) -> None:
    lp = {"Sad": -0.1, "Happy": -2.5}
    refused = Response(text=None, status="blocked", reason="IMAGE_SAFETY")
    predictor = Scripted([("Sad", lp), refused])
    pred, _ = run(vlmfer.get_strategy("calibrated"), tiny_images["Sad"], predictor)
    assert (pred.pred, pred.outcome) == (None, "error")
    assert "contextual calibration" in (pred.reason or "")
    assert pred.extra["raw_pred"] == "Sad"


def test_calibrated_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="top_logprobs"):
        vlmfer.get_strategy("calibrated", top_logprobs=50)
    with pytest.raises(ConfigError, match="sampling_temperature"):
        vlmfer.get_strategy("calibrated", fallback="sampling", sampling_temperature=0)


def test_unwritable_cache_dir_is_an_error_outcome(
    tiny_images: dict[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(not_a_dir))
    lp = {"Sad": -0.1, "Happy": -2.5}
    pred, _ = run(vlmfer.get_strategy("calibrated"), tiny_images["Sad"], Scripted([("Sad", lp)]))
    assert (pred.pred, pred.outcome) == (None, "error")
    assert "VLMFER_CACHE_DIR" in (pred.reason or "")
    assert pred.extra["raw_pred"] == "Sad"


def test_an_answer_that_cannot_tell_is_invalid_whatever_its_logprobs(
    tiny_images: dict[str, Sample]
) -> None:
    from strategy_harness import Scripted

    strategy = vlmfer.get_strategy("calibrated", calibration="none")
    lp = {"Happy": -3.0, "Neutral": -4.0}
    pred, _ = run(strategy, tiny_images["Happy"],
                  Scripted([("I cannot determine the emotion.", lp)]))
    assert (pred.pred, pred.outcome) == (None, "invalid")
