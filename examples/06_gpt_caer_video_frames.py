"""Beyond the seed: GPT on CAER video, each clip sent as 8 sampled frames.

The same experiment as 06_gpt_caer_video_frames.toml, through the Python API.

    python examples/06_gpt_caer_video_frames.py                        # needs OPENAI_API_KEY
    python examples/06_gpt_caer_video_frames.py --base-url http://127.0.0.1:8765/v1 \\
        --data-root /tmp/vlmfer-offline/CAER                          # offline, the emulator
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
    ap = argparse.ArgumentParser(description="GPT on CAER video as sampled frames.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "06_gpt_caer_video_frames_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    ap.add_argument("--frames", default="uniform:8", help="uniform:N, fps:F, middle or all")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, detail="low", **backend)
    strategy = vlmfer.get_strategy(
        "single-shot", media={"video_mode": "frames", "frames": args.frames})

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    cost = "unknown" if m["cost_usd"] is None else f"${m['cost_usd']:.4f}"
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} input tokens={m['usage']['input_tokens']} "
          f"cost={cost}")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
