"""Seed experiment 1: Gemini on CAER video clips, single-shot, 7 labels.

The same experiment as 01_gemini_caer_single_shot.toml, through the Python API.

    python examples/01_gemini_caer_single_shot.py                      # needs GEMINI_API_KEY
    python examples/01_gemini_caer_single_shot.py --base-url http://127.0.0.1:8765 \\
        --data-root /tmp/vlmfer-offline/CAER                          # offline, the emulator
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vlmfer

HERE = Path(__file__).resolve().parent
MODEL = "gemini/gemini-3.5-flash"
# Seed study preset (shut down 2026-06-01): MODEL = "gemini/gemini-2.0-flash"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Seed experiment 1: Gemini, CAER video, 7 labels.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER")
    ap.add_argument("--base-url", help="e.g. the emulator, http://127.0.0.1:8765")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "01_gemini_caer_single_shot_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)
    # The seed sent each clip natively, and asked with its exact prompt.
    strategy = vlmfer.get_strategy("single-shot", media={"video_mode": "native"})

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} (gold {m['gold_neutral_rate']:.0%})")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
