"""map_description: the `lexicon` mapper of free descriptions of a face."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vlmfer.errors import ConfigError
from vlmfer.labels import (
    CAER_LABELS,
    RULES,
    SIX_LABELS,
    map_description,
    rule_of,
    score_description,
)

DATA = Path(__file__).resolve().parents[2] / "src" / "vlmfer" / "data"
C7 = CAER_LABELS
C6 = SIX_LABELS

CASES: list[tuple[str | None, tuple[str, ...], str | None, str]] = [
    # one clear expression per description
    (
        "The woman is smiling broadly; her cheeks are raised and there are crow's feet around "
        "her eyes.",
        C7,
        "Happy",
        "lexicon",
    ),
    ("He is grinning.", C7, "Happy", "lexicon"),
    ("She is laughing with her head thrown back.", C7, "Happy", "lexicon"),
    (
        "Her eyebrows are raised, her eyes are wide open and her mouth is open.",
        C7,
        "Surprise",
        "lexicon",
    ),
    ("Raised eyebrows and a dropped jaw.", C7, "Surprise", "lexicon"),
    ("He has a furrowed brow, glaring eyes and a clenched jaw.", C7, "Anger", "lexicon"),
    ("Lowered eyebrows drawn together, flared nostrils and pressed lips.", C7, "Anger", "lexicon"),
    ("Her nose is wrinkled and her upper lip is raised.", C7, "Disgust", "lexicon"),
    (
        "Tears are running down her cheeks and the corners of her mouth are turned down.",
        C7,
        "Sad",
        "lexicon",
    ),
    ("He is sobbing, looking down, shoulders slumped.", C7, "Sad", "lexicon"),
    ("She is trembling, her lips stretched back, cowering in the corner.", C7, "Fear", "lexicon"),
    ("Her face is relaxed with no particular expression.", C7, "Neutral", "lexicon"),
    ("A calm face with a closed mouth and a steady gaze.", C7, "Neutral", "lexicon"),
    ("She looks happy.", C7, "Happy", "lexicon"),
    ("The person appears frightened.", C7, "Fear", "lexicon"),
    ("**Expression:** smiling, eyes crinkled.", C7, "Happy", "lexicon"),
    # negation: a negated cue is ignored
    ("He is not smiling; his face is relaxed.", C7, "Neutral", "lexicon"),
    (
        "There are no tears and she isn't frowning; her face is calm and relaxed.",
        C7,
        "Neutral",
        "lexicon",
    ),
    (
        "Her mouth is not open and her eyebrows are not raised; she is smiling.",
        C7,
        "Happy",
        "lexicon",
    ),
    ("He doesn't look angry. He is grinning.", C7, "Happy", "lexicon"),
    ("No sign of fear, anger or disgust; she is smiling.", C7, "Happy", "lexicon"),
    ("He is not smiling.", C7, None, "lexicon-no-cue"),
    ("She shows neither fear nor surprise.", C7, None, "lexicon-no-cue"),
    # damping: a slight cue counts half
    ("She has a slight smile, but her eyes are teary and she looks sad.", C7, "Sad", "lexicon"),
    ("The eyebrows are slightly raised.", C7, None, "lexicon-tie"),
    # ties and weak evidence
    ("The person has wide eyes.", C7, None, "lexicon-tie: Fear=1, Surprise=1 (margin 1)"),
    ("She is frowning.", C7, None, "lexicon-tie: Anger=1, Sad=1 (margin 1)"),
    ("She is smiling, yet there are tears in her eyes.", C7, None, "lexicon-tie"),
    # repetition does not add up
    ("She is smiling. She is smiling. She is smiling. Her eyes are wide.", C7, "Happy", "lexicon"),
    # no cue at all
    ("A man in a blue shirt stands in a kitchen.", C7, None, "lexicon-no-cue"),
    ("The video is dark and the face is turned away from the camera.", C7, None, "lexicon-no-cue"),
    # out of the set
    ("Her face is relaxed with no particular expression.", C6, None, "out-of-set: Neutral"),
    ("He smirks, one corner of his mouth raised.", C7, None, "out-of-set: Contempt"),
    ("He is wincing and grimacing in pain.", C7, None, "out-of-set: Pain"),
    ("She looks happy.", ("Positive", "Negative"), None, "out-of-set: Happy"),
    # empty and refusals
    ("", C7, None, "empty"),
    (None, C7, None, "empty"),
    ("  ", C7, None, "empty"),
    ("I'm sorry, I can't describe people's faces.", C7, None, "refusal"),
    ("I'm sorry, but I can't help with analyzing this person's expression.", C7, None, "refusal"),
    # custom label sets
    ("He looks angry and is glaring.", ("Angry", "Calm"), "Angry", "lexicon"),
    ("A relaxed face, no particular expression.", ("Neutral", "Emotion"), "Neutral", "lexicon"),
    ("She smiles warmly.", ("Happiness", "Sadness"), "Happiness", "lexicon"),
    ("Her face shows contempt: a half smile.", ("Contempt", "Happy"), "Contempt", "lexicon"),
]


def _case_id(case: tuple[str | None, tuple[str, ...], str | None, str]) -> str:
    text = case[0]
    return "None" if text is None else re.sub(r"\s+", " ", text)[:40]


@pytest.mark.parametrize(("text", "labels", "label", "how"), CASES, ids=map(_case_id, CASES))
def test_map_description(
    text: str | None, labels: tuple[str, ...], label: str | None, how: str
) -> None:
    m = map_description(text, labels)
    assert m.label == label, m
    if ":" in how:
        assert m.how == how, m
    else:
        assert rule_of(m.how) == how, m
    assert rule_of(m.how) in RULES


def test_the_table_is_large() -> None:
    assert len(CASES) >= 40


def test_candidates_name_the_cues_counted_and_the_negated_ones() -> None:
    m = map_description("Not smiling; tears on her cheeks and a downturned mouth.", C7)
    assert m.label == "Sad"
    assert m.candidates == ["tears -> Sad +2.5", "downturned mouth -> Sad +2", "not smiling"]
    tie = map_description("She is frowning.", C7)
    assert tie.candidates == ["frown -> Sad +1, Anger +1"]


def test_scores_are_exposed_highest_first() -> None:
    s = score_description("Her eyebrows are raised, her eyes are wide and her mouth is open.", C7)
    assert s.scores == {"Surprise": 3.5, "Fear": 2.0}
    assert list(s.scores) == ["Surprise", "Fear"]
    assert s.negated == []
    s = score_description("No tears. A slight smile.", C7)
    assert s.scores == {"Happy": 1.0}
    assert s.negated == ["tears"]
    assert score_description(None, C7).scores == {}


def test_out_of_set_emotions_are_scored_under_their_own_name() -> None:
    s = score_description("A relaxed face with no particular expression.", C6)
    assert s.scores == {"Neutral": 4.5}


def test_the_margin_is_an_option() -> None:
    text = "She is smiling, and her eyebrows are raised."  # Happy 2 vs Surprise 1.5
    assert map_description(text, C7).how.startswith("lexicon-tie")
    assert map_description(text, C7, margin=0.25).label == "Happy"
    assert map_description("She is beaming.", C7, margin=2.0).label == "Happy"
    assert map_description("She is beaming.", C7, margin=2.5).how.startswith("lexicon-tie")
    with pytest.raises(ConfigError, match="margin must be >= 0"):
        map_description("She is beaming.", C7, margin=-1)


def test_same_text_same_answer() -> None:
    text = "Wide eyes, raised eyebrows, open mouth; she is not smiling."
    first = map_description(text, C7)
    assert all(map_description(text, C7) == first for _ in range(5))
    assert first.label == "Surprise"


def test_a_bad_label_set_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="labels is empty"):
        map_description("smiling", [])


def _lexicon() -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (DATA / "emotion_lexicon.json").read_text(encoding="utf-8")
    )
    return data


def test_lexicon_data_is_well_formed() -> None:
    lex = _lexicon()
    synonyms = json.loads((DATA / "label_synonyms.json").read_text(encoding="utf-8"))
    concepts = set(synonyms["labels"]) | set(synonyms["out_of_set"])
    cues = lex["cues"]
    assert isinstance(cues, list)
    owner: dict[str, str] = {}
    for cue in cues:
        assert set(cue) == {"cue", "variants", "weights"}, cue
        assert cue["weights"], cue
        for concept, weight in cue["weights"].items():
            assert concept in concepts, f"{cue['cue']}: unknown emotion {concept!r}"
            assert weight > 0
        for phrase in [cue["cue"], *cue["variants"]]:
            key = " ".join(re.findall(r"[^\W_]+|~", phrase.casefold()))
            assert key and not key.startswith("~") and not key.endswith("~"), phrase
            assert "~ ~" not in key, phrase
            assert owner.get(key, cue["cue"]) == cue["cue"], (
                f"{phrase!r} is in both {owner[key]!r} and {cue['cue']!r}"
            )
            owner[key] = cue["cue"]
    assert lex["margin"] >= 0  # type: ignore[operator]
    assert 0 < lex["damping_factor"] <= 1  # type: ignore[operator]


def test_any_text_gives_a_label_of_the_set_or_a_reason() -> None:
    import random

    rng = random.Random(1)
    pieces = [
        "smiling", "not", "no", "eyebrows", "are", "slightly", "raised", "~", "wide", "eyes",
        "tears", ",", ".", "or", "relaxed", "frown", "I'm sorry", "contempt", "😊", "mouth",
        "open", "without", "a", "hint", "of", "smile", "nose", "wrinkled", "\n", "neither",
    ]  # fmt: skip
    for _ in range(500):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 15)))
        for labels in (C7, C6, ("Neutral", "Emotion")):
            m = map_description(text, labels)
            assert m.label is None or m.label in labels, (text, m)
            assert rule_of(m.how) in RULES, (text, m)


def test_a_cue_that_is_also_an_emotion_word_points_the_same_way() -> None:
    synonyms = json.loads((DATA / "label_synonyms.json").read_text(encoding="utf-8"))
    concept_of = {
        word.casefold(): concept
        for section in ("labels", "out_of_set")
        for concept, entry in synonyms[section].items()
        for word in entry["forms"] + entry["synonyms"]
    }
    for cue in _lexicon()["cues"]:  # type: ignore[attr-defined]
        strongest = max(cue["weights"], key=cue["weights"].get)
        for phrase in [cue["cue"], *cue["variants"]]:
            if phrase.casefold() in concept_of:
                assert concept_of[phrase.casefold()] == strongest, phrase
