"""Seed experiment 2: GPT on CAER-S still images, single-shot, 7 labels.

The same experiment as 02_gpt4o_caer_s_single_shot.toml, through the Python API.

    python examples/02_gpt4o_caer_s_single_shot.py                     # needs OPENAI_API_KEY
    python examples/02_gpt4o_caer_s_single_shot.py --base-url http://127.0.0.1:8765/v1 \\
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Seed experiment 2: GPT, CAER-S images, 7 labels.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "02_gpt4o_caer_s_single_shot_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)
    strategy = vlmfer.get_strategy("single-shot")

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} (gold {m['gold_neutral_rate']:.0%})")
    subset = m["excluding_neutral"]["subset"]
    print(f"{subset['convention']}: n={subset['n']} WAR={subset['accuracy']:.3f} "
          f"UAR={subset['uar']:.3f}")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
