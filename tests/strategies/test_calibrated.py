"""calibrated: logprob scores, contextual calibration and the sampling fallback."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image
from strategy_harness import COLOURS, Scripted, arun, run

import vlmfer
from vlmfer.emulator import Emulator, EmulatorConfig
from vlmfer.errors import ConfigError
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.calibrated import (
    MIN_FLOOR,
    PRIOR_SMOOTHING,
    argmax,
    calibrate,
    empirical_distribution,
    label_distribution,
    token_label,
)
from vlmfer.strategies.content_free import FILLS, content_free_media
from vlmfer.types import Capabilities, Prediction, Prompt, Response, Sample

LABELS = vlmfer.CAER_LABELS
#: The fake model's stated prior (logit offsets): strongly Neutral, a little Sad.
PRIOR = {"Neutral": 3.0, "Sad": 1.5}
#: How much the true expression adds to its label's logit: less than the Neutral bias.
SIGNAL = 2.0
#: The content-free steps, one per default input.
CF_STEPS = [f"content-free-{fill}" for fill in FILLS]


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
        assert [s.name for s in pred.steps] == ["answer", *CF_STEPS]
        raw_preds[label] = pred.extra["raw_pred"]
        cal_preds[label] = pred.pred
        assert pred.scores is not None
        assert sum(pred.scores.values()) == pytest.approx(1.0)
        assert sum(pred.extra["raw_scores"].values()) == pytest.approx(1.0)
        assert argmax(pred.scores, LABELS) == pred.pred
        for cf in ctx.prompts[1:]:
            assert cf.media[0].path.parent == _cache_dir / "content-free"
            assert cf.text == ctx.prompts[0].text
            assert cf.label_order == ctx.prompts[0].label_order
        assert pred.extra["content_free"]["used"] == list(FILLS)
        assert pred.extra["calibration_status"] == "calibrated over grey, black, white, noise"
        assert ctx.prompts[0].options.logprobs and ctx.prompts[0].options.top_logprobs == 20
    # Raw: the prior wins for every label but Neutral itself and Sad (1.5 + 2 > 3).
    assert raw_preds == {x: x if x in ("Neutral", "Sad") else "Neutral" for x in LABELS}
    # Calibrated: every label is recovered.
    assert cal_preds == {x: x for x in LABELS}
    # The content-free prior is the stated one, mixed with 0.1 of the uniform distribution.
    q = {x: v - PRIOR_SMOOTHING / len(LABELS) for x, v in pred.extra["content_free_scores"].items()}
    assert q["Neutral"] / q["Anger"] == pytest.approx(math.exp(3.0))
    assert q["Sad"] / q["Anger"] == pytest.approx(math.exp(1.5))
    assert strategy.describe()["content_free_inputs"] == list(FILLS)


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
    flat = {"grey": (128, 128, 128), "black": (0, 0, 0), "white": (255, 255, 255)}
    seen = set()
    for fill in FILLS:
        cf = content_free_media(happy_face.media, fill)
        with Image.open(cf.path) as im, Image.open(happy_face.media.path) as orig:
            assert im.size == orig.size
            colours = im.convert("RGB").getcolors(maxcolors=1 << 24) or []
        if fill in flat:
            assert [c for _, c in colours] == [flat[fill]]
        else:
            assert len(colours) > 1000  # noise
        assert content_free_media(happy_face.media, fill) == cf  # reused
        first = cf.with_hash().sha256
        cf.path.unlink()
        assert content_free_media(happy_face.media, fill).with_hash().sha256 == first
        seen.add(first)
    assert len(seen) == len(FILLS)
    assert content_free_media(happy_face.media) == content_free_media(happy_face.media, "grey")

    for fill in ("grey", "noise"):
        blank = content_free_media(real_clip.media, fill)
        assert blank.kind == "video" and blank.path.suffix == ".avi"
        with av.open(str(blank.path)) as out, av.open(str(real_clip.media.path)) as src:
            b, s = out.streams.video[0], src.streams.video[0]
            assert (b.width, b.height, b.average_rate) == (s.width, s.height, s.average_rate)
            frames = [f.to_ndarray(format="rgb24") for f in out.decode(b)]
            assert len(frames) == s.frames
        if fill == "noise":  # fresh noise in every frame
            assert not (frames[0] == frames[1]).all()
        first = blank.with_hash().sha256
        blank.path.unlink()
        assert content_free_media(real_clip.media, fill).with_hash().sha256 == first


def test_calibrated_on_a_real_clip(real_clip: Sample) -> None:
    pred, ctx = run(
        vlmfer.get_strategy("calibrated"), real_clip, vlmfer.get_predictor("mock/neutral-biased")
    )
    assert pred.outcome == "ok"
    assert [p.media[0].kind for p in ctx.prompts] == ["video"] * (1 + len(FILLS))
    assert pred.extra["content_free"]["used"] == list(FILLS)


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
    # One pseudo-vote per label, for drawn and undrawn labels alike.
    e = empirical_distribution(["A", "A", "A", "B"], ["A", "B", "C"])
    assert e == pytest.approx({"A": 4 / 7, "B": 2 / 7, "C": 1 / 7})
    # Put on a common scale first: 3 of 4 and 6 of 8 are the same shares.
    assert empirical_distribution(["A"] * 3 + ["B"], "ABC", scale=8) == pytest.approx(
        empirical_distribution(["A"] * 6 + ["B"] * 2, "ABC", scale=8))
    # A label outside ``ranked`` never scores above the ranked ones.
    cal = calibrate({"A": 0.6, "B": 0.399, "C": 0.001}, {"A": 0.5, "B": 0.5, "C": 1e-6},
                    ranked=["A", "B"])
    assert cal["C"] <= cal["B"] < cal["A"]


def test_sampling_fallback(tiny_images: dict[str, Sample]) -> None:
    strategy = vlmfer.get_strategy(
        "calibrated", fallback="sampling", samples=4, content_free=["grey"]
    )
    assert strategy.requirements().logprobs is False
    answers = ["Happy", "Happy", "Happy", "Sad", "Pain"]  # greedy answer, then 4 samples
    cf = ["Neutral", "Neutral", "Happy", "Neutral", "Sad"]
    predictor = Scripted(answers + cf, logprobs=False)
    pred, _ = run(strategy, tiny_images["Happy"], predictor)
    assert [s.name for s in pred.steps] == [
        "answer", "sample-1", "sample-2", "sample-3", "sample-4",
        "content-free-grey", "content-free-grey-sample-1", "content-free-grey-sample-2",
        "content-free-grey-sample-3", "content-free-grey-sample-4",
    ]
    temps = [p.options.temperature for p in predictor.prompts]
    assert temps == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    seeds = [p.options.seed for p in predictor.prompts[1:5]]
    assert seeds == [1, 2, 3, 4]
    raw = pred.extra["raw_scores"]
    # Votes Happy 2, Sad 1 of 3, on the scale of 4 samples, + 1 pseudo-vote each.
    assert raw["Happy"] / raw["Sad"] == pytest.approx((4 * 2 / 3 + 1) / (4 / 3 + 1))
    assert pred.extra["score_method"] == "sampling"
    assert pred.outcome == "ok" and pred.pred == "Happy"


def test_without_logprobs_or_fallback_is_invalid(tiny_images: dict[str, Sample]) -> None:
    pred, _ = run(
        vlmfer.get_strategy("calibrated"), tiny_images["Sad"], Scripted(["Sad"], logprobs=False)
    )
    assert (pred.pred, pred.outcome) == (None, "invalid")
    assert "strategy.fallback=sampling" in (pred.reason or "")


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


def test_a_blocked_content_free_input_falls_back_to_the_others(
    tiny_images: dict[str, Sample]
) -> None:
    lp = {"Sad": -0.1, "Happy": -2.5}
    blocked = Response(text=None, status="blocked", reason="IMAGE_SAFETY")
    refused = Response(text="I'm sorry, I can't help with that.")
    cf_lp = {"Sad": -0.7, "Happy": -0.7}
    predictor = Scripted([("Sad", lp), blocked, refused, ("Happy", cf_lp), blocked])
    pred, ctx = run(vlmfer.get_strategy("calibrated"), tiny_images["Sad"], predictor)
    assert (pred.pred, pred.outcome) == ("Sad", "ok")
    record = pred.extra["content_free"]
    assert record["inputs"] == list(FILLS) and record["used"] == ["white"]
    assert set(record["failed"]) == {"grey", "black", "noise"}
    assert record["failed"]["grey"].startswith("blocked")
    assert record["failed"]["black"].startswith("refused")
    assert pred.extra["calibration_status"] == "calibrated over white"
    assert ctx.step("content-free-white").details["content_free"] == "white"


def test_no_content_free_answer_keeps_the_uncalibrated_answer(
    tiny_images: dict[str, Sample]
) -> None:
    lp = {"Sad": -0.1, "Happy": -2.5}
    blocked = Response(text=None, status="blocked", reason="IMAGE_SAFETY")
    predictor = Scripted([("Sad", lp), blocked, blocked, blocked, blocked])
    pred, _ = run(vlmfer.get_strategy("calibrated"), tiny_images["Sad"], predictor)
    assert (pred.pred, pred.outcome) == ("Sad", "ok")
    assert pred.extra["raw_pred"] == "Sad"
    assert pred.extra["calibration_status"] == "uncalibrated: no content-free answer"
    assert pred.extra["content_free"]["used"] == []
    assert pred.scores == pred.extra["raw_scores"]


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


# --- Calibration that cannot collapse (issue 12 §4) -------------------------------------

#: What a real classifier gave a grey content-free image: P(Disgust) ≈ 1e-6.
CLASSIFIER_PRIOR = {"Neutral": 0.55, "Happy": 0.2, "Sad": 0.12, "Anger": 0.06,
                    "Fear": 0.04, "Surprise": 0.029999, "Disgust": 1e-6}


class Classifier(Predictor):
    """A FER classifier behind the logprob interface: each tiny image (found by its
    colour) has a fixed answer distribution; any other image (content-free) gets
    ``CLASSIFIER_PRIOR``. Only the top ``k`` labels are returned, as top-k logprobs are."""

    provider = "fake"

    def __init__(self, by_colour: dict[tuple[int, int, int], dict[str, float]], k: int) -> None:
        self.model = "classifier"
        self.capabilities = Capabilities(logprobs=True)
        self.by_colour, self.k = by_colour, k

    async def predict(self, prompt: Prompt) -> Response:
        with Image.open(prompt.media[0].path) as im:
            colour = im.convert("RGB").getpixel((0, 0))
        dist = self.by_colour.get(colour, CLASSIFIER_PRIOR)
        top = sorted(dist, key=lambda x: -dist[x])[: self.k]
        return Response(text=top[0], logprobs={x: math.log(dist[x]) for x in top})


def _faces(tmp_path: Path) -> tuple[list[Sample], dict[tuple[int, int, int], dict[str, float]]]:
    """30 faces, 5 of them Disgust; the classifier is right on 23 (WAR 0.77) and answers
    Neutral on the other 7. Outside Disgust faces, P(Disgust) is about 4e-4."""
    samples, table = [], {}
    emotions = ["Happy", "Sad", "Anger", "Fear", "Surprise"]
    golds = ["Disgust"] * 5 + ["Neutral"] * 4 + emotions * 4 + ["Happy"]
    for i, gold in enumerate(golds):
        colour = (i * 8 + 1, 200 - i * 5, 77)
        path = tmp_path / "faces" / gold / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 16), colour).save(path)
        samples.append(Sample(id=path.name, media=vlmfer.types.Media.from_path(path), label=gold))
        top = gold if i < 23 else "Neutral"
        dist = {x: 0.01 for x in LABELS}
        dist["Disgust"] = 4e-4 if gold != "Disgust" else 0.01
        dist[gold] = max(dist[gold], 0.3)
        dist[top] = 0.6
        table[colour] = {x: v / sum(dist.values()) for x, v in dist.items()}
    return samples, table


@pytest.mark.parametrize("k", [7, 6], ids=["all-labels-ranked", "top-6"])
def test_a_near_zero_prior_does_not_collapse_calibration(tmp_path: Path, k: int) -> None:
    # The reported case: contextual calibration turned a 0.77-WAR classifier into 0.17 by
    # answering Disgust for most faces (4e-4 / 1e-6 beats 0.6 / 0.2). With k=6, Disgust is
    # missing from the grey image's top-k and gets the clamped floor 1e-6 instead.
    samples, table = _faces(tmp_path)
    classifier = Classifier(table, k)
    strategy = vlmfer.get_strategy("calibrated")
    preds = [run(strategy, s, classifier)[0] for s in samples]
    raw_war = sum(p.extra["raw_pred"] == p.gold for p in preds) / len(preds)
    war = sum(p.pred == p.gold for p in preds) / len(preds)
    assert raw_war == pytest.approx(23 / 30)
    assert war >= raw_war
    assert all(p.pred != "Disgust" for p in preds if p.gold != "Disgust")


def test_a_label_the_sample_never_ranked_cannot_win(tiny_images: dict[str, Sample]) -> None:
    # Anger is in neither top-k; its floor in the sample (0.01) is far above its floor in
    # the content-free answer (1e-6). Only Happy, Neutral and Sad were ranked.
    sample_lp = {"Happy": math.log(0.5), "Neutral": math.log(0.4), "Sad": math.log(0.01)}
    cf_lp = {"Neutral": math.log(0.7), "Happy": math.log(0.2), "Sad": math.log(0.1 - 4e-6)}
    predictor = Scripted([("Happy", sample_lp)] + [("Neutral", cf_lp)] * len(FILLS))
    pred, _ = run(vlmfer.get_strategy("calibrated"), tiny_images["Happy"], predictor)
    assert pred.pred == "Happy"
    scores = pred.scores
    assert scores is not None
    assert max(scores, key=lambda x: scores[x]) == "Happy"


def _votes(pattern: dict[str, int], unparseable: int) -> list[str]:
    return [x for x, n in pattern.items() for _ in range(n)] + ["(no idea)"] * unparseable


@pytest.mark.parametrize(
    ("cf_votes", "sample_votes", "expected"),
    [
        # 9 × Neutral + 1 × Sad: one stray Sad vote must not turn Neutral faces into Sad.
        (_votes({"Neutral": 9, "Sad": 1}, 0), _votes({"Neutral": 8, "Sad": 1}, 1), "Neutral"),
        (_votes({"Neutral": 9, "Sad": 1}, 0), _votes({"Neutral": 10}, 0), "Neutral"),
        (_votes({"Neutral": 9, "Sad": 1}, 0), _votes({"Neutral": 6, "Happy": 4}, 0), "Happy"),
        # 9 × Neutral + 1 unparseable: the six labels neither drew must not rise above
        # Neutral (they tied, and the answer was no label).
        (_votes({"Neutral": 9}, 1), _votes({"Neutral": 8}, 2), "Neutral"),
        (_votes({"Neutral": 9}, 1), _votes({"Neutral": 9}, 1), "Neutral"),
        (_votes({"Neutral": 9}, 1), _votes({"Neutral": 7, "Fear": 3}, 0), "Fear"),
    ],
)
def test_sampling_fallback_smooths_both_vote_sets(
    tiny_images: dict[str, Sample], cf_votes: list[str], sample_votes: list[str], expected: str
) -> None:
    strategy = vlmfer.get_strategy("calibrated", fallback="sampling", content_free=["grey"])
    script: list[str | tuple[str | None, dict[str, float] | None] | Response] = [
        "Neutral", *sample_votes, "Neutral", *cf_votes
    ]
    pred, _ = run(strategy, tiny_images["Neutral"], Scripted(script, logprobs=False))
    assert (pred.outcome, pred.pred) == ("ok", expected), pred.reason


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "gemini/gemini-3.5-flash"])
def test_content_free_blocks_through_the_sdks(
    model: str, tiny_images: dict[str, Sample], tmp_path: Path
) -> None:
    """The emulator blocks every content-free input: the answer stays, uncalibrated."""
    from vlmfer.engine import ResponseCache

    sample = tiny_images["Sad"]
    cache = ResponseCache(tmp_path / "cache.sqlite3")

    async def go(emu: Emulator, **options: Any) -> Prediction:
        url = emu.openai_base_url if model.startswith("openai") else emu.gemini_base_url
        predictor = vlmfer.get_predictor(model, base_url=url, api_key="test-key")
        try:
            pred, _ = await arun(vlmfer.get_strategy("calibrated", **options), sample,
                                 predictor, cache=cache)
        finally:
            await predictor.aclose()
        return pred

    with Emulator(EmulatorConfig(policy="fixed:Sad"), port=0) as emu:
        # The sample's own answer, from a run without calibration (kept in the cache) ...
        assert asyncio.run(go(emu, calibration="none")).pred == "Sad"
        # ... then the model blocks every content-free input.
        emu.configure(policy="block")
        pred = asyncio.run(go(emu))
        blocked = [r for r in emu.requests if r.get("outcome")][1:]
    assert len(blocked) == len(FILLS)
    assert all(r["outcome"] == "block" for r in blocked), [r["outcome"] for r in blocked]
    assert (pred.pred, pred.outcome) == ("Sad", "ok")
    assert pred.extra["calibration_status"] == "uncalibrated: no content-free answer"
    assert set(pred.extra["content_free"]["failed"]) == set(FILLS)
    assert all(v.startswith("blocked") for v in pred.extra["content_free"]["failed"].values())
    assert pred.steps[0].cached
