"""``mock/<policy>``: deterministic, offline answers, used the way a strategy would."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from predictor_support import get_predictor, run

from vlmfer.errors import ConfigError, MediaError
from vlmfer.types import GenerationOptions, Media, Prompt, Response, ResponseConstraint

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
QUESTION = "Which emotion does the face show? Answer with one of: " + ", ".join(LABELS) + "."


def _answers(predictor: Any, prompts: list[Prompt]) -> Counter[str | None]:
    """Ask every prompt on one event loop; count the answers."""

    async def go() -> list[Response]:
        return [await predictor.predict(p) for p in prompts]

    return Counter(r.text for r in run(go()))


def _prompt(path: Path | None, **kw: object) -> Prompt:
    media = [Media.from_path(path)] if path is not None else []
    return Prompt(text=str(kw.pop("text", QUESTION)), media=media, **kw)


def test_fixed_policy_answers_the_label_with_enum_schema_and_logprobs(happy_jpg: Path) -> None:
    p = get_predictor("mock/fixed:Sad")
    plain = run(p.predict(_prompt(happy_jpg)))
    assert (plain.status, plain.text, plain.label) == ("ok", "Sad", None)

    enum = run(p.predict(_prompt(happy_jpg, constraint=ResponseConstraint(kind="enum",
                                                                          labels=LABELS))))
    assert (enum.text, enum.label) == ("Sad", None)

    schema = run(p.predict(_prompt(
        happy_jpg, constraint=ResponseConstraint(kind="json_schema", labels=LABELS),
        options=GenerationOptions(logprobs=True, top_logprobs=7))))
    assert json.loads(schema.text or "") == {"label": "Sad"}
    assert schema.label is None  # deprecated: strategies parse the text
    assert schema.logprobs is not None and set(schema.logprobs) == set(LABELS)
    assert max(schema.logprobs, key=lambda k: schema.logprobs[k]) == "Sad"
    assert math.isclose(sum(math.exp(v) for v in schema.logprobs.values()), 1.0, rel_tol=1e-9)
    assert p.cost_usd(schema) == 0.0


def test_answers_are_deterministic_across_instances(happy_jpg: Path, neutral_jpg: Path) -> None:
    a = get_predictor("mock/uniform", seed=3)
    b = get_predictor("mock/uniform", seed=3)
    for path in (happy_jpg, neutral_jpg):
        assert run(a.predict(_prompt(path))).text == run(b.predict(_prompt(path))).text
    # The seed is part of what makes an answer distinct.
    assert a.cache_identity() != get_predictor("mock/uniform", seed=4).cache_identity()


def test_oracle_reads_gold_from_the_folder_and_from_the_gold_option(
    happy_jpg: Path, neutral_jpg: Path
) -> None:
    oracle = get_predictor("mock/oracle")
    r = run(oracle.predict(_prompt(happy_jpg)))
    assert r.text == "Happy" and r.details["gold_source"] == "folder"

    # An explicit map (by content hash) wins over the folder name.
    sha = Media.from_path(happy_jpg).with_hash().sha256 or ""
    told = get_predictor("mock/oracle", gold={sha: "Fear"})
    r = run(told.predict(_prompt(happy_jpg)))
    assert r.text == "Fear" and r.details["gold_source"] == "map"

    blind = get_predictor("mock/oracle", gold_from_folder=False)
    r = run(blind.predict(_prompt(neutral_jpg)))
    assert r.details["gold"] is None and r.text in LABELS


def test_gold_file_as_a_csv_manifest(tmp_path: Path, happy_jpg: Path) -> None:
    manifest = tmp_path / "gold.csv"
    manifest.write_text(f"path,label\n{happy_jpg},Surprise\n", encoding="utf-8")
    p = get_predictor("mock/oracle", gold_file=manifest)
    assert run(p.predict(_prompt(happy_jpg))).text == "Surprise"


def test_confusion_matrix_rows_drive_the_answers(tmp_path: Path) -> None:
    matrix = tmp_path / "m.json"
    matrix.write_text(json.dumps({
        "labels": ["Happy", "Neutral"],
        "matrix": [[0.0, 1.0], [0.0, 1.0]],  # this model answers Neutral to everything
    }), encoding="utf-8")
    p = get_predictor(f"mock/confusion:{matrix}")
    (tmp_path / "Happy").mkdir()
    prompts = []
    for i in range(20):
        img = tmp_path / "Happy" / f"{i}.png"
        img.write_bytes(b"not really a png %d" % i)  # the mock reads bytes only to hash them
        prompts.append(_prompt(img, text="Happy or Neutral?"))
    assert _answers(p, prompts) == Counter({"Neutral": 20})


def test_confusion_matrix_samples_in_proportion(tmp_path: Path) -> None:
    matrix = tmp_path / "m.json"
    matrix.write_text(json.dumps({"Happy": {"Happy": 3, "Neutral": 1},
                                  "Neutral": {"Neutral": 1}}), encoding="utf-8")
    p = get_predictor(f"mock/confusion:{matrix}")
    (tmp_path / "Happy").mkdir()
    prompts = []
    for i in range(400):
        img = tmp_path / "Happy" / f"{i}.png"
        img.write_bytes(b"%d" % i)
        prompts.append(_prompt(img, text="Happy or Neutral?"))
    answers = _answers(p, prompts)
    assert 0.65 < answers["Happy"] / 400 < 0.85


def test_neutral_biased_prefers_neutral(tmp_path: Path) -> None:
    p = get_predictor("mock/neutral-biased", neutral_rate=0.6)
    (tmp_path / "Happy").mkdir()
    prompts = []
    for i in range(300):
        img = tmp_path / "Happy" / f"{i}.jpg"
        img.write_bytes(b"%d" % i)
        prompts.append(_prompt(img))
    answers = _answers(p, prompts)
    assert answers.most_common(1)[0][0] == "Neutral"
    assert answers["Happy"] > sum(v for k, v in answers.items() if k not in ("Happy", "Neutral"))


def test_refuse_and_block_are_non_answers(happy_jpg: Path) -> None:
    refused = run(get_predictor("mock/refuse").predict(_prompt(happy_jpg)))
    assert refused.status == "refused" and refused.text is None and refused.label is None
    assert refused.reason
    blocked = run(get_predictor("mock/block").predict(_prompt(happy_jpg)))
    assert (blocked.status, blocked.text, blocked.reason) == ("blocked", None, "SAFETY")


def test_echo_returns_the_prompt() -> None:
    r = run(get_predictor("mock/echo").predict(Prompt(text="hello there")))
    assert r.text == "hello there"


def test_describe_then_map_round_trip(happy_jpg: Path) -> None:
    p = get_predictor("mock/oracle")
    description = run(p.predict(_prompt(happy_jpg, text="Describe the person's facial "
                                                        "expression in one sentence.")))
    assert description.text and "happy" not in description.text.split(";")[0].lower()
    mapped = run(p.predict(Prompt(
        text=f"Description: {description.text}\nWhich label fits best? "
             f"Choose one of: {', '.join(LABELS)}.",
        constraint=ResponseConstraint(kind="enum", labels=LABELS))))
    assert mapped.text == "Happy" and mapped.details.get("mapped_by") == "cue"


def test_labels_found_in_prompt_text_are_the_candidates(happy_jpg: Path) -> None:
    p = get_predictor("mock/uniform")
    r = run(p.predict(_prompt(happy_jpg, text="Is this person Happy or Sad?",
                              options=GenerationOptions(logprobs=True))))
    assert r.text in ("Happy", "Sad")
    assert r.logprobs is not None and set(r.logprobs) == {"Happy", "Sad"}


def test_fixed_label_outside_the_choices_is_still_that_label(happy_jpg: Path) -> None:
    p = get_predictor("mock/fixed:Contempt")
    r = run(p.predict(_prompt(happy_jpg)))
    assert r.text == "Contempt" and r.label is None


def test_bad_policies_and_options_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Valid policies: .*neutral-biased"):
        get_predictor("mock/always-happy")
    with pytest.raises(ConfigError, match="mock/fixed:Happy"):
        get_predictor("mock/fixed:")
    with pytest.raises(ConfigError, match="cannot read"):
        get_predictor(f"mock/confusion:{tmp_path / 'missing.json'}")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"labels": ["A", "B"], "matrix": [[1, 0]]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="square"):
        get_predictor(f"mock/confusion:{bad}")
    with pytest.raises(ConfigError, match=r"'temprature'.*Valid options: .*gold"):
        get_predictor("mock/uniform", temprature=0)


def test_missing_media_is_a_media_error(tmp_path: Path) -> None:
    p = get_predictor("mock/uniform")
    with pytest.raises(MediaError, match="cannot read"):
        run(p.predict(Prompt(text=QUESTION, media=[Media.from_path(tmp_path / "gone.jpg")])))


def test_describe_has_no_secrets_and_names_the_policy() -> None:
    p = get_predictor("mock/fixed:Happy", seed=2)
    assert p.describe() == {"name": "mock/fixed:Happy",
                            "options": {"gold_from_folder": True, "seed": 2,
                                        "neutral_rate": 0.6}}
