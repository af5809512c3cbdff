"""Answer policies: label extraction, projection, oracle and confusion matrices."""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path

import pytest
from emulator_support import CAER, data_url, label_schema, make_png
from openai import OpenAI
from pydantic import ValidationError

from vlmfer.emulator import DESCRIPTIONS, Emulator, EmulatorConfig
from vlmfer.emulator.policy import (
    Policy,
    Question,
    emotion_in_text,
    labels_in_text,
    load_confusion,
)

SEED_PROMPT = (
    "Analyze the facial expression of the person in the image.\n"
    "Emotion List: Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise\n"
    "Answer with exactly one emotion from the list."
)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        (SEED_PROMPT, CAER),
        ("Is the face Neutral, or does it show an Emotion? Answer Neutral or Emotion.",
         ["Neutral", "Emotion"]),
        ("Choose one of: angry, disgusted, fearful, happy, sad, surprised",
         ["angry", "disgusted", "fearful", "happy", "sad", "surprised"]),
        ("Describe the face.", []),
        ("How does the person feel? happy", []),
    ],
)
def test_labels_in_text(text: str, labels: list[str]) -> None:
    assert labels_in_text([text]) == labels


def test_every_description_maps_back_to_its_emotion() -> None:
    for emotion, text in DESCRIPTIONS.items():
        assert labels_in_text([text]) == []  # descriptions name no label
        assert emotion_in_text([f"Description: {text}\n{SEED_PROMPT}"]) == emotion


@pytest.mark.parametrize(
    ("text", "emotion"),
    [("She looks unhappy and close to tears.", "Sad"),
     ("He is grinning and laughing.", "Happy"),
     ("A blank, expressionless stare.", "Neutral"),
     ("Eyes wide with shock.", "Surprise"),
     ("Nothing to see here.", None)],
)
def test_emotion_in_free_text(text: str, emotion: str | None) -> None:
    assert emotion_in_text([text]) == emotion


def _ask(policy: Policy, media: str, text: str = SEED_PROMPT,
         constrained: list[str] | None = None) -> str | None:
    return policy.decide(Question(texts=[text], media_hashes=[media],
                                  constrained=constrained)).label


def test_oracle_policy_uses_the_first_known_frame() -> None:
    policy = Policy("oracle", oracle={"f2": "Sad", "f3": "Happy"})
    d = policy.decide(Question(texts=[SEED_PROMPT], media_hashes=["f1", "f2", "f3"]))
    assert d.label == "Sad" and d.gold == "Sad"
    gate = "Neutral or Emotion?"
    assert _ask(policy, "f2", gate) == "Emotion"
    assert Policy("oracle", oracle={"x": "Neutral"}).decide(
        Question(texts=[gate], media_hashes=["x"])).label == "Neutral"
    # a six-way question never gets Neutral, even from a Neutral gold
    six = [c for c in CAER if c != "Neutral"]
    assert _ask(Policy("oracle", oracle={"x": "Neutral"}), "x", constrained=six) in six


def test_neutral_biased_rates() -> None:
    policy = Policy("neutral-biased", seed=1, oracle={f"m{i}": "Fear" for i in range(400)},
                    neutral_rate=0.6)
    answers = collections.Counter(_ask(policy, f"m{i}") for i in range(400))
    assert set(answers) == {"Neutral", "Fear"}
    assert 0.5 < answers["Neutral"] / 400 < 0.7
    unknown = collections.Counter(_ask(policy, f"u{i}") for i in range(400))
    assert set(unknown) == set(CAER)


def test_fixed_policy_out_of_set_and_constrained() -> None:
    policy = Policy("fixed:Neutral")
    six = ", ".join(c for c in CAER if c != "Neutral")
    assert _ask(policy, "m", f"Emotion List: {six}") == "Neutral"  # out of set, as a model might
    constrained = _ask(policy, "m", "x", constrained=["Happy", "Sad"])
    assert constrained in ("Happy", "Sad")  # a constraint is always obeyed


def test_logprobs_put_the_answer_on_top() -> None:
    policy = Policy("neutral-biased", seed=3, oracle={f"m{i}": "Anger" for i in range(50)})
    for i in range(50):
        d = policy.decide(Question(texts=[SEED_PROMPT], media_hashes=[f"m{i}"]))
        ranked = d.logprobs()
        assert ranked[0][0] == d.label
        assert {c for c, _ in ranked} == set(CAER)
        assert abs(sum(pow(2.718281828, lp) for _, lp in ranked) - 1) < 1e-3


def test_confusion_matrix_policy(tmp_path: Path) -> None:
    path = tmp_path / "cm.json"
    path.write_text(json.dumps({"labels": ["Happy", "Neutral"],
                                "matrix": [[0.0, 1.0], [1.0, 0.0]]}))
    policy = Policy(f"confusion:{path}", oracle={"h": "Happy", "n": "Neutral"})
    assert _ask(policy, "h", "Happy or Neutral?") == "Neutral"
    assert _ask(policy, "n", "Happy or Neutral?") == "Happy"
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"Happy": {"Sad": 2, "Happy": 2}}))
    assert load_confusion(nested) == {"Happy": {"Sad": 0.5, "Happy": 0.5}}


@pytest.mark.parametrize(
    "content",
    ['{"labels": ["A", "B"], "matrix": [[1, 0]]}',
     '{"labels": ["A"], "matrix": [[1, 2]]}',
     '{"A": {"B": -1}}', "[1, 2]", "not json"],
)
def test_bad_confusion_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cm.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="confusion matrix"):
        load_confusion(path)


def test_config_rejects_bad_policies_and_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="valid policies"):
        EmulatorConfig(policy="always-happy")
    with pytest.raises(ValidationError, match="does not exist"):
        EmulatorConfig(policy=f"confusion:{tmp_path / 'missing.json'}")
    bad = tmp_path / "bad.json"
    bad.write_text('{"Happy": {"Sad": -1}}')
    with pytest.raises(ValidationError, match="non-negative"):
        EmulatorConfig(policy=f"confusion:{bad}")
    with pytest.raises(ValidationError):
        EmulatorConfig(latncy=1.0)  # type: ignore[call-arg]
    assert "secret" not in repr(EmulatorConfig(api_key="secret"))


def test_demo_style_oracle_over_http(tmp_path: Path) -> None:
    """A confusion matrix over a gold oracle keyed by media hash: a simulated known model."""
    faces = {label: make_png((16, 16), (i * 30, 10, 10)) for i, label in enumerate(CAER)}
    oracle = {hashlib.sha256(b).hexdigest(): label for label, b in faces.items()}
    cm = tmp_path / "cm.json"
    cm.write_text(json.dumps({g: {g: 1.0} if g != "Sad" else {"Neutral": 1.0} for g in CAER}))
    with Emulator(EmulatorConfig(policy=f"confusion:{cm}", oracle=oracle), port=0) as emu:
        client = OpenAI(base_url=emu.openai_base_url, api_key="k", max_retries=0)
        got = {}
        for label, png in faces.items():
            r = client.chat.completions.create(
                model="gpt-4o", response_format=label_schema(),
                messages=[{"role": "user", "content": [
                    {"type": "text", "text": "Which emotion?"},
                    {"type": "image_url", "image_url": {"url": data_url(png)}}]}])
            got[label] = json.loads(r.choices[0].message.content or "")["label"]
        assert got == {g: (g if g != "Sad" else "Neutral") for g in CAER}
        assert emu.calls("chat")[0]["gold"] == "Anger"
        assert emu.counters["answers"]["Neutral"] == 2
