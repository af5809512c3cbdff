"""The ``vlmfer`` command line.

Exit codes: 0 success, 1 the run finished with errors, 2 usage or configuration error.
Heavy modules are imported inside each command so ``vlmfer --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from vlmfer import __version__
from vlmfer.errors import ConfigError

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_plugins(args: argparse.Namespace) -> int:
    from vlmfer.plugins import get_registry

    entries = get_registry().all_entries()
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return EXIT_OK
    width = max((len(e.name) for e in entries), default=4)
    for e in entries:
        origin = f"{e.distribution or '?'} {e.version or ''}".strip()
        print(f"{e.kind:<10} {e.name:<{width}}  {origin} ({e.plugin})")
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from vlmfer.plugins import predictor_factories
    from vlmfer.predictors.catalog import known_models
    from vlmfer.predictors.pricing import PRICES_AS_OF, PriceTable, price_table

    prices = price_table()
    models = known_models(predictor_factories())
    plugin_prices = PriceTable({m.name: m.prices for m in models if m.prices})
    rows = []
    for m in models:
        price = prices.lookup(m.provider, m.model) or plugin_prices.lookup(m.provider, m.model)
        rows.append({**m.model_dump(exclude={"prices"}), "name": m.name, "retired": m.retired_on(),
                     "price_per_1m": None if price is None else {
                         "input": price.input, "output": price.output, "date": price.date,
                         "source": price.source}})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max((len(r["name"]) for r in rows), default=5)
    print(f"{'model':<{width}}  {'status':<10}  {'retires':<10}  {'alias → snapshot':<24}  "
          "USD per 1M in/out")
    for r in rows:
        status = "retired" if r["retired"] else r["status"]
        p = r["price_per_1m"]
        cost = f"{p['input']:g} / {p['output']:g}" if p else "unknown"
        print(f"{r['name']:<{width}}  {status:<10}  {r['retires'] or '-':<10}  "
              f"{r['snapshot'] or '-':<24}  {cost}")
        if r["note"]:
            print(f"{'':<{width}}  {r['note']}")
    print(f"\nStatus and dates as of the table's sources (see docs/predictors.md); prices as "
          f"of {PRICES_AS_OF} (override with VLMFER_PRICES). Runs record the snapshot that "
          "actually answered.")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    import signal
    from pathlib import Path

    # A shell starts background jobs with SIGINT ignored, and Python then never installs
    # its handler: Ctrl-C (or kill -INT) would do nothing. A run stops cleanly on it however
    # it was launched.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    from vlmfer.engine.config import load_experiment
    from vlmfer.engine.experiment import dry_run
    from vlmfer.evaluation import run_experiment

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    overrides = {
        "dataset": {"name": args.dataset, "root": args.data_root, "split": args.split,
                    "limit": args.limit, "classes": classes},
        "model": {"name": args.model, "base_url": args.base_url},
        "strategy": {"name": args.strategy},
        "run": {"concurrency": args.concurrency, "rpm": args.rpm, "tpm": args.tpm,
                "out": args.out, "cache": False if args.no_cache else None,
                "quiet": True if args.quiet else None, "batch": True if args.batch else None,
                "metrics": args.metric or None},
    }
    exp = load_experiment(Path(args.config) if args.config else None, overrides=overrides,
                          sets=args.set)
    if args.dry_run:
        print(dry_run(exp))
        return EXIT_OK
    if exp.run.batch:
        from vlmfer.batch.cli import run_batch

        return run_batch(exp, command=sys.argv)
    try:
        run = run_experiment(exp, command=sys.argv)
    except KeyboardInterrupt:
        return _interrupted()
    return _print_run(run)


def _interrupted() -> int:
    """Ctrl-C during a run or study: what was answered is on disk, and the same command
    resumes from it."""
    print("vlmfer: interrupted; everything finished so far is saved. Resume with:\n  "
          + " ".join(sys.argv), file=sys.stderr)
    return EXIT_INTERRUPTED


def _print_run(run: Any) -> int:
    """The run's headline numbers (``--quiet`` silences only the progress bar)."""
    m = run.metrics
    outcomes = m.get("outcomes", {})
    ci = m.get("ci", {})

    def fmt(name: str) -> str:
        lo, hi = (ci.get(name) or [None, None])[:2]
        val = m.get(name)
        if val is None:
            return f"{name}=n/a"
        band = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
        return f"{name}={val:.3f}{band}"

    print(f"{run.path}: n={m.get('n')}  " + "  ".join(
        fmt(k) for k in ("accuracy", "uar", "macro_f1")))
    print("outcomes: " + ", ".join(f"{k}={v}" for k, v in outcomes.items()))
    if m.get("neutral_rate") is not None:
        print(f"neutral rate: predicted {m['neutral_rate']:.3f} vs gold "
              f"{m.get('gold_neutral_rate') or 0:.3f}")
    cost = m.get("cost_usd")
    answered = sum(v for k, v in outcomes.items() if k != "error")
    # Every sample errored: $0 would read as "free", when nothing was answered to price.
    print("cost: " + (f"${cost:.4f}" if cost is not None and answered else "unknown"))
    left_out = (run.manifest.get("dataset") or {}).get("excluded_gold") or {}
    if left_out:
        print("left out: " + ", ".join(f"{n} gold-{label} sample(s)"
                                       for label, n in left_out.items())
              + f" ({run.manifest.get('strategy', {}).get('name')} cannot answer them)")
    print(f"report: {run.path / 'report.html'}")
    _print_provenance(m)
    if any(v for k, v in outcomes.items() if k != "ok"):
        from vlmfer.engine.progress import failure_table

        print("why samples did not end ok:")
        for line in failure_table(run.predictions):
            print("  " + line)
    errors = outcomes.get("error", 0)
    if errors:
        print(f"{errors} sample(s) ended in an error; re-run the same command to retry them "
              "after fixing the cause", file=sys.stderr)
    # Refusals, blocks and invalid answers are results; only errors make the run unfinished.
    return EXIT_ERRORS if errors else EXIT_OK


def _print_provenance(m: Any) -> None:
    """Say when the answers are not from one real model (metrics.json says the same)."""
    if m.get("simulated"):
        print("SIMULATED: these answers came from vlmfer's emulator or a mock/ predictor, not "
              "from a real model; the numbers test the pipeline only")
    if m.get("mixed_snapshots"):
        snaps = ", ".join(f"{k} ({v})" for k, v in (m.get("model_snapshots") or {}).items())
        print(f"warning: more than one model snapshot answered this run: {snaps}; the "
              "provider moved the alias (see docs/caching.md#model-snapshots)", file=sys.stderr)


def _cmd_emulator(args: argparse.Namespace) -> int:
    from vlmfer.emulator.cli import main_from_args

    return main_from_args(args)


def _cmd_batch(args: argparse.Namespace) -> int:
    from vlmfer.batch.cli import main_from_args

    return main_from_args(args)


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from vlmfer.predictors.cleanup import main as cleanup_main

    argv = ["--prefix", args.prefix, "--api-version", args.api_version]
    if args.base_url:
        argv += ["--base-url", args.base_url]
    return cleanup_main(argv)


def _cmd_compare(args: argparse.Namespace) -> int:
    from vlmfer.report.cli import cmd_compare

    if len(args.runs) < 2:
        raise ConfigError("compare needs two or more run folders: vlmfer compare RUN_A RUN_B "
                          "[RUN_C ...]")
    return cmd_compare(args)


def _cmd_import(args: argparse.Namespace) -> int:
    from vlmfer.importing import import_answers

    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    run = import_answers(
        args.answers, args.out, samples=args.samples, id_column=args.id_column,
        gold_column=args.gold_column, answer_column=args.answer_column,
        answer_format=args.answer_format, labels=labels, label_map=args.label_map,
        model=args.model,
    )
    m = run.metrics
    a = m.get("answered_only") or {}
    print(f"{run.path}: n={m['n']}  WAR={m['accuracy']:.4f}  UAR={m['uar']:.4f}  "
          "(non-answers count as wrong)")
    print(f"answered only: n={a.get('n')}  WAR={a.get('accuracy') or 0:.4f}  "
          f"UAR={a.get('uar') or 0:.4f}")
    print("outcomes: " + ", ".join(f"{k}={v}" for k, v in m.get("outcomes", {}).items()))
    top = (m.get("top_k") or {}).get("accuracy")
    if top:
        print("top-k: " + ", ".join(f"top-{k}={v:.4f}" for k, v in top.items()))
    print(f"report: {run.path / 'report.html'}")
    return EXIT_OK


def _cmd_study(args: argparse.Namespace) -> int:
    from vlmfer.report.table import render_table
    from vlmfer.study import dry_run_study, load_study, run_study, write_outputs

    study = load_study(args.file, sets=args.set)
    if args.dry_run:
        print(dry_run_study(study))
        return EXIT_OK
    if args.report:
        data = write_outputs(study)
    else:
        try:
            data = run_study(study, command=sys.argv)
        except KeyboardInterrupt:
            return _interrupted()
    if data["table"] is not None:
        print(render_table(data["table"], args.format), end="")
    print(f"study: {study.out / 'study.md'}\nindex: {study.out / 'index.html'}")
    rows = (data["table"] or {}).get("runs", [])
    errors = sum(1 for r in rows if _run_errors(r["path"]))
    if errors:
        print(f"{errors} run(s) have samples that ended in an error; run the study again to "
              "retry them", file=sys.stderr)
    return EXIT_ERRORS if errors and not args.report else EXIT_OK


def _run_errors(path: str) -> int:
    from vlmfer.results import Run

    return int(Run(path).metrics.get("outcomes", {}).get("error", 0))


def _cmd_demo(args: argparse.Namespace) -> int:
    from vlmfer.demo import run_demo

    return run_demo(args.out, quiet=args.quiet)


def _cmd_view(args: argparse.Namespace) -> int:
    from vlmfer.view.cli import main_from_args

    return main_from_args(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vlmfer.results import Run

    run = Run(Path(args.run_dir))
    manifest = run.dir.read_manifest()  # a clear error if this is not a run folder
    if args.metric:
        from vlmfer.plugins import get_metric

        for name in args.metric:
            get_metric(name)  # an unknown name fails here, listing the valid ones
        # Recorded in the manifest, so that a later `vlmfer report` computes the same set.
        manifest.setdefault("engine", {})["metrics"] = list(dict.fromkeys(args.metric))
        run.dir.write_manifest(manifest)
    run.recompute()
    path = run.report(Path(args.html) if args.html else None, thumbnails=not args.no_thumbnails)
    from vlmfer.report.markdown import write_markdown

    print(write_markdown(run.dir))
    print(f"metrics: {run.dir.metrics_path}")
    print(f"report:  {path}")
    if args.figure_format:
        from vlmfer.report.plots import write_figures

        formats = [f.strip().lower() for f in args.figure_format.split(",") if f.strip()]
        for figure in write_figures(run.metrics, run.path, formats):
            print(f"figure:  {figure}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vlmfer",
        description="Evaluate vision-language models on facial expression recognition.",
    )
    parser.add_argument("--version", action="version", version=f"vlmfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="offline end to end: emulator + generated media -> report")
    p.add_argument("--out", default="vlmfer-demo", help="output folder (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("run", help="run an experiment (resumes if --out exists)")
    p.add_argument("config", nargs="?", help="experiment TOML file")
    p.add_argument("--dataset", help="dataset name: caer, caer-s, folder, manifest or a "
                   "plugin's (`vlmfer plugins` lists them)")
    p.add_argument("--data-root", help="the dataset's folder (or manifest file)")
    p.add_argument("--split", help="split to run, e.g. test (default: the dataset's own)")
    p.add_argument("--limit", type=int,
                   help="a seeded, stratified subset of N samples (same N, same samples)")
    p.add_argument("--classes", help="comma-separated labels to keep")
    p.add_argument("--model", help="provider/model, e.g. openai/gpt-5.2")
    p.add_argument("--base-url", help="API base URL, e.g. http://127.0.0.1:8000/v1 for a local "
                   "OpenAI-compatible server")
    p.add_argument("--strategy", help="single-shot, six-class, two-stage, free-description, "
                   "calibrated or a plugin's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any option, e.g. strategy.mapper=llm (repeatable)")
    p.add_argument("--concurrency", type=int, help="requests in flight at once")
    p.add_argument("--rpm", type=float, help="requests-per-minute budget (the provider's limit)")
    p.add_argument("--tpm", type=float, help="tokens-per-minute budget (the provider's limit)")
    p.add_argument("--out", help="run folder; an existing one is resumed")
    p.add_argument("--dry-run", action="store_true", help="count, estimate and show a prompt")
    p.add_argument("--no-cache", action="store_true",
                   help="ask the model again instead of reading the response cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar (results still print)")
    p.add_argument("--batch", action="store_true", help="use the provider's batch API")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="also compute this registered metric into metrics.json (repeatable)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="recompute metrics from predictions.jsonl, write report")
    p.add_argument("run_dir", help="a run folder (written by vlmfer run or vlmfer import)")
    p.add_argument("--html", help="where to write the HTML report (default: RUN_DIR/report.html)")
    p.add_argument("--no-thumbnails", action="store_true",
                   help="leave media thumbnails out of the confusion gallery")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="compute this registered metric too (repeatable); replaces the set the "
                   "run recorded")
    p.add_argument("--figure-format", metavar="FORMATS",
                   help="also write the figures into RUN_DIR in these formats, e.g. "
                   "png,pdf,svg (PDF and SVG are vector, for papers)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("compare", help="one table for many runs; paired tests, Holm-adjusted")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="two or more run folders (vlmfer run or vlmfer import)")
    p.add_argument("--format", choices=("markdown", "latex", "csv", "json"),
                   help="table format (default: markdown)")
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML page "
                   "with the table and every run's confusion matrix")
    p.add_argument("--json", action="store_true", help="print the result as JSON "
                   "(= --format json)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("import", help="score answers that already exist -> a run folder")
    p.add_argument("answers", help="CSV or JSONL file, one row per answered sample")
    p.add_argument("--out", required=True, help="the run folder to write")
    p.add_argument("--samples", help="the full sample list (same id and gold columns); a "
                   "sample without an answer becomes a non-answer")
    p.add_argument("--id-column", default="id", help="column of the sample id "
                   "(default: %(default)s)")
    p.add_argument("--gold-column", default="gold", help="column of the gold label "
                   "(default: %(default)s)")
    p.add_argument("--answer-column", default="answer", help="column of the answer "
                   "(default: %(default)s)")
    p.add_argument("--answer-format", default="text", choices=("text", "label", "ranked"),
                   help="raw model text, a label, or a comma-separated ranked list, best first "
                   "(default: %(default)s)")
    p.add_argument("--labels", help="the label set and its order, e.g. Anger,Disgust,... "
                   "(default: the sorted set of gold values)")
    p.add_argument("--label-map", help="other spellings onto the labels, case-insensitive, "
                   "e.g. Happiness=Happy,Sadness=Sad,Angry=Anger")
    p.add_argument("--model", help="the model that gave the answers, for the manifest and "
                   "the table (default: imported)")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("study", help="a series of experiments under shared budgets -> "
                       "one table")
    p.add_argument("file", metavar="STUDY.toml", help="the study file (docs/study.md)")
    p.add_argument("--dry-run", action="store_true",
                   help="count and cost estimate of the whole study; sends nothing")
    p.add_argument("--report", action="store_true", help="rebuild study.json, study.md and "
                   "index.html from the run folders; asks nothing")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an option in every experiment, e.g. dataset.limit=20")
    p.add_argument("--format", choices=("markdown", "latex", "csv", "json"),
                   default="markdown", help="how to print the table (default: %(default)s)")
    p.set_defaults(func=_cmd_study)
    p = sub.add_parser("view", help="per-sample viewer of run folders on 127.0.0.1")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run folders; several runs on the same samples show side by side")
    p.add_argument("--port", type=int, default=0,
                   help="port on 127.0.0.1 (default: a free one, printed at start)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser("models", help="known model ids, prices, snapshots, retirement dates")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("plugins", help="list every registered name")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("emulator", help="serve a loopback emulator of the OpenAI and Gemini APIs")
    from vlmfer.emulator.cli import add_arguments as emulator_arguments

    emulator_arguments(p)
    p.set_defaults(func=_cmd_emulator)

    p = sub.add_parser("cleanup-uploads",
                       help="delete Gemini Files API uploads that a crashed run left behind")
    p.add_argument("--prefix", default="vlmfer-", help="display-name prefix to delete")
    p.add_argument("--base-url", help="API base URL (default: Google's)")
    p.add_argument("--api-version", default="v1beta",
                   help="Gemini API version (default: %(default)s)")
    p.set_defaults(func=_cmd_cleanup)

    p = sub.add_parser("batch", help="provider batch APIs: submit, status, collect")
    from vlmfer.batch.cli import add_arguments as batch_arguments

    batch_arguments(p)
    p.set_defaults(func=_cmd_batch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except ConfigError as e:
        print(f"vlmfer: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vlmfer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`vlmfer ... | head`): not an error of ours.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
