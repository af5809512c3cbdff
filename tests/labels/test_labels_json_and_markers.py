"""parse_label on JSON answers, answers after a marker, and cut-off answers: the exact rule,
detail and candidates, so that a wrong branch that still lands on the same label is seen.

Each case pins ``how`` in full: many of these answers would also give the label through a
later, weaker rule (a word found in a sentence), so checking the label alone cannot tell
whether the JSON or the marker was read at all.
"""

from __future__ import annotations

import re

import pytest

from vlmfer.labels import CAER_LABELS, parse_label, score_description, tied_top, top_label

C7 = CAER_LABELS


def _id(text: object) -> str:
    # Plain ids: mutmut selects tests by node id, and an id with "\\n" or quotes is not found.
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-")[:48] if isinstance(text, str) else ""


CASES: list[tuple[str, str | None, str, list[str]]] = [
    # --- a JSON object inside prose: found by brace matching, strings and escapes respected
    ('Here it is. {"reason": "a } sign", "label": "Sad"} done', "Sad", "json", ["Sad"]),
    ('Here it is. {"reason": "she said \\"hi}\\"", "label": "Sad"} done', "Sad", "json",
     ["Sad"]),
    ('Reply {"details": {"eyes": "narrowed"}, "emotion": "Anger"}', "Anger", "json",
     ["Anger"]),
    ('Sure: {"label": "Disgust"}.', "Disgust", "json", ["Disgust"]),
    # a template's doubled braces: the inner object is the answer
    ('My reply {{"label": "Fear"}}', "Fear", "json", ["Fear"]),
    ('The set {Happy, Sad} was offered. {"label": "Sad"}', "Sad", "json", ["Sad"]),
    ('Note {broken} then {"label": "Fear"} and {"confidence": 0.8}', "Fear", "json", ["Fear"]),
    ('{"observation": "brows low"} {"label": "Anger"} {"confidence": 0.9}', "Anger", "json",
     ["Anger"]),
    # two objects, two answers: neither is the answer, even glued together
    ('Answer {"label": "Sad"} and {"label": "Fear"}', None, "ambiguous: Sad, Fear",
     ["Sad", "Fear"]),
    ('Here: {"label": "Sad"}{"label": "Fear"}', None, "ambiguous: Sad, Fear", ["Sad", "Fear"]),
    # the last object that names a label, not a later one that names none
    ('Answer {"label": "Sad"} and {"label": "unknown"}', "Sad", "json", ["Sad"]),
    ('Answer: {"label": ""}', None, "unknown: the JSON answer is empty", []),
    # --- keys: punctuation around a key, nesting
    ('{"Label:": "Fear"}', "Fear", "json", ["Fear"]),
    ('{"response": {"analysis": {"result": {"emotion": "Fear"}}}}', "Fear", "json", ["Fear"]),
    ('{"results": [{"emotion": "Fear"}]}', "Fear", "json", ["Fear"]),
    ('{"response": {"results": [{"emotion": "Fear"}]}}', "Fear", "json", ["Fear"]),
    ('{"label": "Sad", "emotion": "Fear"}', None, "ambiguous: Sad, Fear", ["Sad", "Fear"]),
    # --- per-label scores, also nested, and keys that are no score
    ('{"scores": {"happy": 0.1, "sad": 0.7}}', "Sad", "json-scores", ["Sad"]),
    ('{"x": {"y": {"happy": 0.1, "sad": 0.7}}}', "Sad", "json-scores", ["Sad"]),
    ('{"happy": 0.1, "note": "x", "sad": 0.7}', "Sad", "json-scores", ["Sad"]),
    # two keys for one label: its best score counts
    ('{"Happy": 0.6, "happiness": 0.5, "Sad": 0.55}', "Happy", "json-scores", ["Happy"]),
    ('{"happy": 0.4, "sad": 0.4, "fear": 0.2}', None, "ambiguous: the scores of Happy, Sad tie",
     ["Happy", "Sad"]),
    ('{"contempt": 0.9, "sad": 0.1}', None, "out-of-set: Contempt", ["Contempt"]),
    # --- a list of labelled items
    ('[{"label": "Sad"}]', "Sad", "json", ["Sad"]),
    ('[{"label": "unknown"}, {"label": "Sad"}]', "Sad", "json", ["Sad"]),
    ('[{"label": "Sad", "score": 0.8}, {"note": "calm face"}]', "Sad", "json", ["Sad"]),
    ('[{"label": "Sad"}, {"label": "Fear"}]', None, "ambiguous: Sad, Fear", ["Sad", "Fear"]),
    # a number that is not a score ranks nothing
    ('[{"label": "Sad", "rank": 1}, {"label": "Neutral", "rank": 2}]', None,
     "ambiguous: Sad, Neutral", ["Sad", "Neutral"]),
    ('[{"label": "Sad", "score": 0.6}, {"label": "Sad", "score": 0.2}, '
     '{"label": "Fear", "score": 0.5}]', "Sad", "json-scores", ["Sad"]),
    # --- the clause after a marker
    ("Emotion: Sad because the surprise has worn off", "Sad", "prefix", ["Sad"]),
    ("The brows are lowered.\nFinal answer:\nAnger", "Anger", "final-answer", ["Anger"]),
    # "Final answer:" with nothing after it reads nothing, not the first line
    ("The brows are low and she looks sad.\nFinal answer:", "Sad", "sentence", ["Sad"]),
    ("Final answer: Sad\nMaybe fear too.\nThat is all.", None,
     "ambiguous: Sad, then a hedge", ["Sad"]),
    # another label after the answer without a hedge, or the same label with one: no doubt
    ("Final answer: Sad.\nHer friend looks happy.", "Sad", "final-answer", ["Sad"]),
    ("Final answer: Sad.\nShe may be sad because of the news.", "Sad", "final-answer",
     ["Sad"]),
]


@pytest.mark.parametrize(("text", "label", "how", "candidates"), CASES,
                         ids=[_id(c[0]) for c in CASES])
def test_parse_label_reads_json_and_markers(
    text: str, label: str | None, how: str, candidates: list[str]
) -> None:
    m = parse_label(text, C7)
    assert (m.label, m.how, m.candidates) == (label, how, candidates)


@pytest.mark.parametrize("key", ["score", "probability", "confidence", "prob", "P"])
def test_a_list_of_scored_labels_takes_the_top_score_under_any_score_key(key: str) -> None:
    text = f'[{{"label": "Sad", "{key}": 0.2}}, {{"label": "Neutral", "{key}": 0.7}}]'
    m = parse_label(text, C7)
    assert (m.label, m.how, m.candidates) == ("Neutral", "json-scores", ["Neutral"])


@pytest.mark.parametrize(
    ("text", "label", "how"),
    [
        # a fenced JSON answer is a whole answer, so it counts even when cut off
        ('```json\n{"label": "Sad"}\n```', "Sad", "json"),
        # the last "Final answer:" line counts when only its own label follows it
        ("The brows are low.\nFinal answer: Sad\nSad because the brows", "Sad", "final-answer"),
        ("The brows are low.\nFinal answer: unclear", None, "truncated"),
        ("The brows are low.\nFinal answer: the face shows", None, "truncated"),
    ],
    ids=_id,
)
def test_a_cut_off_answer_keeps_only_a_whole_answer(
    text: str, label: str | None, how: str
) -> None:
    m = parse_label(text, C7, truncated=True)
    assert (m.label, m.how) == (label, how)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,  # a repetition loop
        '{"a": ' * 3000 + '"Fear"' + "}" * 3000,
        "Reasoning. " + '{"a": ' * 3000 + '"Fear"' + "}" * 3000,
    ],
    ids=["brackets", "nested-object", "nested-object-in-prose"],
)
def test_deeply_nested_brackets_are_read_as_text_never_a_crash(text: str) -> None:
    m = parse_label(text, C7)
    assert m.label in (None, "Fear")


def test_the_tie_rule_follows_the_order_and_subset_of_labels_given() -> None:
    scores = {"Sad": 0.4, "Happy": 0.4, "Fear": 0.9}
    assert tied_top(scores, ["Happy", "Sad"]) == ["Happy", "Sad"]
    assert top_label(scores, ["Happy", "Sad"]) is None
    assert top_label(scores, ["Sad", "Fear"]) == "Fear"
    assert top_label(scores) == "Fear"


def test_a_damping_word_up_to_two_words_before_a_cue_halves_it() -> None:
    plain = score_description("smiling", C7).scores["Happy"]
    for damped in ("slightly smiling", "slightly very smiling"):
        assert score_description(damped, C7).scores["Happy"] == pytest.approx(plain / 2), damped
    # Not after the cue, not three words before it, not across a comma.
    for text in ("smiling slightly", "slightly and warmly smiling", "slightly, smiling"):
        assert score_description(text, C7).scores["Happy"] == plain, text


@pytest.mark.parametrize(
    ("text", "labels", "label", "how"),
    [
        ("engagment", ("Engagement", "Distraction"), "Engagement", "typo"),  # a label of one's own
        ("anrgy", C7, "Anger", "typo"),  # a five-letter form of a label's emotion
        ("She looks exicted", C7, None, "out-of-set: Excitement"),  # a seven-letter one
        # Short forms of other emotions are no typo targets: "bores" is not a misspelt "bored".
        ("She looks happy, the long task bores her", C7, "Happy", "sentence"),
    ],
    ids=_id,
)
def test_a_misspelt_emotion_word_is_read_through_its_closest_form(
    text: str, labels: tuple[str, ...], label: str | None, how: str
) -> None:
    m = parse_label(text, labels)
    assert (m.label, m.how) == (label, how)
