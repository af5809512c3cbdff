"""Beyond the seed: face crop vs full frame, on the same CAER-S samples.

The same experiment as 08_face_crop.toml run twice (with and without
``--set media.face_crop=true``), through the Python API. Both runs go into --out, then are
compared sample by sample. Face detection needs OpenCV: pip install "vlmfer[face]".

    python examples/08_face_crop.py                                    # needs OPENAI_API_KEY
    python examples/08_face_crop.py --base-url http://127.0.0.1:8765/v1 \\
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
    ap = argparse.ArgumentParser(description="Face crop vs full frame.")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "08_face_crop_py",
                    help="holds two runs: full_frame/ and face_crop/")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    errors = 0
    for name, crop in (("full_frame", False), ("face_crop", True)):
        predictor = vlmfer.get_predictor(MODEL, **backend)   # a run closes its predictor
        strategy = vlmfer.get_strategy(
            "single-shot", media={"face_crop": crop, "face_margin": 0.25, "no_face": "full-frame"})
        run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out / name)
        run.report()
        m = run.metrics
        errors += m["outcomes"]["error"]
        print(f"{name:<10} {run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
              f"predicted Neutral {m['neutral_rate']:.0%}")
    print(f"paired test: vlmfer compare {args.out / 'full_frame'} {args.out / 'face_crop'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
