"""The HTML report: one self-contained file, every figure embedded.

The page loads nothing from anywhere (figures are ``data:`` URIs, the CSS is
inline, there is no script), and a Content-Security-Policy says so to the
browser. Every string that comes from a run (model text, sample ids, labels,
manifest values) goes through ``html.escape``: model output is data, never
markup.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import CONFUSION_PNG, REPORT, RunDir
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

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

CSS = """
:root { --ink:#1f2328; --muted:#5f6b7a; --line:#d8dee4; --soft:#f5f7f9; --blue:#3b78c2;
        --red:#c0392b; --orange:#c8671a; }
* { box-sizing: border-box; }
body { margin:0; color:var(--ink); background:#fff;
       font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1120px; margin:0 auto; padding:28px 28px 60px; }
h1 { font-size:24px; margin:0 0 4px; }
h2 { font-size:19px; margin:36px 0 10px; padding-top:14px; border-top:1px solid var(--line); }
h3 { font-size:15px; margin:18px 0 6px; }
p { margin:6px 0 10px; }
.sub { color:var(--muted); margin:0 0 14px; }
nav { font-size:13px; color:var(--muted); margin:10px 0 0; }
nav a { color:var(--blue); text-decoration:none; margin-right:12px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:18px 0 8px; }
.card { flex:1 1 180px; border:1px solid var(--line); border-radius:8px; padding:12px 14px;
        background:var(--soft); }
.card .name { font-size:13px; color:var(--muted); font-weight:600; text-transform:uppercase;
              letter-spacing:.03em; }
.card .value { font-size:30px; font-weight:650; font-variant-numeric:tabular-nums; }
.card .ci { font-size:13px; color:var(--muted); font-variant-numeric:tabular-nums; }
.card.warn { border-color:#e8b4ae; background:#fdf3f2; }
.card.warn .value { color:var(--red); }
.note { border-left:4px solid var(--orange); background:#fff7ef; padding:8px 12px;
        margin:10px 0; }
.figs { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
figure { margin:8px 0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
.figs.two figure { flex:1 1 460px; max-width:540px; }
.figs.two figure img { width:100%; }
.narrow { max-width:420px; }
figcaption { font-size:13px; color:var(--muted); max-width:640px; }
table { border-collapse:collapse; margin:8px 0 12px; font-variant-numeric:tabular-nums; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:right;
         vertical-align:top; }
th { background:var(--soft); font-weight:600; }
th:first-child, td:first-child { text-align:left; }
td.text, th.text { text-align:left; }
td.sub { color:var(--muted); max-width:640px; }
tr.hl td { background:#fdf3f2; font-weight:600; }
td.na, th.na { color:var(--orange); font-style:italic; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
               font-size:12.5px; word-break:break-all; }
details { margin:8px 0; }
summary { cursor:pointer; color:var(--blue); }
pre { background:var(--soft); border:1px solid var(--line); border-radius:4px; padding:10px;
      overflow:auto; font-size:12px; max-height:480px; }
.pair { margin:14px 0 4px; }
.gallery { display:flex; flex-wrap:wrap; gap:12px; }
.ex { flex:0 1 340px; display:flex; gap:10px; border:1px solid var(--line); border-radius:8px;
      padding:10px; background:#fff; }
.ex img, .ex .ph { width:120px; height:120px; object-fit:contain; flex:none;
                   background:var(--soft); border-radius:4px; }
.ex .ph { display:flex; align-items:center; justify-content:center; text-align:center;
          color:var(--muted); font-size:12px; padding:6px; }
.ex .body { min-width:0; font-size:13px; }
.ex .id { color:var(--muted); font-size:12px; word-break:break-all; }
.said { white-space:pre-wrap; word-break:break-word; margin:4px 0; }
.said b { color:var(--muted); font-weight:600; }
footer { margin-top:40px; color:var(--muted); font-size:12px; }
@media print { h2 { break-before:auto; } .ex { break-inside:avoid; } }
"""


def e(value: Any) -> str:
    """HTML-escape anything (quotes included), so it can sit in text or attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def pct(v: Any, digits: int = 1) -> str:
    """0.4132 → '41.3 %'; None or NaN → '—'."""
    f = _num(v)
    return "—" if f is None else f"{100 * f:.{digits}f} %"


def ci_text(pair: Any) -> str:
    """[lo, hi] → '37.6–45.0'; '' when unknown."""
    if not isinstance(pair, (list, tuple)) or len(pair) < 2:
        return ""
    lo, hi = _num(pair[0]), _num(pair[1])
    if lo is None or hi is None:
        return ""
    return f"{100 * lo:.1f}–{100 * hi:.1f}"


def _cost(metrics: Mapping[str, Any]) -> str:
    cost = _num(metrics.get("cost_usd"))
    return "unknown" if cost is None else f"${cost:,.4f}"


def load_metrics(rundir: RunDir) -> dict[str, Any]:
    """metrics.json, recomputed from predictions.jsonl when missing or older than it."""
    from vlmfer.report.summary import write_metrics

    mpath, ppath = rundir.metrics_path, rundir.predictions_path
    stale = not mpath.exists() or (
        ppath.exists() and ppath.stat().st_mtime > mpath.stat().st_mtime
    )
    if stale:
        return write_metrics(rundir)
    data: dict[str, Any] = json.loads(mpath.read_text(encoding="utf-8"))
    return data


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _answer(p: Prediction) -> str:
    return p.pred if p.outcome == "ok" and p.pred is not None else p.outcome


def run_title(manifest: Mapping[str, Any]) -> str:
    """'model · strategy · dataset/split' for headings."""
    model = (manifest.get("model") or {}).get("name", "?")
    strategy = (manifest.get("strategy") or {}).get("name", "?")
    ds = manifest.get("dataset") or {}
    dataset = ds.get("name", "?") + (f"/{ds['split']}" if ds.get("split") else "")
    return f"{model} · {strategy} · {dataset}"


# --- sections ----------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, classes: Sequence[str] = (),
           row_classes: Sequence[str] = ()) -> str:
    """A table from already-escaped cells; an all-empty ``head`` gives no header row."""
    width = max([len(head), *(len(r) for r in rows)]) if rows else len(head)
    cls = list(classes) + [""] * (width - len(classes))
    out = ["<table>"]
    if any(head):
        out.append("<thead><tr>")
        out += [f'<th class="{c}">{h}</th>' if c else f"<th>{h}</th>"
                for h, c in zip(head, cls, strict=False)]
        out.append("</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(rows):
        rc = row_classes[i] if i < len(row_classes) else ""
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        out += [f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>"
                for v, c in zip(row, cls, strict=False)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(png: bytes, alt: str, width: int | None = None) -> str:
    from vlmfer.report.thumbs import data_uri

    w = f' style="width:{width}px"' if width else ""
    return f'<img src="{data_uri(png, "image/png")}" alt="{e(alt)}"{w}>'


def _headline(m: Mapping[str, Any]) -> str:
    ci = m.get("ci") or {}
    n = int(m.get("n") or 0)
    outcomes = m.get("outcomes") or {}
    non = sum(int(outcomes.get(o, 0)) for o in NON_ANSWERS)
    cards = []
    for key, name, what in (
        ("accuracy", "WAR", "accuracy over all samples"),
        ("uar", "UAR", "mean per-class recall"),
        ("macro_f1", "Macro-F1", "mean per-class F1"),
    ):
        band = ci_text(ci.get(key))
        cards.append(
            f'<div class="card"><div class="name">{name}</div>'
            f'<div class="value">{pct(m.get(key))}</div>'
            f'<div class="ci">{"95 % CI " + band if band else "no interval"}</div>'
            f'<div class="ci">{what}</div></div>'
        )
    nr, gnr = _num(m.get("neutral_rate")), _num(m.get("gold_neutral_rate"))
    if nr is not None:
        warn = " warn" if gnr is not None and nr > 1.25 * gnr + 0.02 else ""
        cards.append(
            f'<div class="card{warn}"><div class="name">Predicted Neutral</div>'
            f'<div class="value">{pct(nr)}</div>'
            f'<div class="ci">gold Neutral: {pct(gnr)}</div>'
            f'<div class="ci">share of samples answered Neutral</div></div>'
        )
    cards.append(
        f'<div class="card"><div class="name">Non-answers</div>'
        f'<div class="value">{non}</div>'
        f'<div class="ci">of {n + int(m.get("n_unlabelled") or 0)} samples'
        f' ({pct(non / n if n else None)})</div>'
        f'<div class="ci">invalid, refused, blocked, error</div></div>'
    )
    boot = m.get("bootstrap") or {}
    boot_text = ""
    if boot:
        boot_text = (
            f" Intervals are 95 % {e(boot.get('method', 'percentile'))} bootstrap intervals "
            f"({e(boot.get('n_boot'))} resamples of the {n} samples, seed {e(boot.get('seed'))})."
        )
    unlabelled = int(m.get("n_unlabelled") or 0)
    unl = (f" {unlabelled} prediction(s) without a gold label are counted in the outcomes and "
           "the cost but not scored." if unlabelled else "")
    return (
        '<div class="cards">' + "".join(cards) + "</div>"
        f'<p class="note"><strong>Non-answers count as wrong.</strong> A sample whose answer was '
        f"invalid, refused, blocked or an error is scored as a miss in WAR, UAR and macro-F1 "
        f"(never as Neutral, never as a guess): here {non} of {n} scored samples"
        f" ({pct(non / n if n else None)}).</p>"
        f"<p>WAR (weighted average recall) is the share of all samples answered correctly; "
        f"UAR (unweighted average recall) averages the recall of each class, so every class "
        f"counts equally whatever its size.{boot_text}{unl}</p>"
    )


def _cm_table(cm: Mapping[str, Any]) -> str:
    labels = [str(x) for x in cm.get("labels", [])]
    columns = [str(x) for x in cm.get("columns", labels)]
    matrix = cm.get("matrix", [])
    cls = ["text"] + ["na" if c in NON_ANSWERS else "" for c in columns] + [""]
    rows = []
    for lab, row in zip(labels, matrix, strict=False):
        rows.append([e(lab), *(e(v) for v in row), e(sum(int(v) for v in row))])
    return _table(["gold \\ answer", *(e(c) for c in columns), "total"], rows, classes=cls)


def _confusion(m: Mapping[str, Any], counts_png: bytes, norm_png: bytes) -> str:
    cm = m.get("confusion_matrix") or {}
    return (
        '<h2 id="confusion">Confusion matrices</h2>'
        "<p>Rows are the gold labels; columns are the model's answers. The columns right of the "
        "dark bar, in orange, are non-answers (<em>invalid</em>, <em>refused</em>, "
        "<em>blocked</em>, <em>error</em>): they are kept apart, never folded into a label. "
        "The outlined diagonal holds the correct answers.</p>"
        '<div class="figs two">'
        f"<figure>{_img(counts_png, 'confusion matrix, counts')}"
        "<figcaption>Counts (also saved as <code>confusion_matrix.png</code>).</figcaption>"
        "</figure>"
        f"<figure>{_img(norm_png, 'confusion matrix, row-normalised')}"
        "<figcaption>Row-normalised: each row divided by its gold count, so a row reads as "
        "where that class's samples went; the diagonal is the per-class recall.</figcaption>"
        "</figure></div>"
        f"<details><summary>Counts as a table</summary>{_cm_table(cm)}</details>"
    )


def _per_class(m: Mapping[str, Any], png: bytes | None) -> str:
    pc = m.get("per_class") or {}
    rows = [
        [e(lab), pct(v.get("precision")), pct(v.get("recall")), pct(v.get("f1")),
         e(v.get("support", 0))]
        for lab, v in pc.items()
    ]
    neutral_hl = ["hl" if lab == "Neutral" else "" for lab in pc]
    table = _table(["label", "precision", "recall", "F1", "support"], rows,
                   row_classes=neutral_hl)
    fig = f"<figure>{_img(png, 'per-class precision and recall')}</figure>" if png else ""
    return (
        '<h2 id="per-class">Per class</h2>'
        f'<div class="figs"><div class="narrow">{table}'
        '<p class="sub">Recall counts non-answers as misses; precision is over the samples '
        "answered with that label. A biased model shows a label with high recall and low "
        "precision (it says that label for everything). — : undefined (precision of a label "
        "never predicted, recall of a label with no gold sample).</p></div>"
        f"{fig}</div>"
    )


def _distribution(m: Mapping[str, Any], png: bytes) -> str:
    gold = m.get("gold_distribution") or {}
    pred = m.get("predicted_distribution") or {}
    n = int(m.get("n") or 0)
    labels = list(gold)
    rows, hl = [], []
    for lab in labels:
        g, p = int(gold.get(lab, 0)), int(pred.get(lab, 0))
        diff = (100 * (p - g) / n) if n else None
        rows.append([e(lab), e(g), pct(g / n if n else None), e(p), pct(p / n if n else None),
                     "—" if diff is None else f"{diff:+.1f}"])
        hl.append("hl" if lab == "Neutral" else "")
    for o in NON_ANSWERS:
        p = int(pred.get(o, 0))
        rows.append([e(o), "—", "—", e(p), pct(p / n if n else None), "—"])
        hl.append("")
    nr, gnr = _num(m.get("neutral_rate")), _num(m.get("gold_neutral_rate"))
    if nr is not None:
        ratio = (f" The model answers Neutral <strong>{nr / gnr:.1f}×</strong> as often as the "
                 "gold labels warrant." if gnr else "")
        neutral = (
            f"<p><strong>Neutral rate:</strong> predicted {pct(nr)} "
            f"({e(pred.get('Neutral', 0))} of {n}) vs gold {pct(gnr)} "
            f"({e(gold.get('Neutral', 0))} of {n}).{ratio}</p>"
        )
    else:
        neutral = "<p>The label set has no Neutral class, so there is no Neutral rate.</p>"
    return (
        '<h2 id="distribution">Predicted vs gold labels</h2>'
        "<p>Grey bars are the gold share of each label, coloured bars the share of answers. "
        "A label the model over-uses has a coloured bar far above its grey one; zero-shot "
        "VLMs typically over-predict <strong>Neutral</strong> (the red bar).</p>"
        f"{neutral}"
        f'<div class="figs"><figure>{_img(png, "predicted vs gold label distribution")}</figure>'
        + _table(["label", "gold", "gold %", "predicted", "predicted %", "Δ pp"], rows,
                 row_classes=hl)
        + "</div>"
    )


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
            ans = _answer(p)
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


def _outcomes(m: Mapping[str, Any], digest: Digest) -> str:
    outcomes = m.get("outcomes") or {}
    total = sum(int(outcomes.get(o, 0)) for o in OUTCOMES)
    rows = [
        [e(o), e(outcomes.get(o, 0)), pct(int(outcomes.get(o, 0)) / total if total else None),
         e(OUTCOME_MEANING.get(o, ""))]
        for o in OUTCOMES
    ]
    table = _table(["outcome", "samples", "share", "meaning"], rows,
                   classes=["text", "", "", "text"])
    reasons = digest.reasons
    reason_html = ""
    if reasons:
        rrows = [[e(o), e(r), e(c)] for (o, r), c in reasons.most_common(8)]
        reason_html = ("<h3>Most common reasons for non-answers</h3>"
                       + _table(["outcome", "reason", "samples"], rrows,
                                classes=["text", "text", ""]))
    usage = m.get("usage") or {}
    urows = [[e(k.replace("_", " ")), f"{int(v):,}"] for k, v in usage.items()
             if isinstance(v, int)]
    cost = _num(m.get("cost_usd"))
    known = m.get("cost_known_calls")
    if cost is None:
        cost_html = (
            "<p><strong>Cost: unknown.</strong> The price of at least one call made in this "
            f"run is not known (calls with a price: {e(known if known is not None else '?')}). "
            "Unknown is never counted as $0; give the model's price in a price file "
            "(<code>VLMFER_PRICES</code>) to have it priced.</p>"
        )
    else:
        cost_html = (f"<p><strong>Cost: {_cost(m)}</strong> (USD, calls made in this run; calls "
                     "served from the cache cost nothing).</p>")
    return (
        '<h2 id="outcomes">Outcomes, tokens and cost</h2>'
        f'<div class="figs"><div>{table}</div><div>'
        + _table(["tokens and calls", "total"], urows) + "</div></div>"
        + cost_html + reason_html
    )


def _excluding(m: Mapping[str, Any]) -> str:
    ex = m.get("excluding_neutral")
    head = '<h2 id="excluding-neutral">Excluding Neutral</h2>'
    if not ex:
        return head + "<p>The label set has no Neutral class; nothing to exclude.</p>"
    explain = {
        "subset": "drop the samples whose gold label is Neutral and keep the model's 7-way "
                  "answers, so answering Neutral counts as wrong.",
        "forced_six_way": "remove Neutral from the label set: each answer is the best "
                          "non-Neutral class by the recorded per-class scores (it cannot be "
                          "computed from labels alone).",
    }
    rows, notes = [], []
    for key in ("subset", "forced_six_way"):
        block = ex.get(key) or {}
        name = e(block.get("convention") or f"excluding Neutral: {key.replace('_', ' ')}")
        notes.append(f"<li><strong>{name}</strong>: {e(explain[key])}</li>")
        if block.get("available", True) and "accuracy" in block:
            rows.append(f"<tr><td><strong>{name}</strong></td><td>{e(block.get('n'))}</td>"
                        f"<td>{pct(block.get('accuracy'))}</td><td>{pct(block.get('uar'))}</td>"
                        f"<td>{pct(block.get('macro_f1'))}</td></tr>")
        else:
            rows.append(f"<tr><td><strong>{name}</strong></td><td class=\"text sub\" "
                        f'colspan="4">not available: {e(block.get("reason", ""))}</td></tr>')
    return (
        head
        + "<p>Papers report two different numbers under this name, up to 17 WAR points apart; "
          "say which one you quote. Both score the non-Neutral gold samples over the six "
          "non-Neutral labels.</p>"
        + f"<ul>{''.join(notes)}</ul>"
        + "<table><thead><tr><th>convention</th><th>n</th><th>WAR</th><th>UAR</th>"
          "<th>Macro-F1</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _calibration(m: Mapping[str, Any]) -> str:
    cal = m.get("calibration")
    if not cal:
        return ""
    rows = []
    for key, name in (("raw_argmax", "raw scores (argmax)"),
                      ("batch_calibrated", "batch-calibrated")):
        b = cal.get(key) or {}
        rows.append([e(name), pct(b.get("accuracy")), pct(b.get("uar")),
                     pct(b.get("macro_f1")), pct(b.get("neutral_rate"))])
    prior = cal.get("prior") or {}
    prow = [[e(k), "—" if _num(v) is None else f"{float(v):.3f}"] for k, v in prior.items()]
    return (
        '<h2 id="calibration">Calibration</h2>'
        f"<p>{e(cal.get('method', ''))}. Samples with per-class scores: "
        f"{e(cal.get('n_with_scores'))}. The headline numbers above use the strategy's own "
        "answers; these rows re-score the stored scores.</p>"
        + '<div class="figs"><div>'
        + _table(["answers from", "WAR", "UAR", "Macro-F1", "Neutral rate"], rows)
        + "</div><div>"
        + _table(["label", "estimated prior"], prow)
        + "</div></div>"
    )


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT].rstrip() + " …"


def _example(p: Prediction, root: str | None, thumbnails: bool) -> str:
    thumb = ""
    if thumbnails and root:
        from vlmfer.report.thumbs import data_uri, media_path, thumbnail_jpeg

        path = media_path(root, p.sample_id)
        jpeg = thumbnail_jpeg(path) if path is not None else None
        if jpeg is not None:
            thumb = f'<img src="{data_uri(jpeg, "image/jpeg")}" alt="{e(p.sample_id)}">'
        else:
            thumb = '<div class="ph">no preview<br>(media missing or unreadable)</div>'
    words = []
    last = p.steps[-1] if p.steps else None
    if last is not None and last.response_text:
        words.append(f"<div class=\"said\"><b>model ({e(last.name)}):</b> "
                     f"{e(_clip(last.response_text))}</div>")
    description = p.extra.get("description")
    if isinstance(description, str) and description.strip() and (
        last is None or description.strip() != (last.response_text or "").strip()
    ):
        words.append(f"<div class=\"said\"><b>description:</b> {e(_clip(description))}</div>")
    if p.outcome != "ok" and p.reason:
        words.append(f"<div class=\"said\"><b>{e(p.outcome)}:</b> {e(_clip(p.reason))}</div>")
    if not words:
        words.append('<div class="said sub">(no text recorded)</div>')
    return (f'<div class="ex">{thumb}<div class="body"><div class="id">{e(p.sample_id)}</div>'
            + "".join(words) + "</div></div>")


def _gallery(digest: Digest, manifest: Mapping[str, Any], thumbnails: bool) -> str:
    pairs = digest.top_pairs()[:GALLERY_PAIRS]
    head = '<h2 id="gallery">Most common confusions</h2>'
    if not pairs:
        return head + "<p>No confusions: every scored sample was answered correctly.</p>"
    root = (manifest.get("dataset") or {}).get("root")
    root = str(root) if root else None
    if not thumbnails:
        note = "<p class=\"sub\">Thumbnails were left out (<code>--no-thumbnails</code>).</p>"
    elif not root:
        note = ("<p class=\"sub\">No thumbnails: the manifest records no dataset root to find "
                "the media under.</p>")
    else:
        note = ""
    out = [head, "<p>The most frequent gold → answer mistakes (non-answers included), with a "
                 "few examples each and the model's own words (the last step's answer).</p>",
           note]
    for (gold, ans), count, chosen in pairs:
        na = ' class="na"' if ans in NON_ANSWERS else ""
        out.append(f'<h3 class="pair">{e(gold)} → <span{na}>{e(ans)}</span> '
                   f'<span class="sub">({count} sample{"s" if count != 1 else ""})'
                   "</span></h3>")
        out.append('<div class="gallery">'
                   + "".join(_example(p, root, thumbnails) for p in chosen) + "</div>")
    return "".join(out)


def _jsonish(v: Any) -> str:
    if isinstance(v, str):
        return e(v)
    return f"<code>{e(json.dumps(v, sort_keys=True, default=str))}</code>"


def _kv(d: Mapping[str, Any], skip: Iterable[str] = ()) -> list[list[str]]:
    skip = set(skip)
    return [[e(k), _jsonish(v)] for k, v in d.items() if k not in skip and v is not None]


def _manifest(manifest: Mapping[str, Any]) -> str:
    model = manifest.get("model") or {}
    strategy = manifest.get("strategy") or {}
    dataset = manifest.get("dataset") or {}
    rows: list[list[str]] = []
    rows.append(["model", f"<strong>{e(model.get('name', '?'))}</strong>"])
    rows.append(["base_url", e(model.get("base_url") or "(provider default)")])
    rows += [[f"model {k}", v] for k, v in _kv(model, skip=("name", "base_url"))]
    for role, desc in (manifest.get("roles") or {}).items():
        rows.append([f"role {e(role)}", _jsonish(desc)])
    rows.append(["strategy", f"<strong>{e(strategy.get('name', '?'))}</strong>"])
    rows.append(["dataset", f"<strong>{e(dataset.get('name', '?'))}</strong> split "
                            f"{e(dataset.get('split') or '(none)')}, n = {e(dataset.get('n'))}"])
    rows.append(["dataset fingerprint", f"<span class=\"mono\">{e(dataset.get('fingerprint'))}"
                                        "</span>"])
    rows += [[f"dataset {k}", v] for k, v in _kv(dataset, skip=("name", "split", "fingerprint",
                                                                 "n"))]
    rows.append(["label set", e(", ".join(str(x) for x in manifest.get("labels") or []))])
    rows.append(["vlmfer", e(manifest.get("vlmfer_version"))])
    plugins = manifest.get("plugins") or []
    if plugins:
        rows.append(["plugins", "<br>".join(
            f"{e(p.get('plugin'))}: {e(p.get('distribution') or '?')} {e(p.get('version') or '')}"
            if isinstance(p, Mapping) else e(p) for p in plugins)])
    for key in ("started", "finished", "resumed", "mode", "calls", "python", "platform"):
        if manifest.get(key) is not None:
            rows.append([e(key), _jsonish(manifest[key])])
    if manifest.get("command"):
        rows.append(["command", f"<code>{e(' '.join(map(str, manifest['command'])))}</code>"])
    main = _table([], rows, classes=["text", "text"])

    options = strategy.get("options") or {}
    opt_html = (_table(["strategy option", "value"], _kv(options), classes=["text", "text"])
                if options else "")
    templates = strategy.get("templates") or {}
    trows = []
    for slot, t in templates.items():
        if isinstance(t, Mapping):
            trows.append([e(slot), e(t.get("name")), e(t.get("version")),
                          f"<span class=\"mono\">{e(t.get('sha256'))}</span>"])
    tmpl_html = (_table(["template slot", "name", "version", "sha256"], trows,
                        classes=["text", "text", "text", "text"]) if trows else "")
    engine = manifest.get("engine") or {}
    eng_html = (_table(["engine option", "value"], _kv(engine), classes=["text", "text"])
                if engine else "")
    full = json.dumps(manifest, indent=2, sort_keys=False, default=str)
    return (
        '<h2 id="manifest">Provenance (manifest.json)</h2>'
        "<p>What ran, so the numbers can be reproduced and cited. The prompt templates are "
        "identified by their SHA-256.</p>"
        + main + tmpl_html + f'<div class="figs"><div>{opt_html}</div><div>{eng_html}</div></div>'
        + f"<details><summary>The whole manifest</summary><pre>{e(full)}</pre></details>"
    )


def build_html(
    manifest: Mapping[str, Any],
    metrics: Mapping[str, Any],
    predictions: Iterable[Prediction],
    *,
    figures: Mapping[str, bytes],
    thumbnails: bool = True,
    source: str = "",
) -> str:
    """The report page as a string. ``figures`` holds the PNGs by name."""
    from vlmfer import __version__

    digest = Digest(predictions)
    title = run_title(manifest)
    n = int(metrics.get("n") or 0)
    started = manifest.get("started") or "?"
    finished = manifest.get("finished") or "not finished"
    nav = " ".join(
        f'<a href="#{a}">{t}</a>' for a, t in (
            ("confusion", "Confusion"), ("per-class", "Per class"),
            ("distribution", "Predicted vs gold"), ("outcomes", "Outcomes & cost"),
            ("excluding-neutral", "Excluding Neutral"),
            *((("calibration", "Calibration"),) if metrics.get("calibration") else ()),
            ("gallery", "Confusions"), ("manifest", "Provenance"),
        )
    )
    body = [
        f"<h1>{e(title)}</h1>",
        f'<p class="sub">{n} scored samples · started {e(started)} · finished {e(finished)}'
        f" · cost {e(_cost(metrics))}</p>",
        f"<nav>{nav}</nav>",
        _headline(metrics),
        _confusion(metrics, figures["confusion_counts"], figures["confusion_normalized"]),
        _per_class(metrics, figures.get("per_class")),
        _distribution(metrics, figures["distribution"]),
        _outcomes(metrics, digest),
        _excluding(metrics),
        _calibration(metrics),
        _gallery(digest, manifest, thumbnails),
        _manifest(manifest),
        f"<footer>Written by vlmfer {e(__version__)} from {e(source or 'predictions.jsonl')}; "
        "every number here can be recomputed with <code>vlmfer report RUN_DIR</code>.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vlmfer report: {e(title)}</title><style>{CSS}</style></head>"
        "<body><main>" + "\n".join(body) + "</main></body></html>\n"
    )


def render_figures(metrics: Mapping[str, Any]) -> dict[str, bytes]:
    """Every figure of the report, as PNG bytes."""
    from vlmfer.report import plots

    cm = metrics.get("confusion_matrix") or {"labels": [], "columns": [], "matrix": []}
    labels = list(cm.get("labels", []))
    figs = {
        "confusion_counts": plots.confusion_png(cm, title="Counts"),
        "confusion_normalized": plots.confusion_png(cm, normalize=True,
                                                    title="Row-normalised (% of gold row)"),
        "distribution": plots.distribution_png(
            metrics.get("gold_distribution") or {}, metrics.get("predicted_distribution") or {},
            labels=labels,
        ),
    }
    if metrics.get("per_class"):
        figs["per_class"] = plots.per_class_png(metrics["per_class"])
    return figs


def write_report(rundir: RunDir, path: Path | None = None, *, thumbnails: bool = True) -> Path:
    """Write ``confusion_matrix.png`` into the run folder and the HTML report; return its path.

    The report goes to ``path`` (default ``<run>/report.html``). metrics.json is
    recomputed first when it is missing or older than predictions.jsonl. With
    ``thumbnails=False`` the confusion gallery shows text only.
    """
    manifest = rundir.read_manifest()
    metrics = load_metrics(rundir)
    predictions = rundir.iter_predictions()  # streamed once, by Digest
    figures = render_figures(metrics)
    _write_bytes_atomic(rundir.path / CONFUSION_PNG, figures["confusion_counts"])
    page = build_html(manifest, metrics, predictions, figures=figures, thumbnails=thumbnails,
                      source=rundir.predictions_path.name)
    out = Path(path) if path is not None else rundir.path / REPORT
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(out, page.encode("utf-8"))
    return out


def write_markdown(rundir: RunDir) -> str:
    """A short Markdown summary of a run, for a paper's notes or a README.

    WAR, UAR and macro-F1 with 95 % bootstrap intervals, the Neutral rates, the
    outcomes and the cost, as one table.
    """
    manifest = rundir.read_manifest()
    m = load_metrics(rundir)
    ci = m.get("ci") or {}

    def pt(v: Any) -> str:
        f = _num(v)
        return "—" if f is None else f"{100 * f:.1f}"

    def row(name: str, key: str) -> str:
        band = ci_text(ci.get(key))
        return f"| {name} | {pt(m.get(key))} | {band or '—'} |"

    outcomes = m.get("outcomes") or {}
    lines = [
        f"**{run_title(manifest)}** (n = {m.get('n', 0)})",
        "",
        "| Metric | % | 95 % CI |",
        "|---|---:|---:|",
        row("WAR", "accuracy"),
        row("UAR", "uar"),
        row("Macro-F1", "macro_f1"),
    ]
    if m.get("neutral_rate") is not None:
        lines.append(f"| Neutral rate: predicted | {pt(m.get('neutral_rate'))} | |")
        lines.append(f"| Neutral rate: gold | {pt(m.get('gold_neutral_rate'))} | |")
    ex = m.get("excluding_neutral") or {}
    for key in ("subset", "forced_six_way"):
        block = ex.get(key) or {}
        if block.get("available") and "accuracy" in block:
            name = block.get("convention", key)
            lines.append(f"| WAR, {name} | {pt(block.get('accuracy'))} | |")
            lines.append(f"| UAR, {name} | {pt(block.get('uar'))} | |")
    lines += [
        "",
        "Outcomes: " + ", ".join(f"{o} {outcomes.get(o, 0)}" for o in OUTCOMES)
        + f". Cost: {_cost(m)}.",
        "Non-answers (invalid, refused, blocked, error) count as wrong.",
    ]
    return "\n".join(lines) + "\n"
