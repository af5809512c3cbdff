"""Seed experiment 3a: "excluding Neutral: subset", read from a 7-way run's metrics.json.

This convention needs no new run: drop the samples whose gold label is Neutral and keep the
model's 7-way answers, so a Neutral answer counts as wrong. Every 7-way run computes it, under
``excluding_neutral.subset`` in metrics.json. Pass a forced six-way run (03b) as well to print
both conventions side by side; they can differ a lot, so always name the one you report.

    python examples/03a_excluding_neutral_subset.py examples/runs/02_gpt4o_caer_s_single_shot
    python examples/03a_excluding_neutral_subset.py examples/runs/02_gpt4o_caer_s_single_shot \\
        --forced examples/runs/03b_six_class_forced_six_way
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _metrics(run_dir: Path, made_by: str) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    if not path.is_file():
        sys.exit(f"{path}: not found; pass the --out folder of a finished `vlmfer run` "
                 f"(e.g. of examples/{made_by})")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _row(name: str, block: dict[str, Any]) -> str:
    return (f"{name:<36} n={block['n']:<5} WAR={block['accuracy']:.3f}  UAR={block['uar']:.3f}  "
            f"macro-F1={block['macro_f1']:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Both 'excluding Neutral' conventions of a run.")
    ap.add_argument("run_dir", type=Path, nargs="?",
                    default=HERE / "runs" / "02_gpt4o_caer_s_single_shot",
                    help="a 7-way run (single-shot, calibrated, two-stage, ...)")
    ap.add_argument("--forced", type=Path, help="a six-class run on the non-Neutral samples (03b)")
    args = ap.parse_args(argv)

    m = _metrics(args.run_dir, "02_gpt4o_caer_s_single_shot.toml")
    print(_row("all 7 classes", m))
    subset = m["excluding_neutral"]["subset"]
    if subset.get("available"):
        print(_row(subset["convention"], subset))
    else:
        print(f"{subset['convention']}: not available ({subset.get('reason')})")
    # A run with per-class scores (calibrated) can also take the best non-Neutral label.
    from_scores = m["excluding_neutral"]["forced_six_way"]
    if from_scores.get("available"):
        print(_row(from_scores["convention"] + " (scores)", from_scores))
    if args.forced is not None:
        six = _metrics(args.forced, "03b_six_class_forced_six_way.toml")
        print(_row("excluding Neutral: forced six-way", six))
    return 0


if __name__ == "__main__":
    sys.exit(main())
