"""The capability probe of compatible servers: the real openai SDK against the emulator.

The emulator simulates the official API, so it is probed only when ``probe=true`` is
asked explicitly; its ``logprobs=false`` setting stands in for a server that ignores them.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from predictor_support import FAKE_KEY, Emulator, get_predictor, run

from vlmfer.errors import CapabilityError, ConfigError
from vlmfer.predictors.probe import (
    Needs,
    ProbeResult,
    is_local_url,
    server_kind,
    weights_identity,
)


def _probe(predictor: Any, needs: Needs | None = None) -> ProbeResult | None:
    async def go() -> ProbeResult | None:
        try:
            result: ProbeResult | None = await predictor.probe(needs or Needs())
            return result
        finally:
            await predictor.aclose()

    return run(go())


def _openai(url: str, model: str = "gpt-4o", **options: Any) -> Any:
    return get_predictor(f"openai/{model}", base_url=url, api_key=FAKE_KEY, **options)


def test_the_official_api_is_not_probed() -> None:
    assert _probe(_openai("https://api.openai.com/v1")) is None


def test_the_emulator_is_recognised_and_probed_no_further(emu: Emulator) -> None:
    p = _openai(emu.openai_base_url, model="any-model-the-emulator-accepts")
    assert p.local  # 127.0.0.1, until the server says what it is
    result = _probe(p, Needs(logprobs=True))
    assert result is not None and result.server == "vlmfer-emulator"
    assert not p.local and not result.local and p.retry_timeouts
    assert [c["endpoint"] for c in emu.requests] == ["openai.models.list"]


def test_probe_false_sends_nothing(emu: Emulator) -> None:
    assert _probe(_openai(emu.openai_base_url, probe=False), Needs(logprobs=True)) is None
    assert emu.requests == []


def test_an_unknown_model_id_lists_the_served_ids(emu: Emulator) -> None:
    with pytest.raises(ConfigError) as err:
        _probe(_openai(emu.openai_base_url, model="wrong-name", probe=True))
    text = str(err.value)
    assert "'wrong-name' is not served" in text
    assert "gpt-4o, gpt-4o-mini, gpt-5.2" in text and "--model openai/<id>" in text
    assert "current defaults" not in text


def test_a_base_url_without_v1_gets_the_right_advice(emu: Emulator) -> None:
    root = emu.openai_base_url.removesuffix("/v1")
    with pytest.raises(ConfigError) as err:
        _probe(_openai(root, probe=True))
    text = str(err.value)
    assert f"use --base-url {root}/v1" in text
    assert "does not exist on this server" not in text and "gpt-5.2" not in text


def test_a_server_that_is_down_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError) as err:
        _probe(_openai(f"http://127.0.0.1:{port}/v1", probe=True))
    assert "nothing answers at" in str(err.value) and "model.probe=false" in str(err.value)


def test_honoured_logprobs_pass_with_one_tiny_request(emu: Emulator) -> None:
    result = _probe(_openai(emu.openai_base_url, probe=True), Needs(logprobs=True))
    assert result is not None and result.features == {"logprobs": "honoured"}
    [call] = emu.calls("openai.chat")
    body = call["body"]
    assert body["max_tokens"] == 16 and body["logprobs"] is True
    assert "n" not in body and "response_format" not in body
    assert len(result.requests) == 2  # GET /models, one POST


def test_ignored_logprobs_fail_before_the_run_with_the_fix(emu: Emulator) -> None:
    emu.configure(logprobs=False)  # answers, without the logprobs it was asked for
    with pytest.raises(CapabilityError) as err:
        _probe(_openai(emu.openai_base_url, probe=True), Needs(logprobs=True))
    text = str(err.value)
    assert "--set model.supports_logprobs=false --set strategy.fallback=sampling" in text
    assert "hf/<folder>" in text


def test_sampling_that_gives_one_answer_fails(emu: Emulator) -> None:
    # The emulator answers from the content: the same at any temperature and seed.
    with pytest.raises(CapabilityError) as err:
        _probe(_openai(emu.openai_base_url, probe=True), Needs(sampling=True))
    assert "sampling" in str(err.value) and "do_sample=true" in str(err.value)
    first = emu.calls("openai.chat")[0]["body"]
    assert first["n"] == 2 and first["temperature"] == 1.0


# ---------------------------------------------------------------- weights identity


@pytest.fixture
def vllm_like() -> Iterator[str]:
    """A stand-in for vLLM's model list: a served name, and the checkpoint behind it."""
    state = {"root": "/models/fer-ckpt-1"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [
                {"id": "fer", "object": "model", "created": 1, "owned_by": "vllm",
                 "root": state["root"], "parent": None, "max_model_len": 4096}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_reported_weights_join_the_cache_identity(
    vllm_like: str, caplog: pytest.LogCaptureFixture
) -> None:
    p = _openai(vllm_like, model="fer")
    before = p.cache_identity()
    result = _probe(p)
    assert result is not None and result.server == "vllm"
    assert result.weights == {"root": "/models/fer-ckpt-1"}
    assert p.cache_identity()["weights"] == {"root": "/models/fer-ckpt-1"}
    assert "weights" not in before
    # A name is no digest: the terminal says --no-cache is needed after new weights.
    assert any("--no-cache" in r.getMessage() for r in caplog.records)


def test_server_kinds_and_identities() -> None:
    assert server_kind([{"id": "a", "owned_by": "library", "created": 5}]) == "ollama"
    assert server_kind([{"id": "m.gguf", "owned_by": "llamacpp", "meta": {"n_params": 1}}]) \
        == "llama.cpp"
    assert server_kind([{"id": "/tmp/x", "owned_by": "local",
                         "status": {"value": "loaded"}}]) == "transformers"
    assert weights_identity({"id": "a", "created": 5}, "ollama") == {"created": 5}
    # vLLM's "created" is the server's start time: never part of the identity.
    assert weights_identity({"id": "a", "created": 5, "root": "a"}, "vllm") is None


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8000/v1", True), ("http://localhost:11434/v1", True),
    ("http://10.0.0.7:8000/v1", True), ("http://vllm:8000/v1", True),
    ("http://gpu-box.local:8000/v1", True), ("http://[::1]:8000/v1", True),
    ("https://openrouter.ai/api/v1", False), ("https://api.openai.com/v1", False),
])
def test_which_urls_are_local(url: str, local: bool) -> None:
    assert is_local_url(url) is local


@pytest.fixture
def llama_cpp_like() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for llama.cpp's server: it refuses ``n`` > 1 and samples by seed."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, obj: Any) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [
                {"id": "m.gguf", "object": "model", "owned_by": "llamacpp",
                 "meta": {"n_params": 1000, "size": 4096}}]})

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(req)
            if req.get("n", 1) != 1:
                self._send(400, {"error": {"code": 400, "type": "invalid_request_error",
                                           "message": "Only one completion choice is allowed"}})
                return
            self._send(200, {"id": "x", "object": "chat.completion", "created": 1,
                             "model": "m.gguf", "choices": [{
                                 "index": 0, "finish_reason": "length",
                                 "message": {"role": "assistant",
                                             "content": f"words {req.get('seed')}"}}]})

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_refusing_n_is_sampled_one_answer_at_a_time(
    llama_cpp_like: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = llama_cpp_like
    p = _openai(url, model="m.gguf")
    result = _probe(p, Needs(sampling=True))
    assert result is not None and result.server == "llama.cpp"
    assert result.features == {"n": "rejected", "sampling": "honoured"}
    assert [r.get("n") for r in seen] == [2, None, None]
    assert [r["seed"] for r in seen] == [1, 1, 2]
    assert p.cache_identity()["weights"] == {"meta": {"n_params": 1000, "size": 4096}}
