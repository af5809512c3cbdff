"""Shared backend helpers: logprobs to labels, constrained answers, Retry-After."""

from __future__ import annotations

import email.utils
import math
import time

import pytest

from vlmfer.predictors._common import (
    constrained_label,
    label_logprobs,
    parse_retry_after,
    redact,
    status_error,
)

LABELS = ["Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]


def test_bare_answer_first_token() -> None:
    positions = [("Happy", [("Happy", -0.1), ("Neutral", -2.5), (" happy", -3.0),
                            ("Sur", -4.0), ("S", -5.0), ("xyz", -1.0)])]
    got = label_logprobs(positions, "Happy", LABELS, "enum")
    assert got is not None
    # "Happy" and " happy" are the same label: their probabilities add up.
    assert got["Happy"] == pytest.approx(math.log(math.exp(-0.1) + math.exp(-3.0)))
    assert got["Neutral"] == -2.5
    assert got["Surprise"] == -4.0       # a prefix of one label only
    assert "Sad" not in got              # "S" is ambiguous (Sad, Surprise): dropped


def test_json_answer_finds_the_label_position() -> None:
    text = '{"label":"Sad"}'
    positions = [
        ('{"', [('{"', 0.0)]),
        ("label", [("label", 0.0)]),
        ('":"', [('":"', 0.0)]),
        ("Sad", [("Sad", -0.2), ("Neutral", -1.8)]),
        ('"}', [('"}', 0.0)]),
    ]
    assert label_logprobs(positions, text, LABELS, "json_schema") == {"Sad": -0.2,
                                                                      "Neutral": -1.8}


def test_label_glued_to_json_punctuation() -> None:
    text = '{"label": "Fear"}'
    positions = [('{"', [('{"', 0.0)]), ("label", [("label", 0.0)]),
                 ('":', [('":', 0.0)]), (' "F', [(' "F', -0.3), (' "N', -1.5)]),
                 ("ear", [("ear", 0.0)]), ('"}', [('"}', 0.0)])]
    got = label_logprobs(positions, text, LABELS, "json_schema")
    assert got == {"Fear": -0.3, "Neutral": -1.5}


def test_no_positions_or_labels() -> None:
    assert label_logprobs([], "Happy", LABELS, None) is None
    assert label_logprobs([("Happy", [("Happy", 0.0)])], "Happy", [], None) is None
    assert label_logprobs([("zzz", [("zzz", 0.0)])], "zzz", LABELS, None) is None


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [("Happy", "enum", "Happy"), ("happy.", "enum", "Happy"), ('{"label": "sad"}', "json_schema",
     "Sad"), ("not json", "json_schema", None), ('{"label": 3}', "json_schema", None),
     ("Happy or Sad", "enum", None), (None, "enum", None)],
)
def test_constrained_label(text: str | None, kind: str, expected: str | None) -> None:
    assert constrained_label(text, LABELS, kind) == expected


def test_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"retry-after": date}) or 0) <= 31
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "retryable", "kind", "says"),
    [(429, True, "rate_limit", "rate limited"), (500, True, "server", "transient"),
     (503, True, "server", "transient"), (408, True, "timeout", "transient"),
     (409, True, "server", "transient"), (400, False, "bad_request", "rejected"),
     (401, False, "auth", "OPENAI_API_KEY"), (403, False, "permission", "permissions"),
     (404, False, "not_found", "gemini-3.5-flash"), (422, False, "bad_request", "rejected")],
)
def test_status_classification(status: int, retryable: bool, kind: str, says: str) -> None:
    err = status_error(status, "boom", predictor="openai/x", key_env="OPENAI_API_KEY",
                       where="http://127.0.0.1:1/v1", retry_after=2.0 if retryable else None)
    assert (err.retryable, err.kind, err.status) == (retryable, kind, status)
    assert says in str(err)


def test_redact_removes_keys_and_key_shaped_strings() -> None:
    text = ("Incorrect API key provided: sk-proj-****************abcd. "
            "Also my-secret-value and AIzaSyA1234567890abcdefg.")
    out = redact(text, "my-secret-value")
    assert "sk-proj" not in out and "abcd" not in out and "my-secret-value" not in out
    assert "AIza" not in out and out.startswith("Incorrect API key provided: <redacted>")


def test_a_short_word_is_not_the_start_of_a_label() -> None:
    # The answer is one whole token; "A" and "N" among the alternatives are words of their own.
    positions = [("Neutral", [("Neutral", -0.2), ("A", -1.0), ("N", -2.0), ("Happy", -3.0)])]
    got = label_logprobs(positions, "Neutral", LABELS, None)
    assert got == {"Neutral": -0.2, "Happy": -3.0}
