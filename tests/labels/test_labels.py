"""parse_label: the label, or None with the reason, for the answers models really give."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vlmfer
from vlmfer.errors import ConfigError
from vlmfer.labels import (
    CAER_LABELS,
    NEUTRAL,
    RULES,
    SIX_LABELS,
    _render_docs,
    lexicon_table_markdown,
    parse_label,
    rule_of,
    synonym_table_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "vlmfer" / "data"
DOCS = ROOT / "docs" / "labels.md"

C7 = CAER_LABELS
C6 = SIX_LABELS
GATE = ("Neutral", "Emotion")
CAERS_TRAIN = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")

# A free-text answer in the style of a VLM asked to reason, then give a final answer.
REASONED_HAPPY = """The person in the image is expressing 'Happiness.' Several cues support this:
1. **Facial expression**: she is smiling broadly, and her cheeks are raised.
2. **Body language**: her posture is relaxed and open; nothing suggests fear or sadness.
3. **Context**: she seems to be at a birthday party, surrounded by friends.
Taken together, these point to happiness rather than surprise.
 The final answer is ['Happy']"""

REASONED_SURPRISE = """Let me look at the face step by step.
- The eyebrows are raised high and the eyes are wide open.
- The mouth is open, which could suggest fear or surprise.
- There is no tension around the mouth that would indicate fear.
So the final answer is Surprise"""

REASONED_MARKDOWN = """### Analysis
The corners of the mouth are turned down and the gaze is lowered. At first glance the
person could look neutral, but the tears suggest otherwise.

**Final Answer:** Sad"""

REASONED_HEADING = """The brows are lowered and pulled together, the lips pressed tight.
She is clearly not happy.

## Final answer
Anger"""

CASES: list[tuple[str | None, tuple[str, ...], str | None, str]] = [
    # --- clean answers: case, quotes, punctuation, markdown
    ("Happy", C7, "Happy", "exact"),
    ("happy", C7, "Happy", "exact"),
    ("  SURPRISE \n", C7, "Surprise", "exact"),
    ("Neutral", C7, "Neutral", "exact"),
    ("**Happy**", C7, "Happy", "normalized"),
    ("'Sad'.", C7, "Sad", "normalized"),
    ('"Disgust"', C7, "Disgust", "normalized"),
    ("Fear.", C7, "Fear", "normalized"),
    ("Surprise!", C7, "Surprise", "normalized"),
    ("['Happy']", C7, "Happy", "normalized"),
    ("*anger*", C7, "Anger", "normalized"),
    ("`Neutral`", C7, "Neutral", "normalized"),
    ("__Sad__", C7, "Sad", "normalized"),
    ("(Fear)", C7, "Fear", "normalized"),
    ("“Happy”", C7, "Happy", "normalized"),
    # --- inflections and synonyms, as the whole answer
    ("Angry", C7, "Anger", "synonym"),
    ("angry.", C7, "Anger", "synonym"),
    ("disgusted", C7, "Disgust", "synonym"),
    ("fearful", C7, "Fear", "synonym"),
    ("scared", C7, "Fear", "synonym"),
    ("afraid", C7, "Fear", "synonym"),
    ("Happiness", C7, "Happy", "synonym"),
    ("joy", C7, "Happy", "synonym"),
    ("sadness", C7, "Sad", "synonym"),
    ("Surprised", C7, "Surprise", "synonym"),
    ("shocked!", C7, "Surprise", "synonym"),
    ("furious", C7, "Anger", "synonym"),
    ("calm", C7, "Neutral", "synonym"),
    ("No emotion", C7, "Neutral", "synonym"),
    ("**Terrified**", C7, "Fear", "synonym"),
    # --- prefixes
    ("Label: Fear", C7, "Fear", "prefix"),
    ("Emotion - anger", C7, "Anger", "prefix"),
    ("emotion: **Sad**", C7, "Sad", "prefix"),
    ("Answer: Happy", C7, "Happy", "prefix"),
    ("Predicted emotion = surprise", C7, "Surprise", "prefix"),
    ("Facial expression: disgusted", C7, "Disgust", "prefix"),
    ("- Emotion: Neutral", C7, "Neutral", "prefix"),
    ("Emotion: the person looks sad", C7, "Sad", "prefix"),
    ("Emotion: Sad\nConfidence: 0.8\nReason: she doesn't look happy", C7, "Sad", "prefix"),
    ("Emotion: Neutral", C6, None, "out-of-set: Neutral"),
    # --- sentences
    ("The person appears to be happy.", C7, "Happy", "sentence"),
    ("She looks angry.", C7, "Anger", "sentence"),
    ("I think the man is afraid of something.", C7, "Fear", "sentence"),
    ("The person seems Happy (smiling).", C7, "Happy", "sentence"),
    ("She is not sad, she is happy.", C7, "Happy", "sentence"),
    ("Happy (not sad)", C7, "Happy", "leading"),
    ("There is no doubt she is happy.", C7, "Happy", "sentence"),
    ("The person is not angry; rather happy.", C7, "Happy", "sentence"),
    ("She looks happy rather than sad.", C7, "Happy", "sentence"),
    ("She looks rather sad.", C7, "Sad", "sentence"),
    ("No fear, anger or disgust here; she looks calm.", C7, "Neutral", "sentence"),
    ("It's hard to tell, but she looks sad.", C7, "Sad", "sentence"),
    ("The face shows no emotion.", GATE, "Neutral", "sentence"),
    # --- JSON
    ('{"label": "Sad"}', C7, "Sad", "json"),
    ('{"emotion": "sad"}', C7, "Sad", "json"),
    ('```json\n{"emotion": "sad"}\n```', C7, "Sad", "json"),
    ('```json\n{\n  "label": "Fear",\n  "confidence": 0.62\n}\n```', C7, "Fear", "json"),
    ("{'label': 'Surprise', 'confidence': 0.7}", C7, "Surprise", "json"),
    ('{"answer": {"emotion": "Fear"}}', C7, "Fear", "json"),
    ('{"Predicted Label": "ANGER"}', C7, "Anger", "json"),
    ('{"label": ["Happy"]}', C7, "Happy", "json"),
    ('{"emotion": "happy", "reason": "she is not sad at all"}', C7, "Happy", "json"),
    ('Reasoning: the brows are lowered.\n```json\n{"label": "Anger"}\n```', C7, "Anger", "json"),
    ('Sure! Here is the answer: {"label": "Disgust"}', C7, "Disgust", "json"),
    ('{"label": "Contempt"}', C7, None, "out-of-set: Contempt"),
    ('{"label": "Neutral"}', C6, None, "out-of-set: Neutral"),
    ('{"labels": ["Happy", "Sad"]}', C7, None, "ambiguous: Happy, Sad"),
    ('{"label": null}', C7, None, "unknown"),
    ('{"label": "unknown"}', C7, None, "unknown"),
    # --- final answer after reasoning
    (REASONED_HAPPY, C7, "Happy", "final-answer"),
    (REASONED_SURPRISE, C7, "Surprise", "final-answer"),
    (REASONED_MARKDOWN, C7, "Sad", "final-answer"),
    (REASONED_HEADING, C7, "Anger", "final-answer"),
    ("Final answer: ['Happy']", C7, "Happy", "final-answer"),
    ("She might be afraid... so the final answer is Surprise", C7, "Surprise", "final-answer"),
    ("Not happy, not angry. The answer is: Sad.", C7, "Sad", "final-answer"),
    ("Final label - fear (the eyes are wide).", C7, "Fear", "final-answer"),
    (
        "From Anger, Disgust, Fear, Happy, Neutral, Sad, Surprise, I choose Happy.",
        C7,
        "Happy",
        "final-answer",
    ),
    (
        "Final answer: Sad. I considered what the final answer is about overall.",
        C7,
        "Sad",
        "final-answer",
    ),
    ("The answer is not happy.", C7, None, "negated: Happy"),
    ("Final answer: Sad or Neutral", C7, None, "ambiguous: Sad, Neutral"),
    ("Hard one. The final answer is: cannot be determined", C7, None, "unknown"),
    ("The lips are pressed; the final answer is Contempt.", C7, None, "out-of-set: Contempt"),
    ("Her face is calm. Final answer: Neutral", C6, None, "out-of-set: Neutral"),
    # --- conclusion markers and first lines
    ("She is smiling but her eyes are teary. Overall, I'd say Sad.", C7, "Sad", "final-answer"),
    ("She is smiling but her eyes are teary. Overall, Sad.", C7, "Sad", "conclusion"),
    ("The mouth is open and she looks happy. Therefore, Surprise.", C7, "Surprise", "conclusion"),
    (
        "Happy\n\nThe person is smiling, though there may be a hint of sadness.",
        C7,
        None,
        "ambiguous: Happy, Sad",
    ),
    ("Happy\n\nThe person is smiling broadly.", C7, "Happy", "first-line"),
    (
        "**Neutral**\nThe face is relaxed; no strong emotion is visible.",
        C7,
        "Neutral",
        "first-line",
    ),
    # --- a bare label, then an explanation
    ("Surprise - her mouth is open as if in shock.", C7, "Surprise", "leading"),
    ("Sad (she could also be seen as tired).", C7, "Sad", "leading"),
    ("Happy. She is smiling and looks excited.", C7, "Happy", "leading"),
    ("Emotion - the person is smiling.", GATE, "Emotion", "leading"),
    ("Emotion (the person looks happy)", GATE, "Emotion", "leading"),
    ("Sad. Or maybe Neutral.", C7, None, "ambiguous: Sad, Neutral"),
    ("Fear (not really fear, more surprise)", C7, None, "ambiguous: Fear, Surprise"),
    # --- answers that correct themselves (issue 12): the later statement, or no label
    ("Neutral? No — Sad", C7, "Sad", "correction"),
    ("Anger\nNo wait, Disgust", C7, "Disgust", "correction"),
    ("Therefore, Neutral is wrong; the expression is Sad.", C7, "Sad", "conclusion"),
    ("Neutral. Actually, on second thought, Happy.", C7, "Happy", "correction"),
    ("Sad\nor maybe Neutral", C7, None, "ambiguous: Sad, Neutral"),
    ("Neutral? No.", C7, None, "retracted: Neutral"),
    ("Happy. Actually, she might be a bit sad too.", C7, None, "ambiguous"),
    ("Sad?", C7, None, "hedge: Sad is only asked about"),
    # --- misspellings close to one label only; short words are never guessed
    ("suprise", C7, "Surprise", "typo"),
    ("Netural", C7, "Neutral", "typo"),
    ("Digust", C7, "Disgust", "typo"),
    ("angery", C7, "Anger", "typo"),
    ("The person looks suprised.", C7, "Surprise", "typo"),
    ("Final answer: Nuetral", C7, "Neutral", "final-answer"),
    ("bad", C7, None, "no-label"),
    ("danger", C7, None, "no-label"),
    ("The person started to talk.", C7, None, "no-label"),
    # --- per-label scores
    ('{"happy": 0.1, "sad": 0.7}', C7, "Sad", "json-scores"),
    ('{"happy": 0.5, "sad": 0.5}', C7, None, "ambiguous: the scores of Happy, Sad tie"),
    ('{"contempt": 0.6, "sad": 0.3}', C7, None, "out-of-set: Contempt"),
    ('[{"label": "Sad", "score": 0.8}, {"label": "Neutral", "score": 0.1}]', C7, "Sad",
     "json-scores"),
    # --- a label word glued into broken text is no mention
    ("per\ufffdAnger\ufffd\ufffdistan", C7, None, "garbled"),
    ("\ufffd\ufffdHappy\ufffd", C7, "Happy", "exact"),
    # --- reasoning blocks and tags
    ("<think>She might be sad, or neutral.</think>\nHappy", C7, "Happy", "exact"),
    ("<think>Wide eyes... fear?</think>\n\n**Surprise**", C7, "Surprise", "normalized"),
    ("<answer>Disgust</answer>", C7, "Disgust", "normalized"),
    ("<think>I can't tell if she is happy or sad.</think>", C7, None, "unknown"),
    ("The answer is Happy. The answer is not Sad.", C7, "Happy", "final-answer"),
    # --- empty
    ("", C7, None, "empty"),
    (None, C7, None, "empty"),
    ("   \n\t", C7, None, "empty"),
    # --- refusals and "unknown"
    (
        "I'm sorry, I can't help with identifying or making assumptions about people.",
        C7,
        None,
        "refusal",
    ),
    ("I’m sorry, but I can’t determine whether this person is happy or sad.", C7, None, "refusal"),
    ("As an AI, I do not analyze the emotions of real people.", C7, None, "refusal"),
    ("I am unable to identify emotions from images of people.", C7, None, "refusal"),
    ("unknown", C7, None, "unknown"),
    ("Unknown.", C7, None, "unknown"),
    ("N/A", C7, None, "unknown"),
    ("None", C7, None, "unknown"),
    ("Not sure.", C7, None, "unknown"),
    ("I cannot determine the emotion from this image.", C7, None, "unknown"),
    (
        "The image is too dark; it is impossible to tell whether she is sad or happy.",
        C7,
        None,
        "unknown",
    ),
    ("There is not enough information to say.", C7, None, "unknown"),
    ("The expression is unclear.", C7, None, "unknown"),
    # --- two different candidates
    ("Sad or Neutral", C7, None, "ambiguous: Sad, Neutral"),
    ("Sad/Neutral", C7, None, "ambiguous: Sad, Neutral"),
    ("['Sad', 'Neutral']", C7, None, "ambiguous: Sad, Neutral"),
    ("Happy, Surprise", C7, None, "ambiguous: Happy, Surprise"),
    ("Anger\nDisgust\nFear", C7, None, "ambiguous: Anger, Disgust, Fear"),
    ("Happy, although there are hints of sadness.", C7, None, "ambiguous: Happy, Sad"),
    ("The person looks happy and excited.", C7, None, "ambiguous: Happy, Excitement"),
    ("Sad or Neutral", C6, None, "ambiguous: Sad, Neutral"),
    ("Neutral, maybe slightly sad.", C6, None, "ambiguous: Sad, Neutral"),
    (
        "She is smiling, but she is not happy.",
        C7,
        None,
        "ambiguous: Happy is both stated and negated",
    ),
    ("The person's emotion is neutral.", GATE, None, "ambiguous: Emotion, Neutral"),
    # --- negations
    ("not happy", C7, None, "negated: Happy"),
    ("Not Happy.", C7, None, "negated: Happy"),
    ("She doesn't look angry.", C7, None, "negated: Anger"),
    ("He isn't afraid.", C7, None, "negated: Fear"),
    ("Neither happy nor sad.", C7, None, "negated: Happy, Sad"),
    ("There is no sign of fear.", C7, None, "negated: Fear"),
    ("She is never surprised.", C7, None, "negated: Surprise"),
    # --- outside the label set
    ("Contempt", C7, None, "out-of-set: Contempt"),
    ("contemptuous", C7, None, "out-of-set: Contempt"),
    ("Pain", C7, None, "out-of-set: Pain"),
    ("Concentration", C7, None, "out-of-set: Concentration"),
    ("The person looks confused.", C7, None, "out-of-set: Confusion"),
    ("The person is in pain and confused.", C7, None, "out-of-set: Pain, Confusion"),
    ("Neutral", C6, None, "out-of-set: Neutral"),
    ("neutral.", C6, None, "out-of-set: Neutral"),
    ("The person appears neutral.", C6, None, "out-of-set: Neutral"),
    ("expressionless", C6, None, "out-of-set: Neutral"),
    ("Happy", GATE, "Emotion", "synonym"),
    ("Not neutral", GATE, "Emotion", "synonym"),
    ("She looks sad.", GATE, "Emotion", "sentence"),
    ("Happy", ("Positive", "Negative"), None, "out-of-set: Happy"),
    # --- no emotion word at all
    ("The image shows a person in a kitchen.", C7, None, "no-label"),
    ("Hmm.", C7, None, "no-label"),
    ("42", C7, None, "no-label"),
    ("***", C7, None, "no-label"),
    ("```\n```", C7, None, "no-label"),
    ("{}", C7, None, "no-label"),
    ('{"confidence": 0.9}', C7, None, "no-label"),
    ("{not json at all", C7, None, "no-label"),
    # --- six labels
    ("Happy", C6, "Happy", "exact"),
    ("The person looks scared.", C6, "Fear", "sentence"),
    ("She is not neutral; she is sad.", C6, "Sad", "sentence"),
    # --- custom label sets
    ("Neutral", GATE, "Neutral", "exact"),
    ("emotion", GATE, "Emotion", "exact"),
    ("**Emotion**", GATE, "Emotion", "normalized"),
    ("Answer: Emotion", GATE, "Emotion", "prefix"),
    ('{"label": "neutral"}', GATE, "Neutral", "json"),
    ("calm", GATE, "Neutral", "synonym"),
    ("anger", CAERS_TRAIN, "Angry", "synonym"),
    ("furious", CAERS_TRAIN, "Angry", "synonym"),
    ("angry", CAERS_TRAIN, "Angry", "exact"),
    ("Sad", ("Sadness", "Happiness", "Surprise"), "Sadness", "synonym"),
    ("The person looks happy.", ("Sadness", "Happiness", "Surprise"), "Happiness", "sentence"),
    ("contempt", ("Anger", "Contempt", "Disgust"), "Contempt", "exact"),
    ("scornful", ("Anger", "Contempt", "Disgust"), "Contempt", "synonym"),
    ("positive", ("Positive", "Negative"), "Positive", "exact"),
    ("The overall sentiment is negative.", ("Positive", "Negative"), "Negative", "conclusion"),
]


def _case_id(case: tuple[str | None, tuple[str, ...], str | None, str]) -> str:
    text, labels, _, _ = case
    short = "None" if text is None else re.sub(r"\s+", " ", text)[:40]
    return f"{short}|{len(labels)}"


@pytest.mark.parametrize(
    ("text", "labels", "label", "how"), CASES, ids=[_case_id(c) for c in CASES]
)
def test_parse_label(
    text: str | None, labels: tuple[str, ...], label: str | None, how: str
) -> None:
    m = parse_label(text, labels)
    assert m.label == label, m
    if ":" in how:
        assert m.how == how, m
    else:
        assert rule_of(m.how) == how, m
    assert rule_of(m.how) in RULES
    if m.label is not None:
        assert m.label in labels  # the set's own spelling
        assert m.candidates == [m.label]


def test_the_table_is_large_and_covers_every_rule() -> None:
    assert len(CASES) >= 80
    seen = {rule_of(how) for *_, how in CASES}
    assert seen >= set(RULES) - {"lexicon", "lexicon-tie", "lexicon-no-cue", "truncated"}


def test_a_parsed_label_parses_back_to_itself() -> None:
    for *_, label, _ in CASES:
        if label is not None:
            for labels in (C7, GATE, CAERS_TRAIN):
                if label in labels:
                    assert parse_label(label, labels).how == "exact"


@pytest.mark.parametrize("labels", [C7, C6, GATE, CAERS_TRAIN, ("happy", "SAD")])
def test_every_label_of_a_set_is_found_in_every_spelling(labels: tuple[str, ...]) -> None:
    for label in labels:
        spellings = [label, label.upper(), label.lower(), f"**{label}**", f"'{label}'."]
        wrapped = [f"Label: {label}", f'{{"label": "{label}"}}', f"Hmm... final answer: {label}."]
        for text in spellings + wrapped:
            m = parse_label(text, labels)
            assert m.label == label, (text, m)


def _synonyms() -> dict[str, dict[str, dict[str, list[str]]]]:
    data: dict[str, dict[str, dict[str, list[str]]]] = json.loads(
        (DATA / "label_synonyms.json").read_text(encoding="utf-8")
    )
    return data


def test_every_synonym_in_the_table_maps_to_its_label() -> None:
    table = _synonyms()["labels"]
    assert tuple(table) == CAER_LABELS
    for label, entry in table.items():
        for word in entry["forms"] + entry["synonyms"]:
            m = parse_label(word, C7)
            assert m.label == label, (word, m)
            m = parse_label(f"The person looks {word}.", C7)
            assert m.label == label, (word, m)
            if label == NEUTRAL:
                assert parse_label(word, C6).how == "out-of-set: Neutral", word


def test_every_out_of_set_word_is_reported_not_ignored() -> None:
    for concept, entry in _synonyms()["out_of_set"].items():
        for word in entry["forms"] + entry["synonyms"]:
            m = parse_label(word, C7)
            assert m.label is None
            assert m.how == f"out-of-set: {concept}", (word, m)


def test_a_word_belongs_to_one_emotion_only() -> None:
    owner: dict[str, str] = {}
    data = _synonyms()
    for section in ("labels", "out_of_set"):
        for concept, entry in data[section].items():
            for word in entry["forms"] + entry["synonyms"]:
                key = word.casefold()
                assert key not in owner, f"{word!r} is under both {owner[key]} and {concept}"
                owner[key] = concept


NON_ANSWERS = [
    None,
    "",
    "I'm sorry, I can't help with that.",
    "unknown",
    "Sad or Neutral",
    "not happy",
    "Contempt",
    "The weather is nice.",
    '{"label": null}',
    "cannot determine",
]


@pytest.mark.parametrize("labels", [C7, C6, GATE])
def test_a_non_answer_is_never_a_label_and_never_neutral(labels: tuple[str, ...]) -> None:
    for text in NON_ANSWERS:
        if labels == GATE and text == "Contempt":
            continue  # an emotion: the gate's "Emotion"
        m = parse_label(text, labels)
        assert m.label is None, (text, m)
        assert rule_of(m.how) in RULES


def test_labels_can_be_any_sequence() -> None:
    assert parse_label("sad", list(C7)).label == "Sad"
    assert parse_label("Emotion: sad", ["Sad", "Happy"]).label == "Sad"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("Happy", "not the single string 'Happy'"),
        ((), "labels is empty"),
        (("Happy", "happy"), "'Happy' and 'happy' are the same label"),
        (("Sad", "SAD!"), "the same label"),
        (("Happy", 3), "are not strings"),
        (("Happy", "?!"), "'?!' is not a label name"),
    ],
)
def test_a_bad_label_set_is_a_config_error_that_says_why(labels: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_label("Happy", labels)  # type: ignore[arg-type]


def test_public_names_from_the_package() -> None:
    assert vlmfer.CAER_LABELS == C7
    assert vlmfer.SIX_LABELS == ("Anger", "Disgust", "Fear", "Happy", "Sad", "Surprise")
    assert vlmfer.parse_label("joyful", vlmfer.CAER_LABELS).label == "Happy"
    assert isinstance(parse_label("Happy", C7), vlmfer.LabelMatch)


def test_importing_labels_stays_light() -> None:
    code = (
        "import sys, vlmfer.labels as L; L.parse_label('happy', L.CAER_LABELS); "
        "L.map_description('smiling', L.CAER_LABELS); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'openai','google','av','matplotlib','sklearn','numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- docs/labels.md is kept honest by these (as datasette does for its hooks)


def test_docs_tables_are_up_to_date() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    assert _render_docs(doc) == doc, (
        "docs/labels.md is out of date with src/vlmfer/data/*.json; "
        "run: python -m vlmfer.labels docs/labels.md"
    )
    assert synonym_table_markdown() in doc
    assert lexicon_table_markdown() in doc


def test_every_table_entry_is_in_the_docs() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    data = _synonyms()
    for section in ("labels", "out_of_set"):
        for concept, entry in data[section].items():
            row = next((r for r in doc.splitlines() if r.startswith(f"| {concept} |")), None)
            assert row is not None, f"{concept} is missing from docs/labels.md"
            for word in entry["forms"] + entry["synonyms"]:
                assert re.search(rf"[|,] {re.escape(word)}[,|\s]", row), (concept, word)
    gate = next(r for r in doc.splitlines() if r.startswith("| (any emotion) | gate |"))
    for word in data["any_emotion"]["forms"] + data["any_emotion"]["synonyms"]:  # type: ignore[operator]
        assert f" {word}" in gate, word
    for word in data["not_typos"]:
        assert f"`{word}`" in doc, f"not-typo {word!r} is missing from docs/labels.md"
        assert parse_label(word, C7).label is None, word
    lexicon = json.loads((DATA / "emotion_lexicon.json").read_text(encoding="utf-8"))
    for cue in lexicon["cues"]:
        for phrase in [cue["cue"], *cue["variants"]]:
            assert f"`{phrase}`" in doc, f"lexicon cue {phrase!r} is missing from docs/labels.md"


def test_every_rule_is_documented() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule}" in doc, f"rule {rule!r} is not described in docs/labels.md"


def test_any_text_gives_a_label_of_the_set_or_a_reason() -> None:
    import random

    rng = random.Random(0)
    pieces = [
        "Happy", "sad", "not", "no", "{", "}", '"label":', "'", '"', "**", "```json", "\n",
        "Final answer:", "therefore", "Emotion -", "I'm sorry", "unknown", "Neutral", "or",
        "contempt", "~", "(", ")", "[", "]", ".", ",", "<think>", "</think>", "é", "😊", " ",
        "smiling", "wide eyes", "can't", "Label:", ":", "-", "\\", "null", "answer is",
    ]  # fmt: skip
    for _ in range(500):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        for labels in (C7, C6, GATE):
            m = parse_label(text, labels)
            assert m.label is None or m.label in labels, (text, m)
            assert rule_of(m.how) in RULES, (text, m)


def test_the_examples_in_the_docs_and_docstrings_run() -> None:
    import doctest
    import importlib

    doc = DOCS.read_text(encoding="utf-8")
    runner = doctest.DocTestRunner()
    globs: dict[str, object] = {}  # the blocks run in order, sharing their imports
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc, re.DOTALL)):
        test = doctest.DocTestParser().get_doctest(block, globs, f"labels.md[{i}]", str(DOCS), 0)
        runner.run(test, clear_globs=False)
        globs.update(test.globs)
    failed, tried = runner.summarize(verbose=False)
    assert tried >= 5 and failed == 0
    total = 0
    for name in ("", ".parse", ".lexicon", ".ties"):
        module = importlib.import_module(f"vlmfer.labels{name}")
        failed, tried = doctest.testmod(
            module, extraglobs={"CAER_LABELS": C7, "SIX_LABELS": C6}
        )
        assert failed == 0, module
        total += tried
    assert total >= 8


def test_python_m_vlmfer_labels_rewrites_the_docs_tables(tmp_path: Path) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    stale = tmp_path / "labels.md"
    stale.write_text(doc.replace("| Anger | CAER |", "| Anger | stale |"), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "vlmfer.labels", str(stale)], check=True)
    assert stale.read_text(encoding="utf-8") == doc
