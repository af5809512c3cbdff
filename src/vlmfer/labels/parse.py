"""``parse_label``: the answer to a "which of these labels?" question, or why there is none."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
from vlmfer.labels.ties import tied_top, top_label
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
    r"|\bi\s*(?:would\s+|will\s+|'d\s+|'ll\s+)?(?:choose|pick|select|go\s+with|say"
    r"|classify\s+(?:it|this|them|the\s+\w+)\s+as)\b\s*:?"
    r"|\b(?:best|closest)\s+(?:fit|match|answer|description|choice|label)\s+(?:is|would\s+be)\b\s*:?"
    r"|\b(?:dominant|main|primary|predominant|most\s+prominent)\s+(?:emotion|expression)\s+"
    r"(?:is|would\s+be|appears\s+to\s+be|seems\s+to\s+be)\b\s*:?",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:in\s+conclusion|in\s+summary|to\s+conclude|to\s+summari[sz]e|overall|all\s+in\s+all"
    r"|in\s+short|therefore|thus|hence|consequently)\b\s*[,:]?|\bconclusion\s*:",
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
# Dashes, arrows and ellipses end a negation's reach as ";" does: "Not angry — happy".
_DASH = re.compile(r"\s[-\u2013\u2014]+\s|[\u2013\u2014\u2192\u2026]+|->|\.{2,}")
# "Neutral is wrong": a label word negated by what follows it.
_NEG_AFTER: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in (
        "is wrong", "is incorrect", "is not right", "is not correct", "is not it",
        "is not the answer", "is not accurate", "is not the right", "is not the correct",
        "is ruled out", "can be ruled out", "is unlikely", "seems unlikely", "would be wrong",
        "would be incorrect", "was wrong", "was incorrect", "does not fit", "does not apply",
        "does not match", "is a mistake", "was a mistake",
    )
)  # fmt: skip
_NO_AFTER = frozenset(".!?\n\u2014\u2013\u2026-")  # "No" starts a clause after these
_ACTUALLY_AFTER = frozenset(".!?\n,;:()\u2014\u2013\u2192\u2026>-")
_PUNCTS = r"[,.!:;\u2014\u2013\u2026-]"
# A statement that takes back what came before it: the answer is what follows the last one.
_CORRECTION = re.compile(
    rf"\bno\s*{_PUNCTS}?\s*wait\b(?:\s*{_PUNCTS}*\s*no\b)?"
    rf"|\bwait\s*{_PUNCTS}+(?:\s*no\b\s*{_PUNCTS}*)?"
    rf"|\b(?:hmm+|um+|ah+|oh|well)\s*,?\s*no\s*{_PUNCTS}"
    # These two only where a clause starts (checked in _corrections): "No, sad", not
    # "no, never"; "Actually, fear", not "she is actually smiling".
    rf"|\b(?P<no>no)\s*{_PUNCTS}"
    rf"|\b(?P<actually>actually)\b\s*[,:]?(?:\s*no\b\s*{_PUNCTS}*)?(?=[\s\S]*[^\W_])"
    r"|\b(?:on|upon|after)\s+(?:a\s+)?(?:second|further|closer|more\s+careful)\s+"
    r"(?:thought|look|inspection|examination|review|reflection|consideration)s?\b"
    r"|\bon\s+reflection\b"
    r"|\b(?:looking|having\s+looked|after\s+looking)\s+(?:again|more\s+closely|closer"
    r"|more\s+carefully)\b"
    r"|\b(?:correction|edit|update|revised\s+(?:answer|label|prediction)"
    r"|corrected\s+(?:answer|label))\s*:"
    r"|\bscratch\s+that\b|\bi\s+take\s+(?:that|it)\s+back\b|\bi\s+(?:mean|meant)\b"
    r"|\bor\s+rather\b|\blet\s+me\s+correct\s+(?:that|myself)\b|\bcorrecting\s+myself\b"
    r"|\b(?:at\s+first(?:\s+(?:glance|sight))?|initially|first\s+(?:glance|impression|guess"
    r"|thought|instinct)|i\s+(?:first\s+|initially\s+)?thought)\b[^.!?\n]*?\b(?:but|however)\b"
    r"(?=[^.!?\n]*\b(?:actually|really|in\s+fact|closer|again|correct|right)\b)",
    re.IGNORECASE,
)
# Words that hedge a statement: a label named with them next to another is no answer.
_HEDGE_WORDS = re.compile(
    r"\b(?:maybe|perhaps|possibly|might|may|could|too|also|as\s+well|partly|mixed|hint)\b",
    re.IGNORECASE,
)
# Characters of a broken decode or of binary noise; a word glued to them is not a word.
_JUNK = "\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000-\uf8ff"
_JUNK_CHAR = re.compile(rf"[{_JUNK}]")
_JUNK_EDGES = re.compile(rf"^[\s{_JUNK}]+|[\s{_JUNK}]+\Z")
_GARBLED = re.compile(rf"\S*[{_JUNK}]\S*")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_+-]*\s*|\s*```\s*$")
_FINAL_LINE = re.compile(
    r"^[^\w\n]*(?:the\s+)?(?:final\s+)?(?:answer|label|emotion|prediction|verdict)"
    r"(?:\s+is)?\s*[:=\-\u2013\u2014]\s*(.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def _target_match(target: _Target, how: str) -> LabelMatch:
    if len(target.labels) == 1:
        return _m(target.labels[0], how, target.labels)
    if target.labels:
        return _m(None, "ambiguous: " + ", ".join(target.labels), target.labels)
    return _m(None, f"out-of-set: {target.concept}", target.names)


_WORD = re.compile(r"[^\W_]+")


def _too_long(text: str, longest: int) -> bool:
    """More words than the longest label or synonym (the cheap test before tokenising)."""
    return any(n > longest for n, _ in enumerate(_WORD.finditer(text), 1))


def _clean(text: str, idx: _LabelIndex, raw: str | None = None) -> LabelMatch | None:
    """The whole of ``text`` is one label, synonym or "unknown", up to markup.

    ``raw`` is the text before markup was removed; "exact" is judged on it.
    """
    if _too_long(text, idx.longest):
        return None
    words = [t for t in _tokens(text) if t not in _PUNCT]
    if not words or len(words) > idx.longest:
        return None
    target = idx.phrases.get(tuple(words))
    if target is None and len(words) == 1 and (fixed := idx.typos.correct(words[0])):
        return _target_match(idx.phrases[(fixed,)], "typo")
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


@dataclass
class _Said:
    """What a text says about emotions, in order of first mention."""

    pos: list[str] = field(default_factory=list)  # labels stated
    neg: list[str] = field(default_factory=list)  # emotions negated
    out: list[str] = field(default_factory=list)  # out-of-set emotions stated
    asked: list[str] = field(default_factory=list)  # labels only asked about: "Sad?"
    typo: set[str] = field(default_factory=set)  # labels stated only through a misspelling


def _ptokens(text: str, idx: _LabelIndex) -> tuple[list[str], set[int]]:
    """Tokens for parsing, misspelt label words corrected; and where they were."""
    toks = _tokens(_DASH.sub(" ; ", text))
    fixed: set[int] = set()
    for i, tok in enumerate(toks):
        if tok not in _PUNCT and (c := idx.typos.correct(tok)) is not None:
            toks[i] = c
            fixed.add(i)
    return toks, fixed


def _negated_after(toks: list[str], end: int) -> bool:
    return any(tuple(toks[end : end + len(p)]) == p for p in _NEG_AFTER)


def _mentions(text: str, idx: _LabelIndex) -> _Said:
    """The emotions ``text`` names: stated, negated, outside the set, or only asked about."""
    toks, fixed = _ptokens(text, idx)
    said = _Said()
    exact: set[str] = set()
    for hit in idx.matcher.find(toks, window=_PARSE_WINDOW):
        names = hit.target.names
        if hit.negated or _negated_after(toks, hit.end):
            said.neg.extend(names)
        elif not hit.target.labels:
            said.out.extend(names)
        elif hit.end < len(toks) and toks[hit.end] == "?":
            said.asked.extend(names)
        else:
            said.pos.extend(names)
            if not fixed.intersection(range(hit.start, hit.end)):
                exact.update(names)
    said.pos, said.neg, said.out = _unique(said.pos), _unique(said.neg), _unique(said.out)
    said.asked = [a for a in _unique(said.asked) if a not in said.pos]
    said.typo = set(said.pos) - exact
    return said


def _scan(text: str, idx: _LabelIndex) -> LabelMatch:
    """Every emotion word in ``text``, with negation: one label or a reason."""
    said = _mentions(text, idx)
    pos, neg, out, asked = said.pos, said.neg, said.out, said.asked
    if not (pos or neg or out or asked):
        norm = _normalize(text)
        if _UNKNOWN.search(norm) or _HEDGE.search(norm):
            return _m(None, "unknown")
        return _m(None, "no-label")
    named = pos + asked + out
    if (pos or asked) and len(named) > 1:
        return _m(None, "ambiguous: " + ", ".join(named), named)
    both = [p for p in pos if p in neg]
    if both:
        return _m(None, f"ambiguous: {both[0]} is both stated and negated", both)
    if pos:
        norm = _normalize(text)
        if _UNKNOWN.search(norm):
            return _m(None, "unknown")
        return _m(pos[0], "typo" if pos[0] in said.typo else "sentence", pos)
    if asked:
        return _m(None, f"hedge: {asked[0]} is only asked about", asked)
    if out:
        return _m(None, "out-of-set: " + ", ".join(out), out)
    return _m(None, "negated: " + ", ".join(neg), neg)


def _others(text: str, label: str, idx: _LabelIndex) -> bool:
    """Whether ``text`` states or asks about a label other than ``label``, or negates it."""
    said = _mentions(text, idx)
    return any(p != label for p in said.pos + said.asked) or label in said.neg


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
    if plain[start : start + 1] == "?":  # "Happy? Hard to say." asks, it does not answer
        return None
    if _others(plain[start:], m.label, idx):
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
        except (ValueError, RecursionError):
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


def _json_scores(obj: Any, idx: _LabelIndex, depth: int = 0) -> LabelMatch | None:
    """Per-label scores (``{"happy": 0.1, "sad": 0.7}``, also nested): the top label."""
    if depth > 2 or not isinstance(obj, dict):
        return None
    scores: dict[str, float] = {}
    for key, value in obj.items():
        target = idx.phrases.get(_phrase_tokens(str(key)))
        if target is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        for name in target.names:
            scores[name] = max(scores.get(name, float("-inf")), float(value))
    if len(scores) >= 2:
        best = top_label(scores)
        if best is None:
            tied = tied_top(scores)
            return _m(None, "ambiguous: the scores of " + ", ".join(tied) + " tie", tied)
        if best not in idx.labels:
            return _m(None, f"out-of-set: {best}", [best])
        return _m(best, "json-scores", [best])
    for value in obj.values():
        m = _json_scores(value, idx, depth + 1)
        if m is not None:
            return m
    return None


def _from_json_list(items: list[Any], idx: _LabelIndex) -> LabelMatch | None:
    """``[{"label": "Sad", "score": 0.8}, ...]``: the top-scoring item, or one label."""
    scores: dict[str, float] = {}
    named: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        m = _from_json_object(item, idx)
        if m is None or m.label is None:
            continue
        named.append(m.label)
        score = next(
            (v for k, v in item.items()
             if str(k).casefold() in ("score", "probability", "confidence", "prob", "p")
             and isinstance(v, (int, float)) and not isinstance(v, bool)),
            None,
        )  # fmt: skip
        if score is not None:
            scores[m.label] = max(scores.get(m.label, float("-inf")), float(score))
    labels = _unique(named)
    if len(labels) == 1:
        return _m(labels[0], "json", labels)
    if len(labels) > 1 and len(scores) == len(labels):
        best = top_label(scores)
        if best is not None:
            return _m(best, "json-scores", [best])
    if labels:
        return _m(None, "ambiguous: " + ", ".join(labels), labels)
    return None


def _from_json_object(obj: Any, idx: _LabelIndex) -> LabelMatch | None:
    values = list(_json_values(obj))
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
    return _json_scores(obj, idx)


def _whole_json(text: str) -> Any:
    """The answer parsed as one JSON value (code fence allowed), or None."""
    body = _FENCE.sub("", text.strip())
    if not body or body[0] not in "[{":
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # a repetition loop such as "[[[[...": not JSON
        return None


def _from_json(text: str, idx: _LabelIndex, *, whole_only: bool = False) -> LabelMatch | None:
    whole = _whole_json(text)
    if isinstance(whole, list):
        return _from_json_list(whole, idx)
    if isinstance(whole, dict):
        return _from_json_object(whole, idx)
    if whole_only:
        return None
    found = [m for obj in _json_objects(text) if (m := _from_json_object(obj, idx)) is not None]
    labels = _unique([m.label for m in found if m.label is not None])
    if len(labels) > 1:  # two objects, two answers: neither is "the" answer
        return _m(None, "ambiguous: " + ", ".join(labels), labels)
    # the last object is the answer after any reasoning
    return next((m for m in reversed(found) if m.label is not None), found[-1] if found else None)


def _clause_after(plain: str, end: int) -> str:
    newline = plain.find("\n", end)
    line = plain[end : newline if newline != -1 else len(plain)]
    if _WORDY.search(line):
        return line
    if newline == -1:
        return ""
    # "Final answer:" alone on its line: the answer is on the next one.
    return next((x for x in plain[newline + 1 :].splitlines() if x.strip()), "")


def _hedged_after(rest: str, label: str, idx: _LabelIndex) -> bool:
    """Whether ``rest``, after an answer of ``label``, hedges towards another label."""
    return bool(_HEDGE_WORDS.search(rest)) and _others(rest, label, idx)


def _from_markers(
    pattern: re.Pattern[str], plain: str, idx: _LabelIndex, how: str
) -> LabelMatch | None:
    negated: LabelMatch | None = None
    for marker in reversed(list(pattern.finditer(plain))):
        clause = _clause_after(plain, marker.end())
        m = _parse_value(clause, idx)
        if m is None:
            continue
        if rule_of(m.how) == "negated":
            # "Therefore, Neutral is wrong; the expression is Sad.": read on to the end.
            whole = _scan(plain[marker.end() :], idx)
            if whole.label is not None:
                return _with_how(whole, how)
            # "The answer is Happy. The answer is not Sad.": a negation alone defers to an
            # earlier marker that names a label.
            negated = negated or m
            continue
        if m.label is not None:
            after = plain[plain.find(clause, marker.end()) + len(clause) :]
            if _hedged_after(after, m.label, idx):
                return _m(None, f"ambiguous: {m.label}, then a hedge", [m.label])
        return _with_how(m, how)
    return negated


def _final_line(plain: str, idx: _LabelIndex) -> LabelMatch | None:
    """The last "Final answer: X" line, when X is a bare label and nothing follows it."""
    lines = list(_FINAL_LINE.finditer(plain))
    if not lines:
        return None
    last = lines[-1]
    m = _clean(last.group(1), idx)
    if m is None or m.label is None:
        return None
    rest = plain[last.end() :]
    if _CORRECTION.search(rest) or _others(rest, m.label, idx):
        return None
    return _with_how(m, "final-answer")


def _degarble(text: str) -> tuple[str, str]:
    """``text`` without junk at its ends, and with every word glued to junk characters
    (``per\ufffdAnger\ufffd``) replaced by a blank; and the words replaced."""
    if _JUNK_CHAR.search(text) is None:
        return text, ""
    text = _JUNK_EDGES.sub("", text)
    removed: list[str] = []

    def blank(m: re.Match[str]) -> str:
        removed.append(m.group())
        return " \u2592 "

    return _GARBLED.sub(blank, text), " ".join(removed)


def _decide(plain: str, idx: _LabelIndex) -> LabelMatch:
    """The rules after the whole-answer ones: markers, lines, leading label, sentences."""
    m = _from_markers(_FINAL, plain, idx, "final-answer") or _from_markers(
        _CONCLUSION, plain, idx, "conclusion"
    )
    if m is not None:
        return m
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if len(lines) > 1:
        first = _clean(lines[0], idx)
        if (
            first is not None
            and first.label is not None
            and not _others("\n".join(lines[1:]), first.label, idx)
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


def _corrected(plain: str, idx: _LabelIndex) -> LabelMatch | None:
    """The answer after the last statement that takes back what came before it."""
    last = None
    for found in _CORRECTION.finditer(plain):
        if found.group("no") or found.group("actually"):
            head = plain[: found.start()].rstrip(" \t")
            if head and head[-1] not in (_NO_AFTER if found.group("no") else _ACTUALLY_AFTER):
                continue
        last = found
    if last is None:
        return None
    before, rest = plain[: last.start()], plain[last.end() :]
    if not _WORDY.search(rest):
        said = _mentions(before, idx)
        taken = said.pos + said.asked
        return _m(None, "retracted: " + (", ".join(taken) or "the answer"), taken)
    m = _clean(rest, idx) or _decide(rest, idx)
    if m.label is None:
        return m
    if _HEDGE_WORDS.search(rest) and _others(before, m.label, idx):
        return _m(None, f"ambiguous: corrected to {m.label} with a hedge", [m.label])
    return _with_how(m, "correction")


def parse_label(text: str | None, labels: Sequence[str], *, truncated: bool = False) -> LabelMatch:
    """Read one label of ``labels`` from a model's answer, or say why there is none.

    Rules, in precedence order (the first that decides wins):

    1. ``empty``: no text.
    2. ``exact`` / ``normalized`` / ``synonym`` / ``typo``: the whole answer is a label (up
       to case, quotes, brackets, markdown and punctuation), a synonym of one, or a
       misspelling close to one label only; a whole answer that is an emotion outside
       ``labels`` is ``out-of-set``, and "unknown", "N/A" ... are ``unknown``.
    3. ``prefix``: a one-line ``Label: Fear`` / ``Emotion - anger``.
    4. ``json`` / ``json-scores``: the answer's JSON (or the last JSON object in it) with a
       ``label`` / ``emotion`` / ``answer`` ... key, or per-label scores (the top one; a tie
       is no label).
    5. With ``truncated=True`` (the answer was cut off at the token limit) only a last
       ``Final answer: X`` line can still give a label; otherwise ``truncated``.
    6. ``correction``: after the last statement that takes back what came before ("No
       wait", "Actually,", "on second thought", "Neutral? No —"), the rest is read alone.
    7. ``final-answer``: the clause after the last "final answer" / "the answer is".
    8. ``conclusion``: the clause after the last "therefore" / "in conclusion" / "overall".
    9. ``first-line``: the first line is a bare label and no other line names another.
    10. ``prefix``: the last ``Emotion: X`` line with a bare label as X.
    11. ``leading``: a bare label, then an explanation naming no other label of the set
        (``Surprise - her mouth is open``).
    12. ``refusal``, then ``unknown`` ("cannot determine", "I don't know", ...).
    13. ``sentence`` (``typo`` when misspelt): every emotion word in the text, with
        negation: exactly one label stated and nothing else → that label; otherwise
        ``ambiguous``, ``hedge`` (only asked about: "Sad?"), ``negated``, ``out-of-set``,
        ``garbled`` or ``no-label``.

    Labels match case-insensitively and come back in the spelling of ``labels``. Synonyms
    apply to labels that name a known emotion (``"Angry"`` stands for anger too); a gate
    label such as ``"Emotion"`` stands for every emotion without a label of its own; any
    other label matches only its own name.

    >>> parse_label("**Happy**", CAER_LABELS).how
    'normalized'
    >>> parse_label("Sad or Neutral", CAER_LABELS).how
    'ambiguous: Sad, Neutral'
    >>> parse_label("Neutral? No — Sad", CAER_LABELS).label
    'Sad'
    """
    idx = _label_index(_check_labels(labels))
    if text is None or not text.strip():
        return _m(None, "empty")
    # A reasoning model's thinking block is not its answer, when an answer follows it.
    answer = _THINKING.sub("", text)
    if answer.strip():
        text = answer
    text, garbled = _degarble(text)
    m = _parse(text, idx, truncated=truncated)
    if m.label is None and garbled and rule_of(m.how) in ("no-label", "empty", "truncated"):
        said = _mentions(_JUNK_SPLIT.sub(" ", garbled), idx)
        if said.pos or said.out or said.neg:
            return _m(None, "garbled: an emotion word inside broken text", [])
    return m


_JUNK_SPLIT = re.compile(rf"[{_JUNK}]+")


def _parse(text: str, idx: _LabelIndex, *, truncated: bool) -> LabelMatch:
    if not text.strip():
        return _m(None, "empty")
    plain = _MARKUP.sub("", text.translate(_QUOTES))
    m = _clean(text, idx) or _clean(plain, idx, raw=text)
    if m is not None:
        if m.label is not None and plain.rstrip().endswith("?"):
            return _m(None, f"hedge: {m.label} is only asked about", [m.label])
        return m
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if len(lines) == 1:
        kv = _key_value(lines[0], idx)
        if kv is not None:
            m = _parse_value(kv.group(2), idx)
            if m is not None and not (truncated and m.how not in ("exact", "normalized")):
                return _with_how(m, "prefix")
    if "{" in text or "[" in text:
        m = _from_json(text, idx, whole_only=truncated)
        if m is not None:
            return m
    if truncated:
        # Cut off at the token limit: a word found inside a long answer is no answer.
        return _final_line(plain, idx) or _m(None, "truncated")
    m = _corrected(plain, idx)
    if m is not None:
        return m
    return _decide(plain, idx)
