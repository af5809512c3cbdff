"""Capability probe of an OpenAI-compatible server, before the first paid request.

A local server (vLLM, Ollama, llama.cpp, ``transformers serve``) accepts parameters it
then ignores: logprobs, ``response_format``, ``n``, even the temperature. A strategy
that needs one of them would turn every sample into ``invalid`` with exit code 0. The
probe asks the server first:

1. ``GET {base_url}/models``: is the server up, is ``/v1`` in the URL, is the model id
   served (else the ids it serves), and what identifies its weights (this joins the
   predictor's ``cache_identity()``);
2. only for what the strategy needs: one tiny request (``max_tokens`` 16) whose answer
   shows whether logprobs, ``response_format`` and sampling are honoured (plus one more
   when sampling is needed and ``n`` was ignored).

A strategy that needs what the server ignores fails before the run (exit 2) with the
setting that fixes it. The result is data: the engine records it in the manifest.
No SDK is imported here; the predictor passes its own client in.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from vlmfer.errors import CapabilityError, ConfigError

if TYPE_CHECKING:
    pass

logger = logging.getLogger("vlmfer")

#: What the server answered about a feature.
Verdict = Literal["honoured", "ignored", "rejected", "not checked"]

#: The tiny request's token cap: enough for ``{"label": "yes"}`` in any tokenizer.
PROBE_MAX_TOKENS = 16
#: The vlmfer emulator simulates the official API (it honours every parameter and
#: accepts any model id), so it is probed no further than its model list.
EMULATOR_OWNER = "vlmfer-emulator"

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine or a private network.

    Loopback, private, link-local and unspecified addresses, ``localhost``, the
    ``.local``/``.internal``/``.lan``/``.home.arpa`` names, and single-label host names
    (a Docker or LAN service such as ``http://vllm:8000/v1``) are local. A public name
    (a hosted OpenAI-compatible provider) is not.
    """
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return False
    single_label = "." not in host and ":" not in host
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or single_label:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified


class Needs(BaseModel):
    """What a strategy needs a server to honour."""

    model_config = ConfigDict(extra="forbid")

    logprobs: bool = False
    response_format: bool = False
    sampling: bool = False

    def any(self) -> bool:
        return self.logprobs or self.response_format or self.sampling


class ProbeResult(BaseModel):
    """What the probe learnt about one server and model (recorded in the manifest)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    model: str
    #: A guess from the model list: vllm, ollama, llama.cpp, transformers, the
    #: vlmfer emulator, or unknown.
    server: str = "unknown"
    local: bool = False
    #: The ids the server lists (the first 50).
    models: list[str] = Field(default_factory=list)
    #: What the server reports about the weights behind the id (joins the cache key).
    weights: dict[str, Any] | None = None
    #: Whether ``weights`` holds a content digest (else new weights under the same
    #: name are not noticed: use --no-cache).
    weights_digest: bool = False
    features: dict[str, str] = Field(default_factory=dict)
    #: Every request the probe made, in order.
    requests: list[str] = Field(default_factory=list)


@runtime_checkable
class ProbedPredictor(Protocol):
    """A predictor that can check its server before a run."""

    async def probe(self, needs: Needs) -> ProbeResult | None: ...


# ------------------------------------------------------------------ the model list

def server_kind(entries: list[dict[str, Any]]) -> str:
    owners = {str(e.get("owned_by", "")) for e in entries}
    if owners == {EMULATOR_OWNER}:
        return "vlmfer-emulator"
    if "vllm" in owners or any("root" in e for e in entries):
        return "vllm"
    if "llamacpp" in owners or any("meta" in e for e in entries):
        return "llama.cpp"
    if "library" in owners or "ollama" in owners:
        return "ollama"
    if any(isinstance(e.get("status"), dict) for e in entries):
        return "transformers"
    return "unknown"


def weights_identity(entry: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """What a model-list entry says about the weights behind the id (never a start time)."""
    found: dict[str, Any] = {}
    if entry.get("root") and entry.get("root") != entry.get("id"):
        found["root"] = entry["root"]  # vLLM: the checkpoint behind a served name
    if entry.get("parent"):
        found["parent"] = entry["parent"]  # vLLM: the base model of a LoRA adapter
    if isinstance(entry.get("meta"), dict):
        found["meta"] = entry["meta"]  # llama.cpp: size, parameters, vocabulary
    if kind == "ollama" and entry.get("created"):
        found["created"] = entry["created"]  # Ollama: when the model was pulled or built
    return found or None


def unknown_model_error(model: str, base_url: str, ids: list[str], kind: str) -> ConfigError:
    listed = ", ".join(ids[:30]) + (" …" if len(ids) > 30 else "") if ids else "(none)"
    more = (" (a transformers serve that is not pinned to one model loads others on "
            "demand: pin it, or skip this check with --set model.probe=false)"
            if kind == "transformers" else "")
    return ConfigError(
        f"model id {model!r} is not served by {base_url}; it serves: {listed}. Use "
        f"--model openai/<id> with one of them{more}"
    )


def fix_for(feature: str) -> str:
    """The exact settings that make a run work without ``feature``."""
    if feature == "logprobs":
        return ("use `--set model.supports_logprobs=false --set strategy.fallback=sampling` "
                "(label scores by sampling), or the hf/<folder> predictor of the "
                "vlmfer-transformers plugin, which scores labels exactly")
    if feature == "response_format":
        return ("use `--set model.supports_json_schema=false` with a strategy that parses "
                "free text (single-shot), or pass the server's own guided decoding in "
                "model.extra_body (docs/local-servers.md)")
    return ("use a server that samples (for transformers serve, a model whose "
            "generation_config.json has do_sample=true), or a strategy that does not sample "
            "(calibrated without fallback needs logprobs instead)")


def check_answer(
    body: Any, needs: Needs, *, schema_labels: list[str]
) -> dict[str, Verdict]:
    """Which features the tiny request's answer shows as honoured."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices:
        return {}
    first = choices[0] if isinstance(choices[0], dict) else {}
    found: dict[str, Verdict] = {}
    if needs.logprobs:
        content = ((first.get("logprobs") or {}).get("content") or [])
        found["logprobs"] = "honoured" if content else "ignored"
    if needs.response_format:
        text = str((first.get("message") or {}).get("content") or "")
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        ok = isinstance(obj, dict) and obj.get("label") in schema_labels
        found["response_format"] = "honoured" if ok else "ignored"
    if needs.sampling:
        found["n"] = "honoured" if len(choices) >= 2 else "ignored"
    return found


def answer_texts(body: Any) -> list[str]:
    choices = body.get("choices") if isinstance(body, dict) else None
    out = []
    for c in choices or []:
        if isinstance(c, dict):
            out.append(str((c.get("message") or {}).get("content") or ""))
    return out


def warn_without_digest(result: ProbeResult) -> None:
    """Say once, in the terminal, when new weights behind the same id go unnoticed."""
    if result.weights_digest or result.server == "vlmfer-emulator":
        return
    logger.warning(
        "openai/%s at %s: the server reports no digest of its weights, so the response "
        "cache cannot tell new weights behind the same model id: after changing them, "
        "run with --no-cache (see docs/local-servers.md)", result.model, result.base_url,
    )


def capability_failure(feature: str, result: ProbeResult, strategy_hint: str) -> CapabilityError:
    what = {"logprobs": "log-probabilities", "response_format": "response_format "
            "(structured output)", "sampling": "sampling (different answers at temperature "
            "1 with different seeds)"}[feature]
    return CapabilityError(
        f"the strategy needs {what}, and {result.base_url} ({result.server} server, model "
        f"{result.model!r}) ignores them: the probe's answer had none. Every sample would "
        f"end invalid. {strategy_hint}: {fix_for(feature)}. The probe's findings: "
        f"{result.features}"
    )
