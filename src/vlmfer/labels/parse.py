"""``parse_label``: the answer to a "which of these labels?" question, or why there is none."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from vlmfer.labels.rules import _m, _with_how, rule_of
from vlmfer.labels.sets import _check_labels
from vlmfer.labels.text import (
    _MARKUP,
    _PARSE_WINDOW,
    _PUNCT,
    _QUOTES,
    _REFUSAL,
    _normalize,
    _phrase_tokens,
    _tokens,
    _unique,
)
from vlmfer.labels.words import _label_index, _LabelIndex, _Target
from vlmfer.types import LabelMatch

# Whole answers that say "I cannot tell" (compared after normalisation).
_UNKNOWN_ANSWERS = frozenset(
    {
        "unknown", "none", "n a", "na", "null", "nan", "other", "unclear", "uncertain",
        "undetermined", "indeterminate", "not sure", "unsure", "no idea", "no answer",
        "can not determine", "can not tell", "can not say", "cannot be determined",
        "can not be determined", "i do not know", "do not know", "not determinable",
        "none of the above", "none of these", "not applicable", "unable to determine",
    }
)  # fmt: skip
_UNKNOWN = re.compile(
    r"\b(?:unknown|undetermined|indeterminate|not\s+determinable"
    r"|can\s+not\s+(?:(?:really|reliably|accurately|confidently)\s+)?(?:be\s+)?"
    r"(?:determined?|tell|told|say|identif\w*|infer\w*|judged?|assess\w*|classif\w*)"
    r"|unable\s+to\s+(?:(?:really|reliably|accurately|confidently)\s+)?"
    r"(?:determine|tell|say|identify|infer|judge|assess|classify)"
    r"|(?:impossible|not\s+possible)\s+to\s+(?:determine|tell|say|identify|infer|judge)"
    r"|i\s+do\s+not\s+know|no\s+way\s+to\s+(?:tell|know|determine)"
    r"|(?:not\s+enough|insufficient)\s+(?:information|detail|context|visual\s+information))\b"
)
_HEDGE = re.compile(
    r"\b(?:unclear|uncertain|not\s+sure|unsure|hard\s+to\s+(?:tell|say)"
    r"|difficult\s+to\s+(?:tell|say|determine))\b"
)
_THINKING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_FINAL = re.compile(
    r"\bfinal\s+(?:answer|label|prediction|classification|emotion|verdict|choice|decision"
    r"|response|output)s?\b(?:\s*(?:is|would\s+be|will\s+be|should\s+be|must\s+be)\b)?"
    r"\s*[:=\-\u2013\u2014]?"
    r"|\b(?:answer|prediction|classification|verdict)\s*"
    r"(?:(?:is|would\s+be|will\s+be|should\s+be|must\s+be)\b\s*[:=\-\u2013\u2014]?"
    r"|[:=\-\u2013\u2014])"
    r"|\bi\s*(?:would\s+|will\s+|'d\s+|'ll\s+)?(?:choose|pick|select|go\s+with"
    r"|classify\s+(?:it|this|them|the\s+\w+)\s+as)\b\s*:?",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:in\s+conclusion|in\s+summary|to\s+conclude|to\s+summari[sz]e|overall|all\s+in\s+all"
    r"|in\s+short|therefore|thus|hence|consequently)\b\s*[,:]?",
    re.IGNORECASE,
)
_KV = re.compile(
    r"^\s*(?:[-\u2022>]+\s*|\d+[.)]\s*)?(?:the\s+|my\s+)?"
    r"(?:predicted\s+|detected\s+|dominant\s+|primary\s+|main\s+|overall\s+)?"
    r"(label|emotion|emotional\s+state|expression|facial\s+expression|answer|prediction"
    r"|class|category|classification|output|result|response|mood|feeling|sentiment)"
    r"\s*[:=\-\u2013\u2014]\s*(.*?)\s*$",
    re.IGNORECASE,
)
_SEGMENT = re.compile(
    r"[.;(!?]|\s[-\u2013\u2014]\s|\b(?:because|since|as|given|due\s+to|based\s+on|with)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n")
_WORDY = re.compile(r"[^\W_]")
_JSON_KEYS = frozenset(
    {
        "label", "labels", "answer", "final_answer", "final_label", "emotion", "emotions",
        "emotion_label", "predicted_label", "predicted_emotion", "predicted_class",
        "prediction", "final_prediction", "final_emotion", "class", "class_label", "category",
        "classification", "result", "output", "dominant_emotion", "primary_emotion",
        "expression", "facial_expression",
    }
)  # fmt: skip
_DEFINITE_NONE = frozenset({"unknown", "ambiguous", "negated", "out-of-set", "refusal"})


def _target_match(target: _Target, how: str) -> LabelMatch:
    if len(target.labels) == 1:
        return _m(target.labels[0], how, target.labels)
    if target.labels:
        return _m(None, "ambiguous: " + ", ".join(target.labels), target.labels)
    return _m(None, f"out-of-set: {target.concept}", target.names)


def _clean(text: str, idx: _LabelIndex, raw: str | None = None) -> LabelMatch | None:
    """The whole of ``text`` is one label, synonym or "unknown", up to markup.

    ``raw`` is the text before markup was removed; "exact" is judged on it.
    """
    words = [t for t in _tokens(text) if t not in _PUNCT]
    if not words or len(words) > idx.longest:
        return None
    target = idx.phrases.get(tuple(words))
    if target is not None:
        if target.source == "synonym":
            how = "synonym"
        elif (text if raw is None else raw).strip().casefold() == target.labels[0].casefold():
            how = "exact"
        else:
            how = "normalized"
        return _target_match(target, how)
    if " ".join(words) in _UNKNOWN_ANSWERS:
        return _m(None, "unknown")
    return None


def _mentions(text: str, idx: _LabelIndex) -> tuple[list[str], list[str], list[str]]:
    """The labels named, the emotions negated and the out-of-set emotions named in ``text``."""
    toks = _tokens(text)
    pos: list[str] = []
    neg: list[str] = []
    out: list[str] = []
    for hit in idx.matcher.find(toks, window=_PARSE_WINDOW):
        names = hit.target.names
        if hit.negated:
            neg.extend(names)
        elif hit.target.labels:
            pos.extend(names)
        else:
            out.extend(names)
    return _unique(pos), _unique(neg), _unique(out)


def _scan(text: str, idx: _LabelIndex) -> LabelMatch:
    """Every emotion word in ``text``, with negation: one label or a reason."""
    pos, neg, out = _mentions(text, idx)
    if not (pos or neg or out):
        norm = _normalize(text)
        if _UNKNOWN.search(norm) or _HEDGE.search(norm):
            return _m(None, "unknown")
        return _m(None, "no-label")
    if pos and len(pos) + len(out) > 1:
        named = pos + out
        return _m(None, "ambiguous: " + ", ".join(named), named)
    both = [p for p in pos if p in neg]
    if both:
        return _m(None, f"ambiguous: {both[0]} is both stated and negated", both)
    if pos:
        return _m(pos[0], "sentence", pos)
    if out:
        return _m(None, "out-of-set: " + ", ".join(out), out)
    return _m(None, "negated: " + ", ".join(neg), neg)


def _parse_value(value: str, idx: _LabelIndex) -> LabelMatch | None:
    """Read a short answer (after a prefix or marker, or a JSON value); None if no emotion word."""
    m = _clean(value, idx)
    if m is not None:
        return m
    segment = _SEGMENT.split(value, maxsplit=1)[0]
    if segment != value:
        m = _clean(segment, idx)
        if m is not None:
            return m
    m = _scan(_SENTENCE_END.split(value.strip(), maxsplit=1)[0], idx)
    return None if rule_of(m.how) == "no-label" else m


def _key_value(line: str, idx: _LabelIndex) -> re.Match[str] | None:
    """A ``key: value`` line, unless its "key" is a label of the set (``Emotion - smiling``)."""
    kv = _KV.match(line)
    if kv is None or _phrase_tokens(kv.group(1)) in idx.label_keys:
        return None
    return kv


def _leading(first_line: str, plain: str, idx: _LabelIndex) -> LabelMatch | None:
    """A bare label, then an explanation that names no other label: ``Surprise (mouth open)``."""
    segment = _SEGMENT.split(first_line, maxsplit=1)[0]
    if segment == first_line:
        return None
    m = _clean(segment, idx)
    if m is None or m.label is None:
        return None
    start = plain.find(segment) + len(segment)
    pos, neg, _ = _mentions(plain[start:], idx)
    if any(p != m.label for p in pos) or m.label in neg:
        return None
    return _m(m.label, "leading", m.candidates)


def _brace_end(text: str, start: int) -> int | None:
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _json_objects(text: str) -> Iterator[Any]:
    start = text.find("{")
    while start != -1:
        end = _brace_end(text, start)
        if end is None:
            return
        chunk = text[start : end + 1]
        obj: Any = None
        try:
            obj = json.loads(chunk)
        except ValueError:
            try:  # single-quoted, Python-style dicts are common too
                obj = ast.literal_eval(chunk)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                obj = None
        if isinstance(obj, dict):
            yield obj
            start = text.find("{", end + 1)
        else:
            start = text.find("{", start + 1)


def _json_values(obj: Any, depth: int = 0) -> Iterator[Any]:
    """Values of recognised keys, searching nested objects."""
    if depth > 3:
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            norm = re.sub(r"[\W_]+", "_", str(key).casefold()).strip("_")
            if norm in _JSON_KEYS and not isinstance(value, dict):
                yield value
            else:
                yield from _json_values(value, depth + 1)
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                yield from _json_values(item, depth + 1)


def _from_json(text: str, idx: _LabelIndex) -> LabelMatch | None:
    objects = list(_json_objects(text))
    for obj in reversed(objects):  # the last object is the answer after any reasoning
        values = list(_json_values(obj))
        if not values:
            continue
        results: list[LabelMatch] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None or (isinstance(item, str) and not item.strip()):
                    results.append(_m(None, "unknown: the JSON answer is empty"))
                elif isinstance(item, str):
                    m = _parse_value(item, idx)
                    if m is not None:
                        results.append(m)
        labels = _unique([r.label for r in results if r.label is not None])
        if len(labels) == 1:
            return _m(labels[0], "json", labels)
        if len(labels) > 1:
            return _m(None, "ambiguous: " + ", ".join(labels), labels)
        if results:
            return results[0]
    return None


def _clause_after(plain: str, end: int) -> str:
    newline = plain.find("\n", end)
    line = plain[end : newline if newline != -1 else len(plain)]
    if _WORDY.search(line):
        return line
    if newline == -1:
        return ""
    # "Final answer:" alone on its line: the answer is on the next one.
    return next((x for x in plain[newline + 1 :].splitlines() if x.strip()), "")


def _from_markers(
    pattern: re.Pattern[str], plain: str, idx: _LabelIndex, how: str
) -> LabelMatch | None:
    negated: LabelMatch | None = None
    for marker in reversed(list(pattern.finditer(plain))):
        m = _parse_value(_clause_after(plain, marker.end()), idx)
        if m is None:
            continue
        # "The answer is Happy. The answer is not Sad.": a negation alone defers to an
        # earlier marker that names a label.
        if rule_of(m.how) == "negated":
            negated = negated or m
            continue
        return _with_how(m, how)
    return negated


def parse_label(text: str | None, labels: Sequence[str]) -> LabelMatch:
    """Read one label of ``labels`` from a model's answer, or say why there is none.

    Rules, in precedence order (the first that decides wins):

    1. ``empty``: no text.
    2. ``exact`` / ``normalized`` / ``synonym``: the whole answer is a label (up to case,
       quotes, brackets, markdown and punctuation) or a synonym of one; a whole answer that
       is an emotion outside ``labels`` is ``out-of-set``, and "unknown", "N/A" ... are
       ``unknown``.
    3. ``prefix``: a one-line ``Label: Fear`` / ``Emotion - anger``.
    4. ``json``: the last JSON object with a ``label`` / ``emotion`` / ``answer`` ... key.
    5. ``final-answer``: the clause after the last "final answer" / "the answer is".
    6. ``conclusion``: the clause after the last "therefore" / "in conclusion" / "overall".
    7. ``first-line``: the first line is a bare label and no other line is one.
    8. ``prefix``: the last ``Emotion: X`` line with a bare label as X.
    9. ``leading``: a bare label, then an explanation naming no other label of the set
       (``Surprise - her mouth is open``).
    10. ``refusal``, then ``unknown`` ("cannot determine", "I don't know", ...).
    11. ``sentence``: every emotion word in the text, with negation: exactly one label named
        and nothing else → that label; otherwise ``ambiguous``, ``negated``, ``out-of-set``
        or ``no-label``.

    Labels match case-insensitively and come back in the spelling of ``labels``. Synonyms
    apply to labels that name a known emotion (``"Angry"`` stands for anger too); any other
    label (``"Emotion"``) matches only its own name.

    >>> parse_label("**Happy**", CAER_LABELS).how
    'normalized'
    >>> parse_label("Sad or Neutral", CAER_LABELS).how
    'ambiguous: Sad, Neutral'
    """
    idx = _label_index(_check_labels(labels))
    if text is None or not text.strip():
        return _m(None, "empty")
    # A reasoning model's thinking block is not its answer, when an answer follows it.
    answer = _THINKING.sub("", text)
    if answer.strip():
        text = answer
    plain = _MARKUP.sub("", text.translate(_QUOTES))
    m = _clean(text, idx) or _clean(plain, idx, raw=text)
    if m is not None:
        return m
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if len(lines) == 1:
        kv = _key_value(lines[0], idx)
        if kv is not None:
            m = _parse_value(kv.group(2), idx)
            if m is not None:
                return _with_how(m, "prefix")
    if "{" in text:
        m = _from_json(text, idx)
        if m is not None:
            return m
    m = _from_markers(_FINAL, plain, idx, "final-answer") or _from_markers(
        _CONCLUSION, plain, idx, "conclusion"
    )
    if m is not None:
        return m
    if len(lines) > 1:
        first = _clean(lines[0], idx)
        if first is not None and not any(
            (c := _clean(line, idx)) is not None and c.label is not None for line in lines[1:]
        ):
            return _with_how(first, "first-line")
        for line in reversed(lines):
            kv = _key_value(line, idx)
            if kv is not None:
                value = kv.group(2)
                m = _clean(value, idx) or _clean(_SEGMENT.split(value, maxsplit=1)[0], idx)
                if m is not None:
                    return _with_how(m, "prefix")
    m = _leading(lines[0], plain, idx) if lines else None
    if m is not None:
        return m
    norm = _normalize(plain)
    if _REFUSAL.search(norm):
        return _m(None, "refusal")
    if _UNKNOWN.search(norm):
        return _m(None, "unknown")
    return _scan(plain, idx)
