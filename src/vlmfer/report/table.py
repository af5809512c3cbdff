"""One table for many runs: a row per run with 95 % intervals, and paired tests.

Each row's numbers are the run's own ``metrics.json`` (recomputed when stale), so a
table never disagrees with a run's report. Runs are tested pairwise on the samples
they share (same sample id, same gold label, same label set): McNemar's exact test
on correctness and paired bootstrap intervals of the WAR and UAR differences, with
the p-values adjusted across every tested pair by Holm–Bonferroni. Runs on different
samples sit in the same table but are never tested against each other.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import ConfigError
from vlmfer.metrics.summary import answer_of
from vlmfer.types import NON_ANSWERS, Prediction

LEVEL = 0.95
#: The table's figures: (metrics.json name, column heading, shown as a percentage).
FIGURES: tuple[tuple[str, str, bool], ...] = (
    ("accuracy", "WAR", True),
    ("uar", "UAR", True),
    ("macro_f1", "macro-F1", True),
    ("cohen_kappa", "κ", False),
    ("neutral_rate", "pred. Neutral", True),
    ("non_answer_rate", "non-answers", True),
)
FORMATS: tuple[str, ...] = ("markdown", "latex", "csv", "json")
SIMULATED_NOTE = "simulated answers (the loopback emulator or a mock predictor), not a real model"


def wilson_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion k/n (None when n is 0)."""
    if n <= 0:
        return None
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): json.dumps(obj, sort_keys=True) if isinstance(obj, list)
            else obj}


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key by its last part, or a longer tail where the last part repeats."""
    out: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if sum(1 for k in keys if k == tail or k.endswith("." + tail)) == 1:
                out[key] = tail
                break
        else:
            out[key] = key
    return out


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "none" if v is None else str(v)


def run_labels(manifests: Sequence[Mapping[str, Any]], paths: Sequence[Path]) -> list[str]:
    """Labels that tell the runs apart: what varies among model, strategy and dataset,
    then, for runs still alike, the options in which their manifests' identity differs
    (``face_crop=true``), else the folder name."""
    fields = [(_model(m), _strategy(m), _dataset(m)) for m in manifests]
    varying = [i for i in range(3) if len({f[i] for f in fields}) > 1]
    base = [" · ".join(f[i] for i in varying) for f in fields]
    labels = list(base)
    groups: dict[str, list[int]] = {}
    for i, b in enumerate(base):
        groups.setdefault(b, []).append(i)
    for b, members in groups.items():
        if len(members) == 1:
            if not b:
                labels[members[0]] = fields[members[0]][0]
            continue
        flat = [_flatten(manifests[i].get("identity") or {}) for i in members]
        keys = sorted({k for f in flat for k in f})
        differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str)
                                              for f in flat}) > 1]
        # The strategy's copy of [media] repeats the run's: name each option once.
        differing = [k for k in differing
                     if not (k.startswith("strategy.options.media.")
                             and "media." + k.removeprefix("strategy.options.media.") in keys)]
        short = _short_keys(differing)
        for i, f in zip(members, flat, strict=True):
            parts = [f"{short[k]}={_value_text(f.get(k))}" for k in differing[:3]]
            suffix = ", ".join(parts) if parts else paths[i].name
            labels[i] = f"{b} · {suffix}" if b else suffix
    # Identical identities: the folder tells them apart.
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    return [f"{lab} ({paths[i].name})" if counts[lab] > 1 else lab
            for i, lab in enumerate(labels)]


def _model(m: Mapping[str, Any]) -> str:
    return str((m.get("model") or {}).get("name") or "?")


def _strategy(m: Mapping[str, Any]) -> str:
    return str((m.get("strategy") or {}).get("name") or "?")


def _dataset(m: Mapping[str, Any]) -> str:
    ds = m.get("dataset") or {}
    return str(ds.get("name") or "?") + (f"/{ds['split']}" if ds.get("split") else "")


def _snapshot(manifest: Mapping[str, Any], metrics: Mapping[str, Any]) -> str | None:
    snaps = metrics.get("model_snapshots")
    if isinstance(snaps, Mapping) and snaps:
        return ", ".join(str(k) for k in snaps)
    model = manifest.get("model") or {}
    for key in ("snapshot", "model_version"):
        if model.get(key):
            return str(model[key])
    return None


def is_simulated(manifest: Mapping[str, Any], metrics: Mapping[str, Any]) -> bool:
    """Whether a run's answers came from a simulator (the emulator or ``mock/``)."""
    if metrics.get("simulated") is True or manifest.get("simulated") is True:
        return True
    return _model(manifest).startswith("mock/")


def _labels_of(manifest: Mapping[str, Any]) -> list[str]:
    labels = manifest.get("labels") or (manifest.get("dataset") or {}).get("labels") or []
    return [str(x) for x in labels]


def _row(path: Path, label: str, manifest: Mapping[str, Any], metrics: Mapping[str, Any]
         ) -> dict[str, Any]:
    ci = metrics.get("ci") or {}
    n = int(metrics.get("n") or 0)
    outcomes = metrics.get("outcomes") or {}
    non = sum(int(outcomes.get(o, 0)) for o in NON_ANSWERS)
    figures: dict[str, Any] = {}
    for name, _, _ in FIGURES:
        if name == "non_answer_rate":
            interval = wilson_interval(non, n)
            figures[name] = {"value": non / n if n else None,
                             "ci": list(interval) if interval else None}
            continue
        value = metrics.get(name)
        band = ci.get(name)
        figures[name] = {"value": value, "ci": list(band) if band else None}
    ds = manifest.get("dataset") or {}
    return {
        "label": label,
        "path": str(path),
        "model": _model(manifest),
        "snapshot": _snapshot(manifest, metrics),
        "strategy": _strategy(manifest),
        "dataset": ds.get("name"),
        "split": ds.get("split"),
        "n": n,
        "non_answers": non,
        "figures": figures,
        "cost_usd": metrics.get("cost_usd"),
        "simulated": is_simulated(manifest, metrics),
        "imported": manifest.get("mode") == "import",
        "confusion_matrix": metrics.get("confusion_matrix"),
    }


def _pair(i: int, j: int, runs: Sequence[dict[str, Any]], preds: Sequence[list[Prediction]],
          labels: Sequence[list[str]], *, n_boot: int, seed: int) -> dict[str, Any]:
    from vlmfer.metrics.core import correctness
    from vlmfer.metrics.stats import mcnemar_exact, paired_bootstrap_diff

    out: dict[str, Any] = {"a": runs[i]["label"], "b": runs[j]["label"], "a_index": i,
                           "b_index": j, "tested": False}
    if set(labels[i]) != set(labels[j]):
        out.update(n_shared=0, reason="different label sets: not tested")
        return out
    by_id = {p.sample_id: p for p in preds[j] if p.gold is not None}
    pairs = [(p, by_id[p.sample_id]) for p in preds[i]
             if p.gold is not None and p.sample_id in by_id]
    disagree = [p.sample_id for p, q in pairs if p.gold != q.gold]
    if disagree:
        out.update(n_shared=len(pairs), reason=f"gold labels differ (e.g. sample "
                   f"{disagree[0]!r}): not the same data, not tested")
        return out
    if not pairs:
        out.update(n_shared=0, reason="share no samples: not tested")
        return out
    y_true = [str(p.gold) for p, _ in pairs]
    ans_a = [answer_of(p) for p, _ in pairs]
    ans_b = [answer_of(q) for _, q in pairs]
    groups = [p.group if p.group is not None else q.group for p, q in pairs]
    lab = labels[i]
    ca, cb = correctness(y_true, ans_a, labels=lab), correctness(y_true, ans_b, labels=lab)
    mc = mcnemar_exact(ca, cb, groups=groups)
    diff = {m: paired_bootstrap_diff(y_true, ans_a, ans_b, m, labels=lab, n_boot=n_boot,
                                     seed=seed, level=LEVEL, groups=groups)
            for m in ("accuracy", "uar")}
    out.update(tested=True, n_shared=len(pairs), mcnemar=mc, p_value=mc["p_value"], diff=diff)
    return out


def build_table(paths: Sequence[Path | str], *, n_boot: int = 2000, seed: int = 0,
                labels: Sequence[str] | None = None, simulated: bool = False
                ) -> dict[str, Any]:
    """The table of ``paths`` (run folders, imported ones too) as plain JSON.

    ``runs``: one row per run (``label``, ``model``, ``snapshot``, ``strategy``,
    ``dataset``, ``split``, ``n``, ``non_answers``, ``figures`` with each figure's
    ``value`` and 95 % ``ci``, ``cost_usd``, ``simulated``). ``pairs``: one entry per
    pair of runs; a tested pair has ``n_shared``, ``mcnemar``, ``p_value``,
    ``p_holm`` and ``diff`` (A − B for ``accuracy`` and ``uar``), an untested one a
    ``reason``. ``notes`` says what a reader must know (simulated runs, no shared samples).
    ``labels`` names the runs (default: ``run_labels``); ``simulated`` marks every run as
    simulated (the caller knows it ran them against the emulator).
    """
    from vlmfer.report.summary import load_metrics

    folders = [Path(p) for p in paths]
    if not folders:
        raise ConfigError("give at least one run folder")
    manifests, metrics, preds = [], [], []
    for path in folders:
        rundir = RunFolder(path)
        manifests.append(rundir.read_manifest())  # a clear error for a non-run folder
        metrics.append(load_metrics(rundir))
        preds.append(list(rundir.iter_predictions()))
    names = list(labels) if labels is not None else run_labels(manifests, folders)
    runs = [_row(p, lab, ma, me) for p, lab, ma, me in
            zip(folders, names, manifests, metrics, strict=True)]
    if simulated:
        for r in runs:
            r["simulated"] = True
    label_sets = [_labels_of(m) for m in manifests]
    pairs = [_pair(i, j, runs, preds, label_sets, n_boot=n_boot, seed=seed)
             for i in range(len(runs)) for j in range(i + 1, len(runs))]
    tested = [p for p in pairs if p["tested"]]
    for p, adj in zip(tested, holm([p["p_value"] for p in tested]), strict=True):
        p["p_holm"] = adj
    notes = []
    if any(r["simulated"] for r in runs):
        notes.append(f"† {SIMULATED_NOTE}.")
    by_reason: dict[str, list[str]] = {}
    for p in pairs:
        if not p["tested"]:
            by_reason.setdefault(p["reason"].removesuffix(": not tested"), []).append(
                f"{p['a']} / {p['b']}")
    for reason, which in by_reason.items():
        notes.append(f"Not tested against each other ({reason}): " + "; ".join(which) + ".")
    if len(runs) > 1 and not tested:
        notes.append("No two runs share samples with the same labels, so no pair is tested.")
    notes.append("Non-answers (invalid, refused, blocked, error) count as wrong in every "
                 "figure; intervals are 95 % bootstrap percentiles (non-answers: Wilson); "
                 f"p-values are McNemar's exact test, Holm-adjusted over {len(tested)} "
                 "tested pair(s).")
    result: dict[str, Any] = _jsonable({
        "runs": runs, "pairs": pairs, "notes": notes, "level": LEVEL, "n_boot": n_boot,
        "seed": seed, "adjustment": "holm",
    })
    return result


def _jsonable(obj: Any) -> Any:
    from vlmfer.metrics.summary import to_jsonable

    return to_jsonable(obj)


# ----- formats -------------------------------------------------------------------------


def _num(v: Any, pct: bool) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.1f}" if pct else f"{v:.2f}"


def figure_text(fig: Mapping[str, Any], pct: bool, *, dash: str = "—") -> str:
    v = fig.get("value")
    if v is None:
        return dash
    band = fig.get("ci")
    text = _num(v, pct)
    if band and band[0] is not None and band[1] is not None:
        text += f" [{_num(band[0], pct)}, {_num(band[1], pct)}]"
    return text


def _cost(v: Any) -> str:
    return "unknown" if v is None else f"${v:.4f}"


def _p(v: Any) -> str:
    if v is None:
        return "—"
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


def _pp(d: Mapping[str, Any]) -> str:
    lo, hi = d.get("lo"), d.get("hi")
    band = "" if lo is None or hi is None else f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    return f"{100 * d['diff']:+.1f}{band}" if d.get("diff") is not None else "—"


def _row_cells(r: Mapping[str, Any], mark: str) -> list[str]:
    ds = str(r["dataset"]) + (f"/{r['split']}" if r.get("split") else "")
    cells = [r["label"] + (mark if r["simulated"] else ""), r["model"], r["snapshot"] or "—",
             r["strategy"], ds, str(r["n"])]
    for name, _, pct in FIGURES:
        text = figure_text(r["figures"][name], pct)
        if name == "non_answer_rate":
            text = f"{r['non_answers']} ({text})"
        cells.append(text)
    cells.append(_cost(r.get("cost_usd")))
    return cells


HEADINGS = ["run", "model", "snapshot", "strategy", "dataset", "n", "WAR %", "UAR %",
            "macro-F1 %", "κ", "pred. Neutral %", "non-answers (%)", "cost"]
PAIR_HEADINGS = ["A", "B", "shared n", "ΔWAR pp [95 % CI]", "ΔUAR pp [95 % CI]",
                 "McNemar p", "Holm p"]


def _pair_cells(p: Mapping[str, Any]) -> list[str]:
    return [p["a"], p["b"], str(p["n_shared"]), _pp(p["diff"]["accuracy"]),
            _pp(p["diff"]["uar"]), _p(p["p_value"]), _p(p.get("p_holm"))]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Mapping[str, Any]) -> str:
    """The table as GitHub-flavoured Markdown: runs, then tested pairs, then notes."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_md_escape(c) for c in cells) + " |"

    out = [line(HEADINGS), "|" + "---|" * len(HEADINGS)]
    out += [line(_row_cells(r, " †")) for r in table["runs"]]
    tested = [p for p in table["pairs"] if p["tested"]]
    if tested:
        out += ["", "Paired tests on shared samples (A − B; McNemar's exact test, "
                "Holm–Bonferroni adjusted):", "", line(PAIR_HEADINGS),
                "|" + "---|" * len(PAIR_HEADINGS)]
        out += [line(_pair_cells(p)) for p in tested]
    out += [""] + [f"- {n}" for n in table["notes"]]
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "κ": r"$\kappa$", "Δ": r"$\Delta$",
                  "†": r"$^\dagger$", "—": "--", "−": "--", "·": r"$\cdot$", "–": "--"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Mapping[str, Any]) -> str:
    """The table as a LaTeX ``table`` with booktabs rules (``\\usepackage{booktabs}``)."""
    cols = ["run", "n", "WAR %", "UAR %", "macro-F1 %", "κ", "pred. Neutral %",
            "non-answers", "cost"]
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for r in table["runs"]:
        cells = _row_cells(r, "†")
        keep = [cells[0], cells[5], *cells[6:]]
        lines.append(" & ".join(latex_escape(c) for c in keep) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    tested = [p for p in table["pairs"] if p["tested"]]
    if tested:
        lines += [r"\\[0.6em]", r"\begin{tabular}{llrrrrr}", r"\toprule",
                  " & ".join(latex_escape(c) for c in PAIR_HEADINGS) + r" \\", r"\midrule"]
        lines += [" & ".join(latex_escape(c) for c in _pair_cells(p)) + r" \\" for p in tested]
        lines += [r"\bottomrule", r"\end{tabular}"]
    caption = " ".join(table["notes"])
    lines += [r"\caption{" + latex_escape(caption) + "}", r"\label{tab:vlmfer}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Mapping[str, Any]) -> str:
    """One row per run with every figure and its interval as plain numbers."""
    buf = io.StringIO()
    head = ["label", "path", "model", "snapshot", "strategy", "dataset", "split", "n"]
    for name, _, _ in FIGURES:
        head += [name, f"{name}_lo", f"{name}_hi"]
    head += ["non_answers", "cost_usd", "simulated"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in table["runs"]:
        row = [r["label"], r["path"], r["model"], r["snapshot"] or "", r["strategy"],
               r["dataset"], r["split"] or "", r["n"]]
        for name, _, _ in FIGURES:
            fig = r["figures"][name]
            band = fig.get("ci") or [None, None]
            row += ["" if v is None else v for v in (fig.get("value"), *band)]
        row += [r["non_answers"], "" if r["cost_usd"] is None else r["cost_usd"],
                str(r["simulated"]).lower()]
        w.writerow(row)
    return buf.getvalue()


def to_json(table: Mapping[str, Any]) -> str:
    return json.dumps(table, indent=2) + "\n"


def render_table(table: Mapping[str, Any], fmt: str) -> str:
    """The table in ``fmt``: markdown, latex, csv or json."""
    writers = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}
    if fmt not in writers:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return writers[fmt](table)


# ----- HTML ----------------------------------------------------------------------------


def _cm_view(cm: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A confusion matrix as rows of (count, share of the gold row) for the page."""
    if not cm or not cm.get("matrix"):
        return None
    labels = [str(x) for x in cm.get("labels", [])]
    columns = [str(x) for x in cm.get("columns", labels)]
    rows = []
    for lab, counts in zip(labels, cm["matrix"], strict=True):
        total = sum(int(c) for c in counts)
        cells = [{"count": int(c), "share": (int(c) / total) if total else None,
                  "diagonal": col == lab, "non_answer": col in NON_ANSWERS}
                 for col, c in zip(columns, counts, strict=True)]
        rows.append({"label": lab, "n": total, "cells": cells})
    return {"columns": columns, "rows": rows}


def build_html(table: Mapping[str, Any], *, title: str = "vlmfer: runs compared",
               links: Mapping[str, str] | None = None) -> str:
    """One self-contained page: the table, then every run's confusion matrix side by
    side, coloured on one scale (the share of the gold row, 0–100 %) for every run."""
    from vlmfer._version import __version__
    from vlmfer.report.html import CSP
    from vlmfer.report.templating import render

    runs = []
    for r in table["runs"]:
        runs.append({"row": r, "cells": _row_cells(r, " †"),
                     "cm": _cm_view(r.get("confusion_matrix")),
                     "link": (links or {}).get(r["path"])})
    tested = [p for p in table["pairs"] if p["tested"]]
    return render("compare.html.j2", title=title, headings=HEADINGS, runs=runs,
                  pair_headings=PAIR_HEADINGS, pairs=[_pair_cells(p) for p in tested],
                  notes=table["notes"], csp=CSP, version=__version__)


def write_html(table: Mapping[str, Any], path: Path | str, **kwargs: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(table, **kwargs), encoding="utf-8")
    return path
