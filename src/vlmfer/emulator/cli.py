"""Command-line options for ``vlmfer emulator`` (and ``python -m vlmfer.emulator``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

EXIT_OK = 0
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser`` (the ``vlmfer emulator`` sub-command)."""
    parser.add_argument("--port", type=int, default=8765,
                        help="port on 127.0.0.1 (0 picks a free one; default 8765)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S",
                        help="seconds each inference call takes (default 0)")
    parser.add_argument("--policy", default="neutral-biased", metavar="P",
                        help="neutral-biased | oracle | fixed:<Label> | confusion:<file.json> | "
                             "refuse | block (default neutral-biased)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--rpm", type=int, default=None, metavar="N",
                        help="requests per minute per model before answering 429")
    parser.add_argument("--tpm", type=int, default=None, metavar="N",
                        help="input tokens per minute per model before answering 429")
    for kind, what in (("429", "429 with Retry-After"), ("500", "500 internal error"),
                       ("timeout", "hold the connection, then hang up"),
                       ("malformed", "200 with a truncated JSON body"),
                       ("block", "a safety block"),
                       ("529", "529 overloaded (Anthropic; the other APIs answer 500)")):
        parser.add_argument(f"--fault-{kind}", type=float, default=0.0, metavar="R",
                            help=f"rate in [0, 1] of {what}")
    parser.add_argument("--timeout-s", type=float, default=30.0, metavar="S",
                        help="how long a timeout fault holds the connection (default 30)")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="require the key held in this environment variable")
    parser.add_argument("--log", type=Path, default=None, metavar="FILE",
                        help="append every request to this JSONL file (keys and base64 removed)")
    parser.add_argument("--oracle", type=Path, default=None, metavar="FILE",
                        help="JSON object: sha256 of media bytes -> gold label")


def config_from_args(args: argparse.Namespace) -> Any:
    """Build an :class:`EmulatorConfig` from parsed options (raises ConfigError)."""
    import os

    from pydantic import ValidationError

    from vlmfer.emulator.config import EmulatorConfig, FaultRates
    from vlmfer.errors import ConfigError

    oracle: dict[str, str] = {}
    if args.oracle is not None:
        try:
            data = json.loads(Path(args.oracle).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"--oracle {args.oracle}: cannot read a JSON object ({e}); give a "
                              "file mapping sha256 of media bytes to gold labels") from e
        if isinstance(data, dict) and isinstance(data.get("oracle"), dict):
            data = data["oracle"]
        if not isinstance(data, dict):
            raise ConfigError(f"--oracle {args.oracle}: expected a JSON object "
                              "{\"<sha256>\": \"<Label>\", ...}")
        oracle = {str(k): str(v) for k, v in data.items()}
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigError(f"--api-key-env {args.api_key_env}: that environment variable is "
                              "empty or unset; export it or drop the option")
    try:
        return EmulatorConfig(
            latency=args.latency, policy=args.policy, seed=args.seed, rpm=args.rpm, tpm=args.tpm,
            faults=FaultRates(http_429=args.fault_429, http_500=args.fault_500,
                              timeout=args.fault_timeout, malformed=args.fault_malformed,
                              block=args.fault_block, http_529=args.fault_529),
            timeout_s=args.timeout_s, log_path=args.log, oracle=oracle, api_key=api_key,
        )
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                         for err in e.errors())
        raise ConfigError(f"invalid emulator option: {msgs}") from e


def main_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM. Prints one line with the URL, then the base URLs."""
    from vlmfer.emulator.server import Emulator
    from vlmfer.errors import ConfigError

    try:
        cfg = config_from_args(args)
        emu = Emulator(cfg, port=args.port)
        emu.start()
    except ConfigError as e:
        print(f"vlmfer emulator: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"vlmfer emulator: error: cannot listen on 127.0.0.1:{args.port} ({e}); choose "
              "another --port, or --port 0 for a free one", file=sys.stderr)
        return EXIT_USAGE
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"vlmfer emulator listening on {emu.url}", flush=True)
        print(f"  OPENAI_BASE_URL={emu.openai_base_url}", flush=True)
        print(f"  GOOGLE_GEMINI_BASE_URL={emu.gemini_base_url}  (pin api_version, e.g. v1beta)",
              flush=True)
        print(f"  ANTHROPIC_BASE_URL={emu.anthropic_base_url}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        emu.stop()
    c = emu.counters
    print(f"vlmfer emulator stopped after {sum(c['requests'].values())} requests", flush=True)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vlmfer.emulator``."""
    parser = argparse.ArgumentParser(
        prog="vlmfer emulator",
        description="Serve a loopback emulator of the OpenAI, Gemini and Anthropic APIs on "
                    "127.0.0.1.",
    )
    add_arguments(parser)
    return main_from_args(parser.parse_args(argv))
