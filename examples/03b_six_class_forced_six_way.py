"""Seed experiment 3b: "excluding Neutral: forced six-way" (strategy six-class).

The same experiment as 03b_six_class_forced_six_way.toml, through the Python API: Neutral is
out of the label list in the prompt, and only the non-Neutral samples are asked.

    python examples/03b_six_class_forced_six_way.py                    # needs OPENAI_API_KEY
    python examples/03b_six_class_forced_six_way.py --base-url http://127.0.0.1:8765/v1 \\
        --data-root /tmp/vlmfer-offline/CAER-S                        # offline, the emulator
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vlmfer

HERE = Path(__file__).resolve().parent
MODEL = "openai/gpt-5.2"
# Seed study preset (scheduled for shutdown 2027-01-14): MODEL = "openai/gpt-4o"
SIX = [label for label in vlmfer.CAER_LABELS if label != "Neutral"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Seed experiment 3b: forced six-way.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "03b_six_class_forced_six_way_py")
    ap.add_argument("--limit", type=int, default=120, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", classes=SIX,
                                 limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)
    strategy = vlmfer.get_strategy("six-class")   # removes Neutral from the 7 labels itself

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    print(f"{run.path}: excluding Neutral: forced six-way: n={m['n']} "
          f"WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} invalid={m['outcomes']['invalid']}")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
