"""Label sets, and turning a model's text into one label or an explicit non-answer.

``parse_label`` reads the answer to a "which of these labels?" question.
``map_description`` maps a free description of a face to a label: it is the
``lexicon`` mapper of the free-description strategy. Neither ever guesses:
when the text does not name exactly one label of the given set, the result
has ``label=None`` and ``how`` says why.

``how`` is a rule name (see ``RULES``), optionally followed by ``": "`` and a
detail, as in ``"out-of-set: Neutral"``; ``rule_of(match.how)`` gives the rule.
The package has one module per job: ``sets`` (label sets), ``ties`` (the tie rule),
``rules`` (the ``how`` vocabulary), ``text`` (tokens and negation), ``words`` (the word
tables, data in ``vlmfer/data/*.json``), ``parse`` (``parse_label``), ``lexicon``
(``map_description``) and ``docs`` (the tables rendered in docs/labels.md).

>>> parse_label("The person appears to be happy.", CAER_LABELS).label
'Happy'
>>> parse_label("Neutral", SIX_LABELS).how
'out-of-set: Neutral'
"""

from __future__ import annotations

from vlmfer.labels.docs import _render_docs as _render_docs
from vlmfer.labels.docs import lexicon_table_markdown, synonym_table_markdown
from vlmfer.labels.lexicon import LexiconScores, map_description, score_description
from vlmfer.labels.parse import parse_label
from vlmfer.labels.rules import RULES, rule_of
from vlmfer.labels.sets import CAER_LABELS, NEUTRAL, SIX_LABELS
from vlmfer.labels.ties import TIE_EPS, is_tie, tied_top, top_label

__all__ = [
    "CAER_LABELS",
    "NEUTRAL",
    "RULES",
    "SIX_LABELS",
    "TIE_EPS",
    "LexiconScores",
    "is_tie",
    "lexicon_table_markdown",
    "map_description",
    "parse_label",
    "rule_of",
    "score_description",
    "synonym_table_markdown",
    "tied_top",
    "top_label",
]
