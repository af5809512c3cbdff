"""The seed's single-shot on CAER-S still images, with Claude (the vlmfer-anthropic plugin).

The same experiment as 10_claude_caer_s_single_shot.toml, through the Python API.

    pip install ./plugins/vlmfer-anthropic
    python examples/10_claude_caer_s_single_shot.py                  # needs ANTHROPIC_API_KEY
    python examples/10_claude_caer_s_single_shot.py --base-url http://127.0.0.1:8765 \\
        --data-root /tmp/vlmfer-offline/CAER-S                      # offline, the emulator
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vlmfer

HERE = Path(__file__).resolve().parent
MODEL = "anthropic/claude-sonnet-5-5"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Single-shot on CAER-S images with Claude.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="the Anthropic API, or the emulator's http://127.0.0.1:N")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "10_claude_caer_s_single_shot_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)  # needs vlmfer-anthropic installed
    strategy = vlmfer.get_strategy("single-shot")

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} (gold {m['gold_neutral_rate']:.0%})")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
