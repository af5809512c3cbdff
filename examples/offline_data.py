"""Write small CAER-like and CAER-S-like trees of drawn faces, to run the examples offline.

    python examples/offline_data.py /tmp/vlmfer-offline
    # -> /tmp/vlmfer-offline/CAER/test/<Class>/NNNN.avi
    #    /tmp/vlmfer-offline/CAER-S/test/<Class>/NNNN.png

The faces are cartoons drawn by vlmfer.datasets.synthetic: good for checking that a
configuration runs end to end against the emulator, meaningless as an accuracy benchmark.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlmfer.datasets.synthetic import make_caer_like, make_caer_s_like


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate offline CAER / CAER-S-like data.")
    ap.add_argument("out", type=Path, help="folder to write CAER/ and CAER-S/ into")
    ap.add_argument("--images-per-class", type=int, default=4)
    ap.add_argument("--clips-per-class", type=int, default=2)
    args = ap.parse_args(argv)

    images = make_caer_s_like(args.out / "CAER-S", per_class=args.images_per_class)
    clips = make_caer_like(args.out / "CAER", per_class=args.clips_per_class)
    print(f"{len(images)} images in {args.out / 'CAER-S'}; {len(clips)} clips in "
          f"{args.out / 'CAER'} (split: test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
