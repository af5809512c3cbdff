"""``vlmfer compare A B [C ...]``: one table for many runs, and are two runs really different?

``compare`` builds the table of :mod:`vlmfer.report.table` (a row per run, pairwise
tests on shared samples, Holm-adjusted). ``compare_runs`` is the detailed test of two
runs on the same samples, whose JSON ``vlmfer compare A B --json`` has always printed.

Runs are paired sample by sample (same sample id, same gold label). Two tests:

- McNemar's exact test on correctness: only the samples where exactly one run
  is right carry evidence, and under "no difference" each such sample is a
  fair coin.
- Paired bootstrap intervals for the WAR and UAR differences: samples are
  resampled with both runs' answers kept together.

Non-answers count as wrong in both runs, as everywhere in vlmfer. Runs on
different datasets, splits, selections or label sets are refused: their
numbers are not paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import ConfigError
from vlmfer.metrics.summary import answer_of
from vlmfer.types import Prediction

LEVEL = 0.95


def _labels(manifest: Mapping[str, Any]) -> list[str]:
    labels = manifest.get("labels") or (manifest.get("dataset") or {}).get("labels") or []
    return [str(x) for x in labels]


def _check_same_dataset(a: Path, b: Path, ma: Mapping[str, Any], mb: Mapping[str, Any]) -> None:
    da, db = ma.get("dataset") or {}, mb.get("dataset") or {}
    for key in ("name", "split", "fingerprint"):
        if da.get(key) != db.get(key):
            raise ConfigError(
                f"cannot compare {a} and {b}: they ran on different datasets "
                f"(dataset.{key} is {da.get(key)!r} in A but {db.get(key)!r} in B). A paired "
                "test needs the same samples: run both on the same dataset, split and selection "
                "(--limit, --classes)"
            )
    la, lb = _labels(ma), _labels(mb)
    if set(la) != set(lb):
        only_a, only_b = sorted(set(la) - set(lb)), sorted(set(lb) - set(la))
        raise ConfigError(
            f"cannot compare {a} and {b}: their label sets differ (only in A: {only_a}; only in "
            f"B: {only_b}). WAR and UAR over different label sets are not comparable; compare "
            "runs of strategies with the same labels (e.g. two 7-class runs)"
        )


def _pairs(
    a: Path, b: Path, pa: list[Prediction], pb: list[Prediction]
) -> tuple[list[tuple[Prediction, Prediction]], int, int]:
    by_id = {p.sample_id: p for p in pb if p.gold is not None}
    ids_a = {p.sample_id for p in pa if p.gold is not None}
    pairs = []
    for p in pa:
        q = by_id.get(p.sample_id)
        if p.gold is None or q is None:
            continue
        if p.gold != q.gold:
            raise ConfigError(
                f"cannot compare {a} and {b}: sample {p.sample_id!r} has gold label "
                f"{p.gold!r} in A but {q.gold!r} in B, so the runs did not see the same data"
            )
        pairs.append((p, q))
    if not pairs:
        raise ConfigError(
            f"cannot compare {a} and {b}: they share no labelled sample id "
            f"(A has {len(ids_a)}, B has {len(by_id)}). Run both on the same samples"
        )
    return pairs, len(ids_a) - len(pairs), len(by_id) - len(pairs)


def _side(path: Path, manifest: Mapping[str, Any], n_predictions: int) -> dict[str, Any]:
    from vlmfer.report.html import run_title

    return {"path": str(path), "title": run_title(manifest), "n_predictions": n_predictions}


def compare_runs(a: Path | str, b: Path | str, *, n_boot: int = 2000, seed: int = 0
                 ) -> dict[str, Any]:
    """Pair two runs by sample id and test the difference (A − B).

    Returns plain JSON: ``a``/``b`` (path, title, ``accuracy`` and ``uar`` on
    the paired samples), ``dataset``, ``labels``, ``n_paired``, ``only_in_a``,
    ``only_in_b``, ``correctness`` (both right, only A right, only B right,
    both wrong), ``mcnemar`` (``n``, ``b01`` = A wrong and B right, ``b10`` = A
    right and B wrong, ``p_value``), ``diff`` with ``accuracy`` and ``uar``
    (each ``{"diff", "lo", "hi"}``), ``n_boot``, ``seed`` and ``level``.

    Raises ``ConfigError`` when the runs are on different datasets (name, split
    or fingerprint), have different label sets, disagree on a gold label, or
    share no sample.
    """
    from vlmfer.metrics.core import accuracy, correctness, point_value, uar
    from vlmfer.metrics.stats import mcnemar_exact, paired_bootstrap_diff

    a, b = Path(a), Path(b)
    ra, rb = RunFolder(a), RunFolder(b)
    ma, mb = ra.read_manifest(), rb.read_manifest()
    _check_same_dataset(a, b, ma, mb)
    labels = _labels(ma)
    pa, pb = list(ra.iter_predictions()), list(rb.iter_predictions())
    pairs, only_a, only_b = _pairs(a, b, pa, pb)

    y_true = [str(p.gold) for p, _ in pairs]
    ans_a = [answer_of(p) for p, _ in pairs]
    ans_b = [answer_of(q) for _, q in pairs]
    ca = correctness(y_true, ans_a, labels=labels)
    cb = correctness(y_true, ans_b, labels=labels)
    # Samples of one group (stills of one clip) are not independent: resample groups.
    groups = [p.group if p.group is not None else q.group for p, q in pairs]
    mc = mcnemar_exact(ca, cb, groups=groups)
    both = int((ca & cb).sum())
    neither = int((~ca & ~cb).sum())
    diff = {
        metric: paired_bootstrap_diff(y_true, ans_a, ans_b, metric, labels=labels,
                                      n_boot=n_boot, seed=seed, level=LEVEL, groups=groups)
        for metric in ("accuracy", "uar")
    }
    side_a, side_b = _side(a, ma, len(pa)), _side(b, mb, len(pb))
    for side, answers in ((side_a, ans_a), (side_b, ans_b)):
        side["accuracy"] = point_value(accuracy, y_true, answers, labels=labels)
        side["uar"] = point_value(uar, y_true, answers, labels=labels)
    ds = ma.get("dataset") or {}
    result: dict[str, Any] = _jsonable({
        "a": side_a,
        "b": side_b,
        "dataset": {k: ds.get(k) for k in ("name", "split", "fingerprint")},
        "labels": labels,
        "n_paired": len(pairs),
        "only_in_a": only_a,
        "only_in_b": only_b,
        "correctness": {"both_right": both, "only_a_right": mc["b10"],
                        "only_b_right": mc["b01"], "both_wrong": neither},
        "mcnemar": mc,
        "diff": diff,
        "n_boot": n_boot,
        "seed": seed,
        "level": LEVEL,
        "ci_resampling": "groups" if any(g is not None for g in groups) else "samples",
    })
    return result


def compare(paths: Sequence[Path | str], *, n_boot: int = 2000, seed: int = 0
            ) -> dict[str, Any]:
    """The comparison table of ``paths`` (see ``vlmfer.report.table.build_table``).

    For exactly two runs on the same dataset and labels, the keys of ``compare_runs``
    (``a``, ``b``, ``n_paired``, ``mcnemar``, ``diff``...) are there too, as
    ``vlmfer compare A B --json`` has always printed them.
    """
    from vlmfer.report.table import build_table

    table = build_table(paths, n_boot=n_boot, seed=seed)
    if len(paths) == 2:
        try:
            legacy = compare_runs(paths[0], paths[1], n_boot=n_boot, seed=seed)
        except ConfigError:
            return table  # not paired: the table says why
        return {**legacy, **table}
    return table


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def _pp(v: Any) -> str:
    return "—" if v is None else f"{100 * v:+.1f} pp"


def format_comparison(result: Mapping[str, Any]) -> str:
    """The result of ``compare_runs`` as a short plain-text table and verdict."""
    a, b = result["a"], result["b"]
    ds = result.get("dataset") or {}
    fp = str(ds.get("fingerprint") or "")[:12]
    level = round(100 * float(result.get("level", LEVEL)))
    where = f"{ds.get('name')}" + (f"/{ds['split']}" if ds.get("split") else "")
    lines = [
        f"Paired comparison on {where} (fingerprint {fp}…): {result['n_paired']} shared samples",
        f"  A: {a['path']}  ({a['title']})",
        f"  B: {b['path']}  ({b['title']})",
        "",
        f"  {'':<5}{'A':>9}{'B':>9}{'A − B':>11}   {level} % CI (paired bootstrap)",
    ]
    verdicts = []
    for key, name in (("accuracy", "WAR"), ("uar", "UAR")):
        d = result["diff"][key]
        lo, hi = d.get("lo"), d.get("hi")
        band = "—" if lo is None or hi is None else f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pp"
        lines.append(f"  {name:<5}{_pct(a.get(key)):>9}{_pct(b.get(key)):>9}"
                     f"{_pp(d.get('diff')):>11}   {band}")
        if lo is not None and hi is not None:
            if lo > 0 or hi < 0:
                better = "A" if lo > 0 else "B"
                verdicts.append(f"{name}: the interval excludes 0, {better} is higher")
            else:
                verdicts.append(f"{name}: the interval includes 0, no clear difference")
    c = result["correctness"]
    mc = result["mcnemar"]
    p = mc["p_value"]
    p_text = "< 0.0001" if p < 1e-4 else f"= {p:.4f}"
    lines += [
        "",
        f"  Correctness: both right {c['both_right']}, only A right {c['only_a_right']}, "
        f"only B right {c['only_b_right']}, both wrong {c['both_wrong']}",
        f"  McNemar's exact test on the {mc['b01'] + mc['b10']} discordant samples: p {p_text}"
        + (" (significant at the 5 % level)" if p < 0.05 else " (not significant at 5 %)"),
        "  " + "; ".join(verdicts) + "." if verdicts else "",
        f"  Non-answers count as wrong in both runs. Bootstrap: {result.get('n_boot')} "
        f"resamples, seed {result.get('seed')}.",
    ]
    if result.get("only_in_a") or result.get("only_in_b"):
        lines.append(
            f"  Left out (not in both runs): {result.get('only_in_a', 0)} sample(s) only in A, "
            f"{result.get('only_in_b', 0)} only in B."
        )
    return "\n".join(lines) + "\n"
