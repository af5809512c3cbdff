"""Seed experiment 4: two-stage (a Neutral gate, then six-way), for both models.

The same experiments as 04a_two_stage_gemini_caer.toml (Gemini, CAER video) and
04b_two_stage_gpt_caer_s.toml (GPT, CAER-S images), through the Python API.

    python examples/04_two_stage.py gemini                             # needs GEMINI_API_KEY
    python examples/04_two_stage.py openai                             # needs OPENAI_API_KEY
    python examples/04_two_stage.py gemini --base-url http://127.0.0.1:8765 \\
        --data-root /tmp/vlmfer-offline/CAER                          # offline, the emulator
    python examples/04_two_stage.py openai --base-url http://127.0.0.1:8765/v1 \\
        --data-root /tmp/vlmfer-offline/CAER-S
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import vlmfer

HERE = Path(__file__).resolve().parent
# provider -> (model, dataset, data folder, media spec)
SETUPS = {
    "gemini": ("gemini/gemini-3.5-flash", "caer", "CAER", {"video_mode": "native"}),
    "openai": ("openai/gpt-5.2", "caer-s", "CAER-S", {}),
}
# Seed study presets: "gemini/gemini-2.0-flash" (shut down 2026-06-01) and
# "openai/gpt-4o" (scheduled for shutdown 2027-01-14).


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Seed experiment 4: two-stage.")
    ap.add_argument("provider", choices=sorted(SETUPS), nargs="?", default="gemini")
    ap.add_argument("--data-root", type=Path, help="default: examples/data/CAER or CAER-S")
    ap.add_argument("--base-url", help="the emulator (Gemini: its root; OpenAI: its /v1)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)
    model, dataset_name, folder, media = SETUPS[args.provider]

    dataset = vlmfer.get_dataset(dataset_name, root=args.data_root or HERE / "data" / folder,
                                 split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(model, **backend)
    strategy = vlmfer.get_strategy("two-stage", gate="text", media=media)

    out = args.out or HERE / "runs" / f"04_two_stage_{args.provider}_py"
    run = vlmfer.evaluate(dataset, predictor, strategy, out=out)
    run.report()
    m = run.metrics
    gates = Counter(p.extra.get("gate") for p in run.predictions if p.extra)
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} (gold {m['gold_neutral_rate']:.0%})")
    print("gate: " + ", ".join(f"{k}={v}" for k, v in sorted(gates.items(), key=str)))
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
