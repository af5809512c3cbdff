"""Beyond the seed: calibrated label scores against the Neutral bias.

The same experiment as 07_calibrated.toml, through the Python API. Logprobs come from OpenAI's
non-reasoning models, OpenAI-compatible servers and the emulator; gpt-5.2 gives none, so the
sampling fallback is on (1 + k calls per sample where an answer has no logprobs).

    python examples/07_calibrated.py                                   # needs OPENAI_API_KEY
    python examples/07_calibrated.py --base-url http://127.0.0.1:8765/v1 \\
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
    ap = argparse.ArgumentParser(description="Calibrated scores against the Neutral bias.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "07_calibrated_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)
    strategy = vlmfer.get_strategy("calibrated", calibration="contextual", top_logprobs=20,
                                   fallback="sampling", samples=5)

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    preds = run.predictions
    raw_neutral = sum(p.extra.get("raw_pred") == "Neutral" for p in preds)
    print(f"{run.path}: n={m['n']} calibrated WAR={m['accuracy']:.3f} UAR={m['uar']:.3f}")
    print(f"predicted Neutral: raw {raw_neutral}/{len(preds)}, calibrated "
          f"{m['neutral_rate']:.0%} (gold {m['gold_neutral_rate']:.0%})")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
