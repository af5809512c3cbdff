"""What the report says, as typed data: one builder for the HTML page and the Markdown summary.

:func:`build_context` reads manifest.json and metrics.json (and, for the page,
one streaming pass over predictions.jsonl) and returns a :class:`ReportContext`.
The templates only lay it out. Values stay raw (floats, ints, run text); the
templates format numbers with the filters of :mod:`vlmfer.report.formatting` and
the template engine escapes text for HTML or Markdown.

metrics.json is read defensively: a key it lacks is a section left out, never
an error, and a key it gains is shown under "Other metrics".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vlmfer.metrics.summary import answer_of
from vlmfer.report.formatting import interval, num
from vlmfer.types import NON_ANSWERS, OUTCOMES, Prediction

#: How many gold→answer pairs the confusion gallery shows, and examples per pair.
GALLERY_PAIRS = 4
GALLERY_EXAMPLES = 3
#: Model text longer than this is cut in the gallery (the full text is in predictions.jsonl).
MAX_TEXT = 600

OUTCOME_MEANING = {
    "ok": "answered with one label of the set",
    "invalid": "answered, but the text named no single label",
    "refused": "the model declined to answer",
    "blocked": "a safety filter stopped the answer",
    "error": "the call failed after all retries (see the reasons below)",
}

EXCLUDING_EXPLAINED = {
    "subset": "drop the samples whose gold label is Neutral and keep the model's 7-way "
              "answers, so answering Neutral counts as wrong.",
    "forced_six_way": "remove Neutral from the label set: each answer is the best "
                      "non-Neutral class by the recorded per-class scores (it cannot be "
                      "computed from labels alone).",
}

# metrics.json keys that a section of the report shows; any other key is an "other metric".
SHOWN_KEYS = frozenset({
    "n", "n_unlabelled", "accuracy", "war", "uar", "macro_f1", "ci", "bootstrap", "per_class",
    "confusion_matrix", "neutral_rate", "gold_neutral_rate", "outcomes", "excluding_neutral",
    "answered_only", "usage", "cost_usd", "cost_known_calls", "predicted_distribution",
    "gold_distribution", "calibration", "model_snapshots", "simulated", "mixed_snapshots",
    "sent_parameters",
})


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Score(_View):
    """One metric with its 95 % interval; ``percent`` says whether it reads as a percentage."""

    key: str
    name: str
    value: int | float | None
    lo: float | None = None
    hi: float | None = None
    what: str = ""
    percent: bool = True
    #: A value that is not a number (a plugin metric returning a table), as JSON text.
    text: str | None = None

    @property
    def has_ci(self) -> bool:
        return self.lo is not None and self.hi is not None


class NeutralRates(_View):
    predicted: float
    gold: float | None
    predicted_count: int
    gold_count: int
    #: The model says Neutral well above the gold rate.
    warn: bool
    ratio: float | None


class ConfusionRow(_View):
    label: str
    counts: list[int]
    total: int


class Confusion(_View):
    columns: list[str]
    rows: list[ConfusionRow]


class PerClassRow(_View):
    label: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: Any
    highlight: bool


class DistributionRow(_View):
    label: str
    non_answer: bool
    gold: int | None
    gold_share: float | None
    predicted: int
    predicted_share: float | None
    delta_pp: float | None
    highlight: bool


class OutcomeRow(_View):
    outcome: str
    count: int
    share: float | None
    meaning: str


class Reason(_View):
    outcome: str
    reason: str
    count: int


class Convention(_View):
    """One "excluding Neutral" convention, or why it is not available."""

    key: str
    name: str
    explain: str
    available: bool
    n: Any = None
    accuracy: float | None = None
    uar: float | None = None
    macro_f1: float | None = None
    reason: str = ""
    #: Which per-class scores the convention used, when metrics.json says.
    scores: str | None = None


class AnsweredOnly(_View):
    n: Any
    scores: list[Score]


class CalibrationRow(_View):
    name: str
    accuracy: float | None
    uar: float | None
    macro_f1: float | None
    neutral_rate: float | None


class Calibration(_View):
    method: str
    n_with_scores: Any
    rows: list[CalibrationRow]
    prior: list[tuple[str, float | None]]


class Said(_View):
    who: str
    text: str


class Example(_View):
    sample_id: str
    #: A data: URI of the thumbnail; None with ``placeholder`` for media that could not be read.
    thumb: str | None = None
    placeholder: bool = False
    said: list[Said]


class ConfusionPair(_View):
    gold: str
    answer: str
    non_answer: bool
    count: int
    examples: list[Example]


class Part(_View):
    """A piece of a provenance value; ``style`` picks its markup."""

    text: str = ""
    style: Literal["", "strong", "mono", "code", "br"] = ""


class ManifestRow(_View):
    name: str
    parts: list[Part]


class Template(_View):
    slot: str
    name: str
    version: str
    sha256: str


class Provenance(_View):
    rows: list[ManifestRow]
    templates: list[Template]
    strategy_options: list[ManifestRow]
    engine_options: list[ManifestRow]
    full: str


class ReportContext(_View):
    """Everything the report and the Markdown summary show about one run."""

    title: str
    n: int
    n_unlabelled: int
    started: str
    finished: str
    cost_usd: float | None
    cost_known_calls: Any
    simulated: bool
    snapshots: list[tuple[str, int]]
    #: One requested model answered as more than one snapshot.
    mixed_snapshots: bool
    #: Per model, what its requests carried: "openai/gpt-5.2: seed 0; temperature: provider
    #: default; gpt-5.2 does not accept it".
    sent: list[str]
    headline: list[Score]
    non_answers: int
    bootstrap: dict[str, Any] | None
    neutral: NeutralRates | None
    confusion: Confusion
    per_class: list[PerClassRow]
    distribution: list[DistributionRow]
    outcomes: list[OutcomeRow]
    outcome_counts: dict[str, int]
    usage: list[tuple[str, int]]
    excluding: list[Convention] | None
    answered_only: AnsweredOnly | None
    other_metrics: list[Score]
    calibration: Calibration | None
    provenance: Provenance
    # From predictions.jsonl: empty when built without predictions (the Markdown summary).
    reasons: list[Reason] = Field(default_factory=list)
    pairs: list[ConfusionPair] = Field(default_factory=list)
    thumbnails: Literal["shown", "off", "no-root"] = "off"

    @property
    def non_answer_share(self) -> float | None:
        return self.non_answers / self.n if self.n else None


def run_title(manifest: Mapping[str, Any]) -> str:
    """'model · strategy · dataset/split' for headings."""
    model = (manifest.get("model") or {}).get("name", "?")
    strategy = (manifest.get("strategy") or {}).get("name", "?")
    ds = manifest.get("dataset") or {}
    dataset = ds.get("name", "?") + (f"/{ds['split']}" if ds.get("split") else "")
    return f"{model} · {strategy} · {dataset}"


class Digest:
    """What the report needs from predictions.jsonl, gathered in one streaming pass.

    The counts of every non-answer reason and gold → answer pair, and the first few
    examples (by sample id) of each pair: memory stays flat however long the run.
    """

    def __init__(self, preds: Iterable[Prediction]) -> None:
        self.reasons: Counter[tuple[str, str]] = Counter()
        self.pair_counts: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], list[Prediction]] = {}
        for p in preds:
            if p.outcome != "ok":
                self.reasons[(p.outcome, (p.reason or "(no reason recorded)")[:200])] += 1
            if p.gold is None:
                continue
            ans = answer_of(p)
            if ans == p.gold:
                continue
            key = (p.gold, ans)
            self.pair_counts[key] += 1
            kept = self.examples.setdefault(key, [])
            if len(kept) < GALLERY_EXAMPLES or p.sample_id < kept[-1].sample_id:
                kept.append(p)
                kept.sort(key=lambda x: x.sample_id)
                del kept[GALLERY_EXAMPLES:]

    def top_pairs(self) -> list[tuple[tuple[str, str], int, list[Prediction]]]:
        ranked = sorted(self.pair_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(k, n, self.examples[k]) for k, n in ranked]


# --- metrics.json -> sections ------------------------------------------------------------


def _score(key: str, name: str, value: Any, ci: Any, what: str = "") -> Score:
    lo, hi = interval(ci)
    return Score(key=key, name=name, value=num(value), lo=lo, hi=hi, what=what)


def _war(block: Mapping[str, Any]) -> Any:
    # metrics.json has called WAR "accuracy"; a newer one may say "war" (or both).
    return block["accuracy"] if "accuracy" in block else block.get("war")


def _headline(m: Mapping[str, Any]) -> list[Score]:
    ci = m.get("ci") or {}
    war_key = "accuracy" if "accuracy" in m else "war"
    return [
        _score(war_key, "WAR", _war(m), ci.get(war_key), "accuracy over all samples"),
        _score("uar", "UAR", m.get("uar"), ci.get("uar"), "mean per-class recall"),
        _score("macro_f1", "Macro-F1", m.get("macro_f1"), ci.get("macro_f1"),
               "mean per-class F1"),
    ]


def _neutral(m: Mapping[str, Any]) -> NeutralRates | None:
    nr, gnr = num(m.get("neutral_rate")), num(m.get("gold_neutral_rate"))
    if nr is None:
        return None
    pred = m.get("predicted_distribution") or {}
    gold = m.get("gold_distribution") or {}
    return NeutralRates(
        predicted=nr, gold=gnr,
        predicted_count=int(pred.get("Neutral", 0)), gold_count=int(gold.get("Neutral", 0)),
        warn=gnr is not None and nr > 1.25 * gnr + 0.02,
        ratio=nr / gnr if gnr else None,
    )


def _confusion(m: Mapping[str, Any]) -> Confusion:
    cm = m.get("confusion_matrix") or {}
    labels = [str(x) for x in cm.get("labels", [])]
    columns = [str(x) for x in cm.get("columns", labels)]
    rows = [ConfusionRow(label=lab, counts=[int(v) for v in row], total=sum(int(v) for v in row))
            for lab, row in zip(labels, cm.get("matrix", []), strict=False)]
    return Confusion(columns=columns, rows=rows)


def _per_class(m: Mapping[str, Any]) -> list[PerClassRow]:
    return [
        PerClassRow(label=str(lab), precision=num(v.get("precision")),
                    recall=num(v.get("recall")), f1=num(v.get("f1")),
                    support=v.get("support", 0), highlight=lab == "Neutral")
        for lab, v in (m.get("per_class") or {}).items()
    ]


def _share(count: int, n: int) -> float | None:
    return count / n if n else None


def _distribution(m: Mapping[str, Any], n: int) -> list[DistributionRow]:
    gold = m.get("gold_distribution") or {}
    pred = m.get("predicted_distribution") or {}
    rows = []
    for lab in gold:
        g, p = int(gold.get(lab, 0)), int(pred.get(lab, 0))
        rows.append(DistributionRow(
            label=str(lab), non_answer=False, gold=g, gold_share=_share(g, n), predicted=p,
            predicted_share=_share(p, n), delta_pp=100 * (p - g) / n if n else None,
            highlight=lab == "Neutral"))
    for o in NON_ANSWERS:
        p = int(pred.get(o, 0))
        rows.append(DistributionRow(label=o, non_answer=True, gold=None, gold_share=None,
                                    predicted=p, predicted_share=_share(p, n), delta_pp=None,
                                    highlight=False))
    return rows


def _excluding(m: Mapping[str, Any]) -> list[Convention] | None:
    ex = m.get("excluding_neutral")
    if not ex:
        return None
    out = []
    for key in ("subset", "forced_six_way"):
        block = ex.get(key) or {}
        scores = block.get("scores")
        out.append(Convention(
            key=key,
            name=str(block.get("convention") or f"excluding Neutral: {key.replace('_', ' ')}"),
            explain=EXCLUDING_EXPLAINED[key],
            available=bool(block.get("available", True)) and "accuracy" in block,
            n=block.get("n"), accuracy=num(block.get("accuracy")), uar=num(block.get("uar")),
            macro_f1=num(block.get("macro_f1")), reason=str(block.get("reason") or ""),
            scores=None if scores is None else _text(scores),
        ))
    return out


def _answered_only(m: Mapping[str, Any]) -> AnsweredOnly | None:
    block = m.get("answered_only")
    if not isinstance(block, Mapping):
        return None
    ci = block.get("ci") or {}
    return AnsweredOnly(n=block.get("n"), scores=[
        _score("war", "WAR", _war(block), ci.get("war", ci.get("accuracy"))),
        _score("uar", "UAR", block.get("uar"), ci.get("uar")),
        _score("macro_f1", "Macro-F1", block.get("macro_f1"), ci.get("macro_f1")),
    ])


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _other_metrics(m: Mapping[str, Any]) -> list[Score]:
    """Every metric metrics.json holds that no section shows: plugin metrics, cohen_kappa…"""
    ci = m.get("ci") or {}
    out = []
    for key, value in m.items():
        if key in SHOWN_KEYS or value is None or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            lo, hi = interval(ci.get(key))
            # A count stays an int, so it prints as "7", not "7.000".
            v = value if isinstance(value, int) else num(value)
            out.append(Score(key=key, name=key, value=v, lo=lo, hi=hi, percent=False))
        else:
            out.append(Score(key=key, name=key, value=None, percent=False, text=_text(value)))
    return out


def _snapshots(m: Mapping[str, Any]) -> list[tuple[str, int]]:
    snaps = m.get("model_snapshots")
    if not isinstance(snaps, Mapping):
        return []
    return sorted(((str(k), int(v)) for k, v in snaps.items()), key=lambda kv: (-kv[1], kv[0]))


def _mixed(m: Mapping[str, Any], snapshots: list[tuple[str, int]]) -> bool:
    mixed = m.get("mixed_snapshots")
    # metrics.json from before mixed_snapshots: any second snapshot counts.
    return mixed if isinstance(mixed, bool) else len(snapshots) > 1


def _sent(m: Mapping[str, Any]) -> list[str]:
    per_model = m.get("sent_parameters")
    if not isinstance(per_model, Mapping):
        return []
    lines = []
    for model, entry in per_model.items():
        if not isinstance(entry, Mapping):
            continue
        sent = entry.get("sent") or {}
        dropped = entry.get("dropped") or {}
        parts = [f"{k} {_text(v)}" for k, v in sent.items() if k not in dropped]
        parts += [f"{k}: provider default; {why}" for k, why in dropped.items()]
        lines.append(f"{model}: " + ("; ".join(parts) or "provider defaults only"))
    return lines


def _calibration(m: Mapping[str, Any]) -> Calibration | None:
    cal = m.get("calibration")
    if not cal:
        return None
    rows = []
    for key, name in (("raw_argmax", "raw scores (argmax)"),
                      ("batch_calibrated", "batch-calibrated")):
        b = cal.get(key) or {}
        rows.append(CalibrationRow(name=name, accuracy=num(_war(b)), uar=num(b.get("uar")),
                                   macro_f1=num(b.get("macro_f1")),
                                   neutral_rate=num(b.get("neutral_rate"))))
    prior = [(str(k), num(v)) for k, v in (cal.get("prior") or {}).items()]
    return Calibration(method=str(cal.get("method", "")), n_with_scores=cal.get("n_with_scores"),
                       rows=rows, prior=prior)


def _outcomes(m: Mapping[str, Any]) -> tuple[list[OutcomeRow], dict[str, int]]:
    outcomes = m.get("outcomes") or {}
    counts = {o: int(outcomes.get(o, 0)) for o in OUTCOMES}
    total = sum(counts.values())
    rows = [OutcomeRow(outcome=o, count=c, share=_share(c, total),
                       meaning=OUTCOME_MEANING.get(o, "")) for o, c in counts.items()]
    return rows, counts


# --- predictions -> gallery ----------------------------------------------------------------


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT].rstrip() + " …"


def _example(p: Prediction, root: str | None, thumbnails: bool) -> Example:
    thumb, placeholder = None, False
    if thumbnails and root:
        from vlmfer.report.thumbs import data_uri, media_path, thumbnail_jpeg

        path = media_path(root, p.sample_id)
        jpeg = thumbnail_jpeg(path) if path is not None else None
        thumb = data_uri(jpeg, "image/jpeg") if jpeg is not None else None
        placeholder = jpeg is None
    said = []
    last = p.steps[-1] if p.steps else None
    if last is not None and last.response_text:
        said.append(Said(who=f"model ({last.name})", text=_clip(last.response_text)))
    description = p.extra.get("description")
    if isinstance(description, str) and description.strip() and (
        last is None or description.strip() != (last.response_text or "").strip()
    ):
        said.append(Said(who="description", text=_clip(description)))
    if p.outcome != "ok" and p.reason:
        said.append(Said(who=p.outcome, text=_clip(p.reason)))
    return Example(sample_id=p.sample_id, thumb=thumb, placeholder=placeholder, said=said)


def _pairs(digest: Digest, root: str | None, thumbnails: bool) -> list[ConfusionPair]:
    return [
        ConfusionPair(gold=gold, answer=ans, non_answer=ans in NON_ANSWERS, count=count,
                      examples=[_example(p, root, thumbnails) for p in chosen])
        for (gold, ans), count, chosen in digest.top_pairs()[:GALLERY_PAIRS]
    ]


# --- manifest.json -> provenance ---------------------------------------------------------


def _value(v: Any) -> list[Part]:
    return [Part(text=v)] if isinstance(v, str) else [
        Part(text=json.dumps(v, sort_keys=True, default=str), style="code")]


def _kv(d: Mapping[str, Any], skip: Iterable[str] = (), prefix: str = "") -> list[ManifestRow]:
    skip = set(skip)
    return [ManifestRow(name=f"{prefix}{k}", parts=_value(v)) for k, v in d.items()
            if k not in skip and v is not None]


def _plugin_line(p: Any) -> str:
    if isinstance(p, Mapping):
        return f"{p.get('plugin')}: {p.get('distribution') or '?'} {p.get('version') or ''}"
    return str(p)


def _provenance(manifest: Mapping[str, Any]) -> Provenance:
    model = manifest.get("model") or {}
    strategy = manifest.get("strategy") or {}
    dataset = manifest.get("dataset") or {}

    def row(name: str, *parts: Part) -> ManifestRow:
        return ManifestRow(name=name, parts=list(parts))

    rows = [
        row("model", Part(text=str(model.get("name", "?")), style="strong")),
        row("base_url", Part(text=str(model.get("base_url") or "(provider default)"))),
        *_kv(model, skip=("name", "base_url"), prefix="model "),
        *(row(f"role {r}", *_value(desc)) for r, desc in (manifest.get("roles") or {}).items()),
        row("strategy", Part(text=str(strategy.get("name", "?")), style="strong")),
        row("dataset", Part(text=str(dataset.get("name", "?")), style="strong"),
            Part(text=f" split {dataset.get('split') or '(none)'}, n = {dataset.get('n')}")),
        row("dataset fingerprint", Part(text=str(dataset.get("fingerprint")), style="mono")),
        *_kv(dataset, skip=("name", "split", "fingerprint", "n"), prefix="dataset "),
        row("label set", Part(text=", ".join(str(x) for x in manifest.get("labels") or []))),
        row("vlmfer", Part(text=str(manifest.get("vlmfer_version")))),
    ]
    plugins = manifest.get("plugins") or []
    if plugins:
        parts: list[Part] = []
        for i, p in enumerate(plugins):
            parts += [Part(style="br")] if i else []
            parts.append(Part(text=_plugin_line(p)))
        rows.append(row("plugins", *parts))
    for key in ("started", "finished", "resumed", "mode", "calls", "python", "platform"):
        if manifest.get(key) is not None:
            rows.append(row(key, *_value(manifest[key])))
    if manifest.get("command"):
        rows.append(row("command", Part(text=" ".join(map(str, manifest["command"])),
                                        style="code")))
    templates = [
        Template(slot=str(slot), name=str(t.get("name")), version=str(t.get("version")),
                 sha256=str(t.get("sha256")))
        for slot, t in (strategy.get("templates") or {}).items() if isinstance(t, Mapping)
    ]
    return Provenance(
        rows=rows, templates=templates,
        strategy_options=_kv(strategy.get("options") or {}),
        engine_options=_kv(manifest.get("engine") or {}),
        full=json.dumps(manifest, indent=2, sort_keys=False, default=str),
    )


def build_context(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any],
    predictions: Iterable[Prediction] | None = None,
    *,
    thumbnails: bool = True,
) -> ReportContext:
    """The report's content for a run's manifest and metrics.

    With ``predictions`` (streamed once), the context also holds the reasons for
    non-answers and the confusion gallery, with thumbnails from the dataset root
    unless ``thumbnails`` is False.
    """
    n = int(metrics.get("n") or 0)
    outcome_rows, outcome_counts = _outcomes(metrics)
    usage = [(str(k).replace("_", " "), int(v)) for k, v in (metrics.get("usage") or {}).items()
             if isinstance(v, int)]
    boot = metrics.get("bootstrap")
    ctx = ReportContext(
        title=run_title(manifest),
        n=n,
        n_unlabelled=int(metrics.get("n_unlabelled") or 0),
        started=str(manifest.get("started") or "?"),
        finished=str(manifest.get("finished") or "not finished"),
        cost_usd=num(metrics.get("cost_usd")),
        cost_known_calls=metrics.get("cost_known_calls"),
        simulated=metrics.get("simulated") is True,
        snapshots=_snapshots(metrics),
        mixed_snapshots=_mixed(metrics, _snapshots(metrics)),
        sent=_sent(metrics),
        headline=_headline(metrics),
        non_answers=sum(outcome_counts[o] for o in NON_ANSWERS),
        bootstrap=dict(boot) if isinstance(boot, Mapping) and boot else None,
        neutral=_neutral(metrics),
        confusion=_confusion(metrics),
        per_class=_per_class(metrics),
        distribution=_distribution(metrics, n),
        outcomes=outcome_rows,
        outcome_counts=outcome_counts,
        usage=usage,
        excluding=_excluding(metrics),
        answered_only=_answered_only(metrics),
        other_metrics=_other_metrics(metrics),
        calibration=_calibration(metrics),
        provenance=_provenance(manifest),
    )
    if predictions is None:
        return ctx
    digest = Digest(predictions)
    root = (manifest.get("dataset") or {}).get("root")
    root = str(root) if root else None
    return ctx.model_copy(update={
        "reasons": [Reason(outcome=o, reason=r, count=c)
                    for (o, r), c in digest.reasons.most_common(8)],
        "pairs": _pairs(digest, root, thumbnails),
        "thumbnails": "off" if not thumbnails else ("shown" if root else "no-root"),
    })
