"""``vlmfer import``: score answers that already exist (a paper's released CSV, another
tool's log) as a normal run folder, without asking any model again.

The answers file has one row per answered sample: an id, a gold label and the answer.
The answer is raw model text (``text``, read with ``parse_label`` as in a live run), a
label (``label``) or a comma-separated ranked list, best first (``ranked``).

Outcomes follow a live run: a label of the set is ``ok``; an answer that names no label
of the set is ``invalid`` (answered, and wrong), or ``refused`` for a refusal in text.
A sample with no answer (listed in ``--samples`` but absent from the answers file, or
with an empty answer cell) is ``error`` with the reason :data:`NO_ANSWER`: the model's
answer is not there, so it counts as wrong in the headline figures and is left out of
``answered_only``, the convention of most published zero-shot tables.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vlmfer._version import __version__
from vlmfer.engine.rundir import RunFolder, utcnow
from vlmfer.errors import ConfigError
from vlmfer.results import Run
from vlmfer.strategies.common import invalid, non_answer, parse
from vlmfer.types import Prediction, Response, file_sha256, stable_hash

AnswerFormat = Literal["text", "label", "ranked"]
ANSWER_FORMATS: tuple[str, ...] = ("text", "label", "ranked")
#: The reason recorded for a sample with no answer in the source file.
NO_ANSWER = "no answer in the source file"
#: The strategy name an imported run records.
STRATEGY = "import"


@dataclass(frozen=True)
class Row:
    """One row of an answers or samples file, with where it came from."""

    where: str
    values: Mapping[str, Any]


def _read_rows(path: Path) -> Iterator[Row]:
    """The rows of a CSV file or a JSONL file (chosen by the extension, then by content)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it as UTF-8 text ({e})") from e
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith("{"))
    if jsonl:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{lineno}: not a JSON object ({e.msg})") from e
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{lineno}: each line must be a JSON object")
            yield Row(f"{path}:{lineno}", obj)
        return
    reader = csv.DictReader(text.splitlines())
    # Line numbers as an editor shows them: the header is line 1.
    for i, rec in enumerate(reader, start=2):
        yield Row(f"{path}:{i}", rec)


def _column(row: Row, column: str, option: str) -> Any:
    if column not in row.values:
        present = ", ".join(repr(k) for k in row.values) or "none"
        raise ConfigError(
            f"{row.where}: no column {column!r} (columns: {present}); name the right one with "
            f"{option} COLUMN"
        )
    return row.values[column]


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_label_map(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"Happiness=Happy,angry=Anger"`` as a case-insensitive map (keys casefolded)."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {str(k).strip().casefold(): str(v).strip() for k, v in spec.items()}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        src, sep, dst = part.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigError(
                f"--label-map {part.strip()!r}: write FROM=TO pairs separated by commas, e.g. "
                "Happiness=Happy,Sadness=Sad,Angry=Anger"
            )
        out[src.strip().casefold()] = dst.strip()
    return out


class _Vocabulary:
    """The label set and the ways other spellings reach it."""

    def __init__(self, labels: Sequence[str], label_map: Mapping[str, str]) -> None:
        self.labels = tuple(labels)
        self._by_fold = {lab.casefold(): lab for lab in self.labels}
        self._map = dict(label_map)
        bad = sorted({v for v in self._map.values() if v.casefold() not in self._by_fold})
        if bad:
            raise ConfigError(
                f"--label-map maps onto {bad}, which are not in the label set "
                f"{list(self.labels)}; map onto one of those, or add them to --labels"
            )

    def canonical(self, value: str) -> str | None:
        """The label ``value`` stands for (through the map, any case), or None."""
        mapped = self._map.get(value.casefold(), value)
        return self._by_fold.get(mapped.casefold())


def _mapped(value: str, label_map: Mapping[str, str]) -> str:
    return label_map.get(value.casefold(), value)


def _infer_labels(golds: Sequence[str], label_map: Mapping[str, str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for g in sorted({_mapped(g, label_map) for g in golds if g}):
        seen.setdefault(g.casefold(), g)  # one spelling per label, the first in sorted order
    return tuple(seen.values())


def _ranked_items(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_cell(v) for v in value if _cell(v)]
    return [part.strip() for part in _cell(value).split(",") if part.strip()]


def _predict(sample_id: str, gold: str, answer: Any, fmt: str, vocab: _Vocabulary
             ) -> Prediction:
    if isinstance(answer, list) and fmt != "ranked":
        answer = ",".join(str(a) for a in answer)
    if (not isinstance(answer, list) and not _cell(answer)) or (
            isinstance(answer, list) and not _ranked_items(answer)):
        return Prediction(sample_id=sample_id, gold=gold, pred=None, outcome="error",
                          reason=f"{NO_ANSWER} (empty answer)")
    labels = vocab.labels
    if fmt == "ranked":
        ranked = _ranked_items(answer)
        shown = [vocab.canonical(r) or r for r in ranked]
        top = vocab.canonical(ranked[0])
        extra = {"ranked": shown}
        if top is None:
            return Prediction(sample_id=sample_id, gold=gold, pred=None, outcome="invalid",
                              reason=f"top-1 {ranked[0]!r} is not in the label set",
                              extra=extra)
        return Prediction(sample_id=sample_id, gold=gold, pred=top, outcome="ok", extra=extra)
    text = _cell(answer)
    if fmt == "label":
        label = vocab.canonical(text)
        if label is None:
            return Prediction(sample_id=sample_id, gold=gold, pred=None, outcome="invalid",
                              reason=f"answer {text!r} is not in the label set")
        return Prediction(sample_id=sample_id, gold=gold, pred=label, outcome="ok")
    # text: exactly as a live single-shot step reads an answer.
    label = vocab.canonical(text)
    if label is not None:
        return Prediction(sample_id=sample_id, gold=gold, pred=label, outcome="ok")
    stop = non_answer(Response(text=str(answer)), "answer")
    if stop is not None:
        return Prediction(sample_id=sample_id, gold=gold, pred=None, outcome=stop.outcome,
                          reason=stop.reason)
    match = parse(str(answer), labels)
    if match.label is None:
        verdict = invalid("answer", str(answer), match)
        return Prediction(sample_id=sample_id, gold=gold, pred=None, outcome=verdict.outcome,
                          reason=verdict.reason, extra={"how": match.how})
    return Prediction(sample_id=sample_id, gold=gold, pred=match.label, outcome="ok",
                      extra={"how": match.how})


def _stem(sample_id: str) -> str:
    name = sample_id.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0].casefold() if "." in name else name.casefold()


def _pair_ids(by_answer: dict[str, Row], by_sample: dict[str, Row], samples: Path | str | None
              ) -> tuple[dict[str, Row], str]:
    """Answers keyed by the samples file's ids: exactly, or else by file stem.

    Released files often name a sample by its file name where the sample list has a
    folder and another extension case (``1/ab12.JPG`` and ``ab12.jpg``): when every id
    then matches exactly one sample by its stem, they are paired that way, and the
    manifest says so (``id_match: "file-stem"``).
    """
    missing = [sid for sid in by_answer if sid not in by_sample]
    if not missing:
        return by_answer, "exact"
    stems: dict[str, list[str]] = {}
    for sid in by_sample:
        stems.setdefault(_stem(sid), []).append(sid)
    paired: dict[str, Row] = {}
    for sid, row in by_answer.items():
        if sid in by_sample:
            paired[sid] = row
            continue
        found = stems.get(_stem(sid), [])
        if len(found) != 1 or found[0] in paired or found[0] in by_answer:
            raise ConfigError(f"{row.where}: id {sid!r} is not in the samples file "
                              f"{samples}; pass the full sample list or drop the row")
        paired[found[0]] = row
    return paired, "file-stem"


def _gold(row: Row, value: Any, vocab: _Vocabulary) -> str:
    raw = _cell(value)
    if not raw:
        raise ConfigError(f"{row.where}: the gold label is empty; every sample needs one")
    gold = vocab.canonical(raw)
    if gold is None:
        raise ConfigError(
            f"{row.where}: gold label {raw!r} is not in the label set {list(vocab.labels)}; "
            f"add it to --labels, or map it with --label-map {raw}=LABEL"
        )
    return gold


def import_answers(
    answers: Path | str,
    out: Path | str,
    *,
    samples: Path | str | None = None,
    id_column: str = "id",
    gold_column: str = "gold",
    answer_column: str = "answer",
    answer_format: AnswerFormat = "text",
    labels: Sequence[str] | None = None,
    label_map: str | Mapping[str, str] | None = None,
    model: str | None = None,
    report: bool = True,
) -> Run:
    """Score an answers file (CSV or JSONL) into the run folder ``out``; return the ``Run``.

    ``labels`` fixes the label set and its order (default: the sorted set of gold values,
    after ``label_map``). ``label_map`` maps other spellings onto it, case-insensitively
    (``"Happiness=Happy,angry=Anger"``). With ``samples`` (same id and gold columns), a
    listed sample without an answer is an ``error`` outcome with reason ``NO_ANSWER``.
    Raises ``ConfigError`` naming the row for a missing column, a gold label outside the
    set, a duplicate id, or an answer for a sample that ``samples`` does not list.

    >>> run = vlmfer.importing.import_answers("label-gpt4v.csv", "runs/gpt4v-rafdb",
    ...     id_column="name", gold_column="gt", answer_column="gpt4v",
    ...     answer_format="ranked", samples="label.csv")  # doctest: +SKIP
    """
    if answer_format not in ANSWER_FORMATS:
        raise ConfigError(f"--answer-format {answer_format!r}: choose one of "
                          f"{', '.join(ANSWER_FORMATS)}")
    answers, out = Path(answers), Path(out)
    lmap = parse_label_map(label_map)
    answer_rows = list(_read_rows(answers))
    sample_rows = list(_read_rows(Path(samples))) if samples is not None else None
    if not answer_rows:
        raise ConfigError(f"{answers}: no rows; the file needs a header and one row per answer")

    def keyed(rows: list[Row], what: str) -> dict[str, Row]:
        by_id: dict[str, Row] = {}
        for row in rows:
            sid = _cell(_column(row, id_column, "--id-column"))
            if not sid:
                raise ConfigError(f"{row.where}: the id ({id_column!r}) is empty")
            if sid in by_id:
                raise ConfigError(
                    f"{row.where}: duplicate id {sid!r} (first at {by_id[sid].where}); each "
                    f"sample may appear once in the {what} file"
                )
            by_id[sid] = row
        return by_id

    by_answer = keyed(answer_rows, "answers")
    for row in answer_rows:  # every column is checked before anything is scored
        _column(row, gold_column, "--gold-column")
        _column(row, answer_column, "--answer-column")
    by_sample = keyed(sample_rows, "samples") if sample_rows is not None else None
    gold_rows = list(by_sample.values()) if by_sample is not None else answer_rows
    golds = [_cell(_column(r, gold_column, "--gold-column")) for r in gold_rows]
    label_set = tuple(labels) if labels else _infer_labels(golds, lmap)
    if len(label_set) < 2:
        raise ConfigError(f"the label set {list(label_set)} has fewer than two labels; pass "
                          "--labels A,B,... or check --gold-column")
    vocab = _Vocabulary(label_set, lmap)

    preds: list[Prediction] = []
    id_match = "exact"
    if by_sample is not None:
        by_answer, id_match = _pair_ids(by_answer, by_sample, samples)
        for sid, srow in by_sample.items():
            gold = _gold(srow, _column(srow, gold_column, "--gold-column"), vocab)
            arow = by_answer.get(sid)
            if arow is None:
                preds.append(Prediction(sample_id=sid, gold=gold, pred=None, outcome="error",
                                        reason=NO_ANSWER))
                continue
            agold = _gold(arow, _column(arow, gold_column, "--gold-column"), vocab)
            if agold != gold:
                raise ConfigError(f"{arow.where}: gold label {agold!r} for {sid!r}, but the "
                                  f"samples file says {gold!r}; the two files disagree")
            preds.append(_predict(sid, gold, _column(arow, answer_column, "--answer-column"),
                                  answer_format, vocab))
    else:
        for sid, row in by_answer.items():
            gold = _gold(row, _column(row, gold_column, "--gold-column"), vocab)
            preds.append(_predict(sid, gold, _column(row, answer_column, "--answer-column"),
                                  answer_format, vocab))

    return _write(out, preds, vocab.labels, answers=answers, samples=samples, model=model,
                  options={"answer_format": answer_format, "id_column": id_column,
                           "gold_column": gold_column, "answer_column": answer_column,
                           "label_map": dict(lmap), "id_match": id_match},
                  report=report)


def _source(path: Path) -> dict[str, Any]:
    return {"path": str(path.resolve()), "sha256": file_sha256(path)}


def _write(out: Path, preds: list[Prediction], labels: tuple[str, ...], *, answers: Path,
           samples: Path | str | None, model: str | None, options: dict[str, Any],
           report: bool) -> Run:
    rundir = RunFolder(out)
    if rundir.exists() and rundir.read_manifest().get("mode") != "import":
        raise ConfigError(f"{out} holds a run of `vlmfer run`; import into another --out")
    fingerprint = stable_hash(sorted((p.sample_id, p.gold) for p in preds))
    name = answers.stem
    dataset = {"name": name, "split": None, "n": len(preds), "labels": list(labels),
               "fingerprint": fingerprint}
    model_name = model or "imported"
    strategy = {"name": STRATEGY, "options": options, "labels": list(labels)}
    source: dict[str, Any] = {"answers": _source(answers)}
    if samples is not None:
        source["samples"] = _source(Path(samples))
    manifest = {
        "vlmfer_version": __version__,
        "mode": "import",
        "source": source,
        "dataset": dataset,
        "model": {"name": model_name, "base_url": None, "options": {}},
        "roles": {},
        "strategy": strategy,
        "labels": list(labels),
        "engine": {"seed": 0, "n_boot": 1000, "metrics": None},
        "identity": {"dataset": {k: dataset[k] for k in ("name", "n", "labels")},
                     "model": {"main": {"name": model_name}}, "strategy": strategy,
                     "mode": "import"},
        "started": utcnow(),
        "finished": utcnow(),
    }
    out.mkdir(parents=True, exist_ok=True)
    # Rewritten whole: importing the same file again gives the same folder.
    tmp = rundir.predictions_path.with_name(f".{rundir.predictions_path.name}.tmp")
    tmp.write_text("".join(p.model_dump_json() + "\n" for p in preds), encoding="utf-8")
    tmp.replace(rundir.predictions_path)
    rundir.write_manifest(manifest)
    run = Run(out)
    run.recompute()
    if report:
        run.report(thumbnails=False)
    return run
