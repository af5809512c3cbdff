"""Seed experiment 5: free description, mapped to a label by the lexicon or by an LLM.

The same experiments as 05a_free_description_lexicon.toml and 05b_free_description_llm.toml,
through the Python API. Run the lexicon mapper first: the LLM mapper then takes the
descriptions from the cache, and its only new calls are text-only mapping calls.

    python examples/05_free_description.py lexicon                     # needs OPENAI_API_KEY
    python examples/05_free_description.py llm
    python examples/05_free_description.py llm --base-url http://127.0.0.1:8765/v1 \\
        --data-root /tmp/vlmfer-offline/CAER-S                        # offline, the emulator
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import vlmfer

HERE = Path(__file__).resolve().parent
MODEL = "openai/gpt-5.2"
# Seed study preset (scheduled for shutdown 2027-01-14): MODEL = "openai/gpt-4o"
MAPPER_MODEL = "openai/gpt-5-mini"   # maps descriptions to labels, text only
SEED_DESCRIBE = HERE / "templates" / "seed_describe.toml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Seed experiment 5: free description.")
    ap.add_argument("mapper", choices=["lexicon", "llm"], nargs="?", default="lexicon")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--base-url", help="an OpenAI-compatible server or the emulator's /v1")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    backend = {"base_url": args.base_url} if args.base_url else {}
    predictor = vlmfer.get_predictor(MODEL, **backend)
    options: dict[str, Any] = {"mapper": args.mapper, "template": str(SEED_DESCRIBE)}
    if args.mapper == "llm":
        options["mapper_model"] = MAPPER_MODEL
    strategy = vlmfer.get_strategy("free-description", **options)
    # A strategy that names a second model (here the mapper) gets it as a role.
    roles = {role: vlmfer.get_predictor(spec, **backend)
             for role, spec in strategy.roles().items()}

    out = args.out or HERE / "runs" / f"05_free_description_{args.mapper}_py"
    run = vlmfer.evaluate(dataset, predictor, strategy, out=out, roles=roles)
    run.report()
    m = run.metrics
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"invalid={m['outcomes']['invalid']}")
    first = next((p for p in run.predictions if p.extra.get("description")), None)
    if first is not None:
        print(f"e.g. {first.sample_id}: {first.extra['description']!r} -> {first.pred}")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
