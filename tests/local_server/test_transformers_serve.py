"""``vlmfer run`` against a real ``transformers serve``, as a user runs it (a subprocess).

This is the transformers-serve recipe of docs/local-servers.md, tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from local_server_support import MODEL, Recorder

pytestmark = pytest.mark.local_server

#: Short answers: the random model rambles until the cap.
CAP = ["--set", "strategy.max_tokens=8"]


def vlmfer(
    tmp_path: Path, base_url: str, data: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": "anything", "NO_PROXY": "127.0.0.1",
           "VLMFER_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "vlmfer", "run", "--dataset", "caer-s", "--data-root",
           str(data), "--split", "test", "--limit", "3", "--model", f"openai/{MODEL}",
           "--base-url", base_url, "--out", str(tmp_path / "run"), "--quiet", *args]
    return subprocess.run(cmd, text=True, capture_output=True, env=env, timeout=600)


def rows(tmp_path: Path) -> list[dict[str, Any]]:
    text = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def manifest(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "run" / "manifest.json").read_text())
    return data


def test_single_shot(tmp_path: Path, data: Path, proxy: tuple[str, Recorder]) -> None:
    root, rec = proxy
    # The transformers-serve recipe of docs/local-servers.md, with its extra_body.
    out = vlmfer(tmp_path, f"{root}/v1", data, "--strategy", "single-shot", *CAP,
                 "--set", "model.extra_body={chat_template_kwargs = {enable_thinking = false}}")
    assert out.returncode == 0, out.stderr
    preds = rows(tmp_path)
    assert len(preds) == 3 and {p["outcome"] for p in preds} <= {"ok", "invalid"}
    probe = manifest(tmp_path)["probe"]["main"]
    assert probe["server"] == "transformers" and probe["models"] == [MODEL]
    assert probe["local"] and probe["features"] == {}  # single-shot needs no feature
    # The probe's one GET, then the answers, each capped as the strategy asked.
    assert rec.entries[0]["path"] == "/v1/models"
    posts = rec.posts()
    assert len(posts) == 3 and all(p["body"]["max_tokens"] == 8 for p in posts)
    assert all(p["status"] == 200 and "logprobs" not in p["body"] for p in posts)
    assert all(p["body"]["chat_template_kwargs"] == {"enable_thinking": False} for p in posts)
    # No digest of the weights: the terminal says when the cache needs --no-cache.
    assert "--no-cache" in out.stderr


def test_two_stage(tmp_path: Path, data: Path, proxy: tuple[str, Recorder]) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, "--strategy", "two-stage", *CAP)
    assert out.returncode == 0, out.stderr
    preds = rows(tmp_path)
    assert len(preds) == 3 and {p["outcome"] for p in preds} <= {"ok", "invalid"}
    assert len(rec.posts()) == sum(len(p["steps"]) for p in preds)


def test_calibrated_by_sampling(tmp_path: Path, data: Path, proxy: tuple[str, Recorder]) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, "--strategy", "calibrated", *CAP,
                 "--set", "model.supports_logprobs=false", "--set", "strategy.fallback=sampling",
                 "--set", "strategy.samples=2", "--set", "strategy.calibration=none")
    assert out.returncode == 0, out.stderr
    preds = rows(tmp_path)
    assert len(preds) == 3 and {p["outcome"] for p in preds} <= {"ok", "invalid"}
    probe = manifest(tmp_path)["probe"]["main"]
    # transformers serve ignores n, so a second request with another seed told.
    assert probe["features"] == {"n": "ignored", "sampling": "honoured"}
    first, second, *answers = rec.posts()
    assert first["body"]["n"] == 2 and first["body"]["max_tokens"] == 16
    assert second["body"]["seed"] == 2
    samples = [a["body"] for a in answers if a["body"].get("temperature") == 1.0]
    assert samples and len({b["seed"] for b in samples}) >= 2
    assert all("logprobs" not in a["body"] for a in answers)


def test_calibrated_needing_ignored_logprobs_fails_before_the_run(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, "--strategy", "calibrated", *CAP)
    assert out.returncode == 2, out.stderr
    assert "--set model.supports_logprobs=false --set strategy.fallback=sampling" in out.stderr
    assert "hf/<folder>" in out.stderr
    [probe] = rec.posts()  # the probe's tiny request, and nothing else
    assert probe["body"]["logprobs"] is True and probe["body"]["max_tokens"] == 16
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_a_wrong_model_id_lists_the_served_ids(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, "--model", "openai/wrong-name")
    assert out.returncode == 2
    assert f"'wrong-name' is not served by {root}/v1; it serves: {MODEL}" in out.stderr
    assert rec.posts() == []


def test_a_base_url_without_v1_gets_the_right_advice(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, root, data)
    assert out.returncode == 2
    assert f"use --base-url {root}/v1" in out.stderr
    assert "gpt-5.2" not in out.stderr and "does not exist on this server" not in out.stderr
    assert rec.posts() == []


def test_the_servers_own_error_text_reaches_predictions(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    # Unprobed, so that the requests themselves meet the server's errors.
    out = vlmfer(tmp_path, f"{root}/v1", data, "--model", "openai/wrong-name",
                 "--set", "model.probe=false", *CAP)
    assert out.returncode == 1
    for p in rows(tmp_path):
        # The server's words themselves, not the SDK's "Error code: 400 - {'detail': ...}".
        assert f"from {root}/v1: Server is pinned to '{MODEL}'; requested 'wrong-name'" \
            in p["reason"]
        assert "Error code" not in p["reason"]
    assert len(rec.posts()) == 3  # a 400 is not retried


def test_a_rejected_field_is_named_and_not_retried(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, *CAP,
                 "--set", 'model.extra_body={"guided_choice": ["Happy", "Sad"]}')
    assert out.returncode == 1
    for p in rows(tmp_path):
        assert f"from {root}/v1: Unexpected fields in the request" in p["reason"]
        assert "guided_choice" in p["reason"] and "not retried" in p["reason"]
    assert len(rec.posts()) == 3


def test_responses_api_is_asked_not_to_stream(
    tmp_path: Path, data: Path, proxy: tuple[str, Recorder]
) -> None:
    root, rec = proxy
    out = vlmfer(tmp_path, f"{root}/v1", data, "--set", "model.api=responses", *CAP)
    assert out.returncode == 0, out.stderr
    assert {p["outcome"] for p in rows(tmp_path)} <= {"ok", "invalid"}
    posts = rec.posts("/v1/responses")
    assert len(posts) == 3 and all(p["body"]["stream"] is False for p in posts)
