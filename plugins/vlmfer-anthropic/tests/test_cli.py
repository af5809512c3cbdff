"""``vlmfer run --model anthropic/<model>`` in a subprocess, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from claude_support import assert_no_key_written, predictions, run_args, vlmfer
from vlmfer.emulator import Emulator, FaultRates


def test_run_on_images(tmp_path: Path, images: Path, emu: Emulator) -> None:
    out = tmp_path / "run"
    r = vlmfer(*run_args(images, emu, out), cwd=tmp_path,
               VLMFER_CACHE_DIR=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    preds = predictions(out)
    assert len(preds) == 14 and {p["outcome"] for p in preds.values()} == {"ok"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 14 and metrics["cost_usd"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["name"] == "anthropic/claude-sonnet-5-5"
    assert manifest["model"]["api_version"] == "2026-10-21"
    assert {"plugin": "anthropic", "distribution": "vlmfer-anthropic",
            "version": "0.1.0"} in manifest["plugins"]
    calls = emu.calls("anthropic.messages")
    assert len(calls) == 14 and all(c["images"] == 1 and c["status"] == 200 for c in calls)
    assert all("temperature" not in c["body"] and c["body"]["max_tokens"] >= 1 for c in calls)
    step = next(iter(preds.values()))["steps"][0]
    assert step["details"]["request_id"].startswith("req_")
    assert "temperature" in step["details"]["dropped"]
    assert_no_key_written(out, tmp_path / "cache", tmp_path / "emu.jsonl")


def test_run_on_video_sends_frames_with_their_indices_and_times(
    tmp_path: Path, videos: Path, emu: Emulator
) -> None:
    out = tmp_path / "run"
    r = vlmfer(*run_args(videos, emu, out, dataset="caer"), "--set", "media.frames=uniform:4",
               cwd=tmp_path, VLMFER_CACHE_DIR=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    calls = emu.calls("anthropic.messages")
    assert len(calls) == 7 and all(c["images"] == 4 for c in calls)
    content = calls[0]["body"]["messages"][0]["content"]
    assert [b["type"] for b in content] == ["text", "image", "image", "image", "image", "text"]
    assert content[0]["text"].startswith("The next 4 images are frames of one video clip")
    assert "Frame 1 at" in content[0]["text"]
    step = next(iter(predictions(out).values()))["steps"][0]
    (media,) = step["details"]["media"]
    assert media["as"] == "frames" and len(media["frame_indices"]) == 4
    times = ", ".join(f"at {t:.2f} s" for t in media["timestamps_s"])
    assert all(f"at {t:.2f} s" in content[0]["text"] for t in media["timestamps_s"]), times
    assert_no_key_written(out, tmp_path / "cache")


def test_529_overloaded_is_retried_until_answered(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    emu.configure(faults=FaultRates(http_529=0.3))
    out = tmp_path / "run"
    r = vlmfer(*run_args(images, emu, out), "--set", "run.max_attempts=10", cwd=tmp_path,
               VLMFER_CACHE_DIR=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    assert {p["outcome"] for p in predictions(out).values()} == {"ok"}
    overloaded = emu.calls("anthropic.messages", status=529)
    assert overloaded  # some were overloaded ...
    attempts = [s["attempts"] for p in predictions(out).values() for s in p["steps"]]
    assert max(attempts) > 1  # ... and the engine asked them again
    assert len(emu.calls("anthropic.messages", status=200)) == 14


def test_a_rejected_key_is_systematic_not_retried(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    emu.configure(api_key="the-key-the-server-wants")
    out = tmp_path / "run"
    r = vlmfer(*run_args(images, emu, out), "--concurrency", "2", cwd=tmp_path,
               VLMFER_CACHE_DIR=str(tmp_path / "cache"))
    # Systematic: the run stops after the first few (exit 2) and pays for no more.
    assert r.returncode == 2, r.stderr
    assert "stopped early" in r.stderr and "ANTHROPIC_API_KEY" in r.stderr
    preds = predictions(out)
    assert preds and {p["outcome"] for p in preds.values()} == {"error"}
    assert all("ANTHROPIC_API_KEY" in p["reason"] for p in preds.values())
    # One attempt each, never retried; the two in flight at the stop may reach the server.
    assert len(preds) <= len(emu.calls("anthropic.messages")) <= 4
    assert_no_key_written(out, tmp_path / "cache")


def test_calibrated_switches_to_its_sampling_fallback_and_says_so_at_start_up(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    out = tmp_path / "run"
    r = vlmfer(*run_args(images, emu, out, strategy="calibrated"), "--limit", "2",
               "--set", "strategy.samples=3", "--set", "strategy.calibration=none",
               cwd=tmp_path, VLMFER_CACHE_DIR=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    assert "anthropic/claude-sonnet-5-5: calibrated: the predictor returns no " \
        "log-probabilities" in r.stderr and "sampling fallback" in r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["strategy"]["options"]["fallback"] == "sampling"
    preds = predictions(out)
    assert all(p["outcome"] == "ok" and p["scores"] for p in preds.values())


def test_plugins_lists_the_provider_with_its_distribution(tmp_path: Path) -> None:
    r = vlmfer("plugins", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    rows = entries if isinstance(entries, list) else entries.get("entries", entries)
    text = json.dumps(rows)
    assert '"anthropic"' in text and "vlmfer-anthropic" in text


def test_models_lists_claude_with_its_prices(tmp_path: Path) -> None:
    r = vlmfer("models", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    sonnet = rows["anthropic/claude-sonnet-5-5"]
    assert sonnet["price_per_1m"]["input"] == 2.0 and sonnet["status"] == "current"
    assert "default" in sonnet["note"]
