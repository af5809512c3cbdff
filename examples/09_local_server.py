"""Beyond the seed: a local OpenAI-compatible server (vLLM, Ollama, llama.cpp, transformers serve).

The same experiment as 09_local_server.toml, through the Python API. Start the server and
export any non-empty key first (export OPENAI_API_KEY=local).

    python examples/09_local_server.py                                 # Ollama on :11434
    python examples/09_local_server.py --model Qwen/Qwen2.5-VL-7B-Instruct \\
        --base-url http://localhost:8000/v1                            # vLLM
    python examples/09_local_server.py --base-url http://127.0.0.1:8765/v1 \\
        --data-root /tmp/vlmfer-offline/CAER-S                        # offline, the emulator
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vlmfer

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="A local OpenAI-compatible server.")
    ap.add_argument("--model", default="qwen2.5vl", help="the server's model name")
    ap.add_argument("--base-url", default="http://localhost:11434/v1")
    ap.add_argument("--data-root", type=Path, default=HERE / "data" / "CAER-S")
    ap.add_argument("--out", type=Path, default=HERE / "runs" / "09_local_server_py")
    ap.add_argument("--limit", type=int, default=140, help="stratified subsample size")
    args = ap.parse_args(argv)

    dataset = vlmfer.get_dataset("caer-s", root=args.data_root, split="test", limit=args.limit)
    # Switch off what the server lacks: the predictor drops it (one warning) rather than fail.
    # A local base_url gets a long timeout, at most 2 requests at once and no timeout retries;
    # the run probes the server first (docs/local-servers.md).
    predictor = vlmfer.get_predictor(
        f"openai/{args.model}", base_url=args.base_url, supports_detail=False,
        supports_logprobs=False, supports_json_schema=False)
    strategy = vlmfer.get_strategy("single-shot", max_tokens=16)

    run = vlmfer.evaluate(dataset, predictor, strategy, out=args.out)
    run.report()
    m = run.metrics
    cost = "unknown (no price for a local model)" if m["cost_usd"] is None else \
        f"${m['cost_usd']:.4f}"
    print(f"{run.path}: n={m['n']} WAR={m['accuracy']:.3f} UAR={m['uar']:.3f} "
          f"predicted Neutral {m['neutral_rate']:.0%} cost {cost}")
    return 1 if m["outcomes"]["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
