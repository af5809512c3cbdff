"""``openai/<model>``: the OpenAI API, or any OpenAI-compatible server via ``base_url``.

Imported only when such a predictor is built (it imports the openai SDK).
Images go as ``image_url`` data URLs with ``detail``; a video goes as sampled
frames in time order, with their timestamps in the text. The SDK's own retries
are off: the engine owns retries, so a failure surfaces as one classified
``PredictorError``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

import openai
from pydantic import ValidationError

from vlmfer.errors import MediaError, PredictorError
from vlmfer.predictors import pricing, tokens
from vlmfer.predictors._common import (
    SimulatorWatch,
    WarnOnce,
    candidate_labels,
    constrained_label,
    data_url,
    frames_caption,
    image_size,
    label_logprobs,
    malformed_error,
    media_record,
    parse_retry_after,
    prepare,
    reconcile_usage,
    record_sent,
    redact,
    resolve_key,
    scaled,
    server_error_text,
    set_options,
    status_error,
    top_k,
    transport_error,
)
from vlmfer.predictors.base import Predictor
from vlmfer.predictors.openai_batch import OpenAIJobs
from vlmfer.predictors.options import OpenAIOptions
from vlmfer.predictors.probe import (
    PROBE_MAX_TOKENS,
    Needs,
    ProbeResult,
    answer_texts,
    capability_failure,
    check_answer,
    is_local_url,
    server_kind,
    unknown_model_error,
    warn_without_digest,
    weights_identity,
)
from vlmfer.types import Capabilities, Prompt, Response, Usage

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion
    from openai.types.responses import Response as OAIResponse

KEY_ENV = "OPENAI_API_KEY"
OFFICIAL_URL = "https://api.openai.com/v1"
SCHEMA_NAME = "fer_label"
#: OpenAI's reasoning models return no logprobs (the gpt-5 family up to 5.2 and the o-series,
#: as of 2026-06); on api.openai.com they declare none unless supports_logprobs=true.
REASONING_FAMILIES = ("gpt-5", "o1", "o3", "o4")
#: Default request timeouts. A local server answers one request after another on one
#: GPU (or a CPU), so a long queue is normal there.
TIMEOUT_S = 60.0
LOCAL_TIMEOUT_S = 600.0
#: Requests in flight at once to a local server, unless max_concurrent_requests says.
LOCAL_CONCURRENT_REQUESTS = 2


def _is_default_temperature(t: float) -> bool:
    return t == 1.0


def label_schema(labels: list[str]) -> dict[str, Any]:
    """A strict JSON schema whose only field is one of ``labels``."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }


class OpenAIPredictor(Predictor):
    """One chat-completions (or Responses) call per ``predict``."""

    provider = "openai"
    # A remote answer depends on the request alone: a vlmfer upgrade keeps the cache.
    code_in_cache_identity = False

    def __init__(self, model: str, options: OpenAIOptions | None = None) -> None:
        self.model = model
        self.options = opts = options or OpenAIOptions()
        key = resolve_key(
            opts.api_key.get_secret_value() if opts.api_key else None, [KEY_ENV], "openai",
            hint=" (a local OpenAI-compatible server accepts any non-empty value)",
        )
        self.base_url = (opts.base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_URL)
        self.official = self.base_url.rstrip("/").startswith("https://api.openai.com")
        self.local = (opts.local if opts.local is not None
                      else not self.official and is_local_url(self.base_url))
        self._secret = key  # only to scrub it from error messages
        self._simulator = SimulatorWatch()
        self._client = openai.AsyncOpenAI(
            api_key=key, base_url=self.base_url, max_retries=0, timeout=self._timeout(),
            http_client=openai.DefaultAsyncHttpxClient(event_hooks=self._simulator.hooks()),
        )
        self._slots: asyncio.Semaphore | None = None
        #: What the server reported about its weights (set by ``probe``).
        self.weights: dict[str, Any] | None = None
        self._warn = WarnOnce(self.name)
        json_schema = opts.supports_json_schema is not False
        self.supports = {
            "detail": opts.supports_detail is not False,
            "json_schema": json_schema,
            "logprobs": (opts.supports_logprobs if opts.supports_logprobs is not None
                         else not (self.official and model.startswith(REASONING_FAMILIES))),
            # An enum is asked as a one-field JSON schema, so it needs schema support.
            "enum": json_schema and opts.supports_enum is not False,
            "video_frames": opts.supports_video_frames is not False,
            # Reasoning models on api.openai.com take only the default temperature.
            "temperature": (opts.supports_temperature if opts.supports_temperature is not None
                            else not (self.official and model.startswith(REASONING_FAMILIES))),
        }
        if opts.max_tokens_param == "auto":
            self.max_tokens_param = "max_completion_tokens" if self.official else "max_tokens"
        else:
            self.max_tokens_param = opts.max_tokens_param
        self.capabilities = Capabilities(
            image=True,
            video=False,
            video_as_frames=self.supports["video_frames"],
            max_images=opts.max_images,
            logprobs=self.supports["logprobs"],
            enum_output=self.supports["enum"],
            json_schema=self.supports["json_schema"],
        )
        self._prices = pricing.price_table(opts.price_file)

    # ---------------------------------------------------------------- contract

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "base_url": self.base_url, "options": self.options.public()}

    def cache_identity(self) -> dict[str, Any]:
        o = self.options
        identity = {
            "name": self.name,
            "base_url": self.base_url,
            "api": o.api,
            "detail": o.detail if self.supports["detail"] else None,
            "reasoning_effort": o.reasoning_effort,
            "extra_body": o.extra_body,
            "supports": self.supports,
        }
        if self.weights is not None:  # only then, so that other cache keys stay as they were
            identity["weights"] = self.weights
        return identity

    # ---------------------------------------------------------------- local servers

    def _timeout(self) -> float:
        if self.options.timeout_s is not None:
            return self.options.timeout_s
        return LOCAL_TIMEOUT_S if self.local else TIMEOUT_S

    @property
    def retry_timeouts(self) -> bool:
        """Whether a timed-out request is retried: not on a local server, whose
        abandoned generation keeps running and delays every later request."""
        opt = self.options.retry_timeouts
        return opt if opt is not None else not self.local

    @property
    def max_concurrent_requests(self) -> int | None:
        opt = self.options.max_concurrent_requests
        return opt if opt is not None else (LOCAL_CONCURRENT_REQUESTS if self.local else None)

    async def probe(self, needs: Needs) -> ProbeResult | None:
        """Check the server before the run (see ``vlmfer.predictors.probe``).

        Off for the official API unless ``probe=true``; off entirely with ``probe=false``.
        """
        want = self.options.probe
        if want is False or (want is None and self.official):
            return None
        result = ProbeResult(base_url=self.base_url, model=self.model, local=self.local)
        entries = await self._probe_models(result)
        if entries is None:
            result.features = {"all": "not checked (the server refused the key)"}
            return result
        result.server = server_kind(entries)
        result.models = [str(e.get("id")) for e in entries][:50]
        if result.server == "vlmfer-emulator" and want is None:
            # The official API's simulator: official defaults, nothing more to learn.
            if self.options.local is None and self.local:
                self.local = result.local = False
                self._client = self._client.with_options(timeout=self._timeout())
            return result
        entry = next((e for e in entries if str(e.get("id")) == self.model), None)
        if entry is None:
            raise unknown_model_error(self.model, self.base_url,
                                      [str(e.get("id")) for e in entries], result.server)
        result.weights = weights_identity(entry, result.server)
        if result.server == "ollama":
            digest = await self._ollama_digest(result)
            if digest:
                result.weights = {**(result.weights or {}), "digest": digest}
                result.weights_digest = True
        self.weights = result.weights
        warn_without_digest(result)
        if not needs.any():
            return result
        if self.options.api != "chat":
            result.features = {"all": "not checked (api=responses)"}
            return result
        await self._probe_features(needs, result)
        for feature in ("logprobs", "response_format", "sampling"):
            if getattr(needs, feature) and result.features.get(feature) == "ignored":
                raise capability_failure(feature, result, "Fix")
        return result

    async def _probe_get(self, url: str, result: ProbeResult) -> Any:
        result.requests.append(f"GET {url}")
        return await self._client.get(url, cast_to=object)

    async def _probe_models(self, result: ProbeResult) -> list[dict[str, Any]] | None:
        from vlmfer.errors import ConfigError

        where = f"{self.base_url.rstrip('/')}/models"
        skip = "or skip this check with --set model.probe=false"
        try:
            body = await self._probe_get(where, result)
        except openai.APIConnectionError as exc:
            raise ConfigError(
                f"{self.name}: nothing answers at {self.base_url} ({type(exc).__name__}: "
                f"{redact(str(exc), self._secret)}). Start the server (docs/local-servers.md "
                f"has a recipe per server) and check the host and port in --base-url, {skip}"
            ) from None
        except openai.APIStatusError as exc:
            text = redact(server_error_text(exc.body, exc.response.text), self._secret)
            if exc.status_code == 404:
                raise ConfigError(self._missing_models_advice(text, await self._v1_answers(
                    result))) from None
            if exc.status_code in (401, 403):
                # Each request then fails with its own advice on the key (an error outcome,
                # as on the official API); the probe has nothing more to learn.
                self._warn("probe-key", f"GET {where} refused the key (HTTP "
                           f"{exc.status_code}: {text}); the server was not probed")
                return None
            raise ConfigError(
                f"{self.name}: GET {where} failed with HTTP {exc.status_code}: {text}; {skip}"
            ) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ConfigError(
                f"{self.name}: GET {where} did not return an OpenAI model list "
                f"(got {str(body)[:200]!r}); is --base-url the API root (usually ending in "
                f"/v1)? {skip}"
            )
        return [e for e in data if isinstance(e, dict)]

    async def _v1_answers(self, result: ProbeResult) -> bool:
        """Whether ``{base_url}/v1/models`` answers (the usual missing piece)."""
        if self.base_url.rstrip("/").endswith("/v1"):
            return False
        try:
            await self._probe_get(f"{self.base_url.rstrip('/')}/v1/models", result)
        except openai.APIError:
            return False
        return True

    def _missing_models_advice(self, text: str, v1_answers: bool) -> str:
        base = self.base_url.rstrip("/")
        head = (f"{self.name}: {base}/models does not exist (HTTP 404: {text}), so "
                f"--base-url {self.base_url} is not the root of an OpenAI-compatible API")
        if v1_answers:
            return f"{head}; {base}/v1/models answers: use --base-url {base}/v1"
        return (f"{head}; pass the URL that holds /models and /chat/completions (for vLLM, "
                "Ollama, llama.cpp and transformers serve it ends in /v1), or skip this "
                "check with --set model.probe=false")

    async def _ollama_digest(self, result: ProbeResult) -> str | None:
        root = self.base_url.rstrip("/").removesuffix("/v1")
        try:
            body = await self._probe_get(f"{root}/api/tags", result)
        except openai.APIError:
            return None
        for m in (body.get("models") if isinstance(body, dict) else None) or []:
            if isinstance(m, dict) and self.model in (m.get("name"), m.get("model")):
                return str(m.get("digest") or "") or None
        return None

    async def _probe_features(self, needs: Needs, result: ProbeResult) -> None:
        labels = ["yes", "no"]
        body: dict[str, Any] = {"model": self.model, self.max_tokens_param: PROBE_MAX_TOKENS}
        text = "Write ten random words."
        if needs.response_format:
            text = 'Is the sky blue? Answer as JSON: {"label": "yes"} or {"label": "no"}.'
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True,
                                "schema": label_schema(labels)},
            }
        if needs.logprobs:
            body.update(logprobs=True, top_logprobs=2)
        if needs.sampling:
            body.update(n=2, temperature=1.0, seed=1)
        body["messages"] = [{"role": "user", "content": text}]
        body.update(self.options.extra_body or {})
        try:
            answer = await self._probe_post(body, result)
        except openai.APIStatusError as exc:
            if "n" not in body:
                raise self._probe_failed(exc, body) from None
            # Some servers refuse n > 1 (llama.cpp); sampling is asked one answer at a time.
            body = {k: v for k, v in body.items() if k != "n"}
            try:
                answer = await self._probe_post(body, result)
            except openai.APIStatusError as exc2:
                raise self._probe_failed(exc2, body) from None
            answer = {**answer, "n_rejected": True} if isinstance(answer, dict) else answer
        result.features = {k: str(v) for k, v in
                           check_answer(answer, needs, schema_labels=labels).items()}
        if not needs.sampling:
            return
        if isinstance(answer, dict) and answer.get("n_rejected"):
            result.features["n"] = "rejected"
        texts = answer_texts(answer)
        if len(texts) < 2:  # n ignored: a second request with another seed tells
            second = {k: v for k, v in body.items() if k != "n"}
            try:
                other = await self._probe_post({**second, "seed": 2}, result)
            except openai.APIStatusError as exc3:
                raise self._probe_failed(exc3, second) from None
            texts = texts[:1] + answer_texts(other)[:1]
        result.features["sampling"] = "honoured" if len(set(texts)) > 1 else "ignored"

    def _probe_failed(self, exc: openai.APIStatusError, body: dict[str, Any]) -> Exception:
        from vlmfer.errors import ConfigError

        sent = ", ".join(k for k in body if k not in ("model", "messages"))
        text = redact(server_error_text(exc.body, exc.response.text), self._secret)
        return ConfigError(
            f"{self.name}: the capability probe's tiny request to {self.base_url} failed "
            f"with HTTP {exc.status_code}: {text}. It carried {sent}, as the run's "
            "requests would; turn off what the server rejects (docs/local-servers.md), "
            "or skip the probe with --set model.probe=false"
        )

    async def _probe_post(self, body: dict[str, Any], result: ProbeResult) -> Any:
        """One tiny request; an ``APIStatusError`` is the caller's to explain."""
        from vlmfer.errors import ConfigError

        sent = ", ".join(k for k in body if k not in ("model", "messages"))
        result.requests.append(f"POST {self.base_url.rstrip('/')}/chat/completions ({sent})")
        try:
            return await self._client.post("/chat/completions", body=body, cast_to=object)
        except openai.APIConnectionError as exc:
            raise ConfigError(
                f"{self.name}: the capability probe's tiny request to {self.base_url} got no "
                f"answer ({type(exc).__name__}); is the server still loading the model? "
                "Retry, raise model.timeout_s, or skip the probe with --set model.probe=false"
            ) from None

    def cost_usd(self, response: Response) -> float | None:
        return self._prices.response_cost("openai", self.model, response)

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        """Text at ~4 characters a token plus images by OpenAI's tile rule."""
        from vlmfer.media import probe_video

        total = tokens.text_tokens(prompt.system) + tokens.text_tokens(prompt.text)
        total += tokens.MESSAGE_OVERHEAD * (2 if prompt.system else 1)
        spec = prompt.media_spec
        for m in prompt.media:
            if m.kind == "image":
                w, h = scaled(image_size(m.path), spec.max_side)
                total += self._image_tokens(w, h)
            else:
                try:
                    info = probe_video(m.path)
                except MediaError:
                    total += 8 * self._image_tokens(768, 768)
                    continue
                n = tokens.frames_in_spec(spec.frames, duration_s=info.duration_s,
                                          frame_count=info.frame_count)
                w, h = scaled((info.width, info.height), spec.max_side)
                total += min(n, self.options.max_images) * self._image_tokens(w, h)
                total += tokens.text_tokens("Frame 10 at 0.00 s, ") * n
        return total

    def _image_tokens(self, width: int, height: int) -> int:
        detail = self.options.detail if self.supports["detail"] else "auto"
        return tokens.openai_image_tokens(width, height, detail, self.model)

    async def aclose(self) -> None:
        await self._client.close()

    # ---------------------------------------------------------------- request

    async def _content(
        self, prompt: Prompt, api: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        prepared = []
        for m in prompt.media:
            if m.kind == "video" and not self.supports["video_frames"]:
                raise PredictorError(
                    f"{self.name}: {m.path} is a video, and this predictor was configured "
                    "with supports_video_frames=false; use an image dataset or allow frames",
                    retryable=False, kind="capability",
                )
            prepared.append(await prepare(m, prompt.media_spec,
                                          "image" if m.kind == "image" else "frames"))
        n_images = sum(len(p.parts) for p in prepared)
        if n_images > self.options.max_images:
            raise PredictorError(
                f"{self.name}: this request would carry {n_images} images, over the cap of "
                f"{self.options.max_images}; sample fewer frames (e.g. frames='uniform:8') or "
                "send fewer media per prompt",
                retryable=False, kind="too_many_images",
            )
        detail = self.options.detail if self.supports["detail"] else None
        content: list[dict[str, Any]] = []
        n_videos = sum(1 for m in prompt.media if m.kind == "video")
        estimate = 0
        for i, (m, prep) in enumerate(zip(prompt.media, prepared, strict=True), start=1):
            if m.kind == "video":
                caption = frames_caption(prep.parts, i if n_videos > 1 else None)
                content.append(_text_part(api, caption))
                estimate += tokens.text_tokens(caption)
            for part in prep.parts:
                content.append(_image_part(api, data_url(part), detail))
                if part.width and part.height:
                    estimate += self._image_tokens(part.width, part.height)
        content.append(_text_part(api, prompt.text))
        estimate += tokens.text_tokens(prompt.text) + tokens.text_tokens(prompt.system)
        estimate += tokens.MESSAGE_OVERHEAD * (2 if prompt.system else 1)
        info: dict[str, Any] = {
            "detail": detail,
            "images": n_images,
            "estimated_input_tokens": estimate,
        }
        if prepared:
            info["media"] = media_record(prepared)
        return content, info

    def _constraint(self, prompt: Prompt, dropped: dict[str, str]) -> str | None:
        if prompt.constraint is None:
            return None
        kind = prompt.constraint.kind
        ok = self.supports["json_schema"] if kind == "json_schema" else self.supports["enum"]
        if not ok:
            dropped[f"constraint:{kind}"] = (f"the server does not take {kind} output "
                                             "(supports_json_schema or supports_enum is false)")
            self._warn(f"constraint:{kind}", f"this server does not support {kind} output "
                       "(supports_json_schema or supports_enum is false); asking without it")
            return None
        return kind

    def _temperature_ok(self, temperature: float) -> bool:
        if self.supports["temperature"] or _is_default_temperature(temperature):
            return True
        self._warn("temperature", f"{self.model} takes only the default temperature; "
                   f"temperature={temperature} is not sent")
        return False

    async def _request(
        self, prompt: Prompt
    ) -> tuple[dict[str, Any], list[str], str | None, dict[str, Any]]:
        """The SDK ``create`` arguments, the candidate labels, the constraint kind and details.

        Shared by ``predict`` and ``batch_request``, so an online call and a batch line carry
        the same request.
        """
        api = self.options.api
        content, details = await self._content(prompt, api)
        dropped: dict[str, str] = {}
        kind = self._constraint(prompt, dropped)
        labels = candidate_labels(prompt) or []
        want_logprobs = prompt.options.logprobs
        if want_logprobs and not self.supports["logprobs"]:
            want_logprobs = False
            dropped["logprobs"] = (f"{self.model} returns none here (supports_logprobs=true "
                                   "overrides)")
            self._warn("logprobs", "this model or server returns no logprobs (override with "
                       "supports_logprobs=true); asking without them")
        details["api"] = api
        k = top_k(prompt, labels)
        if api == "responses":
            kwargs = self._responses_kwargs(prompt, content, kind, want_logprobs, k)
        else:
            kwargs = self._chat_kwargs(prompt, content, kind, want_logprobs, k)
        o = prompt.options
        if o.temperature is not None and "temperature" not in kwargs:
            dropped["temperature"] = (
                f"{self.model} does not accept it (only its default, 1)" if self.official
                else "supports_temperature=false")
        if o.seed is not None and "seed" not in kwargs:
            dropped["seed"] = "the Responses API takes no seed"
        record_sent(details, kwargs, dropped)
        return kwargs, labels, kind, details

    async def predict(self, prompt: Prompt) -> Response:
        """One call; media is prepared in a worker thread first."""
        kwargs, labels, kind, details = await self._request(prompt)
        api = details["api"]
        limit = self.max_concurrent_requests
        if limit is not None and self._slots is None:
            self._slots = asyncio.Semaphore(limit)
        if self._slots is not None:
            await self._slots.acquire()
        start = time.perf_counter()
        try:
            raw: Any = await self._send(api, kwargs)
        except openai.APIStatusError as exc:
            # Not chained: OpenAI's 401 text echoes part of the key.
            raise self._status_error(exc) from None
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise transport_error(exc, predictor=self.name, where=self.base_url,
                                  retry_timeout=self.retry_timeouts) from exc
        except (openai.APIResponseValidationError, ValidationError, ValueError) as exc:
            # A non-JSON or schema-breaking 200 body (json.JSONDecodeError is a ValueError).
            raise malformed_error(redact(f"{type(exc).__name__}: {str(exc)[:300]}", self._secret),
                                  predictor=self.name, where=self.base_url) from exc
        finally:
            if self._slots is not None:
                self._slots.release()
        latency = time.perf_counter() - start
        if api == "responses":
            response = self._parse_responses(raw, labels, kind, details)
        else:
            response = self._parse_chat(raw, labels, kind, details)
        response.latency_s = latency
        return self._simulator.settle(response, self.cost_usd(response))

    async def _send(self, api: str, kwargs: dict[str, Any]) -> ChatCompletion | OAIResponse:
        """One call through the SDK's client, with the body already in its wire form.

        ``chat.completions.create(**kwargs)`` would first walk the arguments against the
        SDK's TypedDict annotations, to rename aliased keys and format dates. vlmfer's
        requests hold neither, and that walk costs about 1 ms of CPU a request
        (``benchmarks/README.md``). So the body goes to the same client's ``post``, the
        JSON ``create`` would send (``tests/predictors/test_openai.py`` compares the two on
        the wire for each kind of request vlmfer builds). The rest is the SDK's: the key and
        headers, timeouts, errors and the typed response.
        """
        # The bearer key alone, as ``create`` asks, not an admin key the client may hold
        # (SDKs before ``security`` existed ignore the option: the bearer key is all they send).
        if api == "responses":
            from openai.types.responses import Response as OAIResponse

            return await self._client.post("/responses", body=wire_body(kwargs),
                                           cast_to=OAIResponse,
                                           options={"security": {"bearer_auth": True}})
        from openai.types.chat import ChatCompletion

        return await self._client.post("/chat/completions", body=wire_body(kwargs),
                                       cast_to=ChatCompletion,
                                       options={"security": {"bearer_auth": True}})

    # ---------------------------------------------------------------- batch

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client (its base_url and key), for the batch API."""
        return self._client

    @property
    def batch_endpoint(self) -> str:
        """The endpoint every line of a batch input file names."""
        return "/v1/responses" if self.options.api == "responses" else "/v1/chat/completions"

    def batch_jobs(self) -> OpenAIJobs:
        """OpenAI's Batch API through this predictor's client (same base_url and key)."""
        return OpenAIJobs(self.name, self._client, self.batch_endpoint, self.base_url)

    async def batch_request(self, prompt: Prompt) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request body of one batch line, and what ``parse_batch_result`` needs later.

        The body is what ``predict`` would send (vendor ``extra_body`` merged in, as the SDK
        does). The context is JSON: the candidate labels, the constraint kind and the details.
        """
        kwargs, labels, kind, details = await self._request(prompt)
        return wire_body(kwargs), {"api": details["api"], "labels": labels, "kind": kind,
                                   "details": details}

    def parse_batch_result(self, body: Any, context: dict[str, Any]) -> Response:
        """Parse one batch result body exactly as ``predict`` parses an answer.

        The response is marked ``details["batch"]`` and priced at the batch rate.
        """
        from openai.types.chat import ChatCompletion
        from openai.types.responses import Response as OAIResponse

        if not isinstance(body, dict):
            raise malformed_error(f"a batch result body is a {type(body).__name__}, not an "
                                  "object", predictor=self.name, where=self.base_url)
        details = {**context.get("details", {}), "batch": True}
        labels = list(context.get("labels") or [])
        kind = context.get("kind")
        # construct() builds nested models without validation, as the SDK does for replies.
        if context.get("api") == "responses":
            response = self._parse_responses(OAIResponse.construct(**body), labels, kind,
                                             details)
        else:
            response = self._parse_chat(ChatCompletion.construct(**body), labels, kind, details)
        return self._simulator.settle(response, self.cost_usd(response))

    def _status_error(self, exc: openai.APIStatusError) -> PredictorError:
        # The server's own words (OpenAI's error.message, FastAPI's detail, or the raw
        # body), never the SDK's generic "Error code: 422".
        try:
            raw = exc.response.text
        except Exception:  # a streamed body that cannot be read again
            raw = None
        detail = server_error_text(exc.body, raw) or exc.message
        return status_error(
            exc.status_code, redact(detail, self._secret), predictor=self.name, key_env=KEY_ENV,
            where=self.base_url,
            retry_after=parse_retry_after(exc.response.headers),
            # A server that answers in OpenAI's own words (the emulator) gets OpenAI's advice.
            compatible=not self.official and exc.code != "model_not_found",
            local=self.local,
        )

    def _chat_kwargs(
        self, prompt: Prompt, content: list[dict[str, Any]], kind: str | None,
        want_logprobs: bool, k: int,
    ) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": content})
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        o = prompt.options
        if o.temperature is not None and self._temperature_ok(o.temperature):
            kwargs["temperature"] = o.temperature
        kwargs.update(set_options(o, top_p="top_p", seed="seed",
                                  max_tokens=self.max_tokens_param))
        if want_logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = k
        if kind is not None and prompt.constraint is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True,
                                "schema": label_schema(prompt.constraint.labels)},
            }
        if self.options.reasoning_effort is not None:
            kwargs["reasoning_effort"] = self.options.reasoning_effort
        if self.options.extra_body:
            kwargs["extra_body"] = self.options.extra_body
        return kwargs

    def _responses_kwargs(
        self, prompt: Prompt, content: list[dict[str, Any]], kind: str | None,
        want_logprobs: bool, k: int,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "input": [{"role": "user", "content": content}],
            # Some compatible servers (transformers serve) stream unless told not to.
            "stream": False,
        }
        o = prompt.options
        if prompt.system:
            kwargs["instructions"] = prompt.system
        if o.temperature is not None and self._temperature_ok(o.temperature):
            kwargs["temperature"] = o.temperature
        kwargs.update(set_options(o, top_p="top_p", max_tokens="max_output_tokens"))
        if o.seed is not None:
            self._warn("seed", "the Responses API takes no seed; it is not sent")
        if want_logprobs:
            kwargs["top_logprobs"] = k
            kwargs["include"] = ["message.output_text.logprobs"]
        if kind is not None and prompt.constraint is not None:
            kwargs["text"] = {"format": {"type": "json_schema", "name": SCHEMA_NAME,
                                         "strict": True,
                                         "schema": label_schema(prompt.constraint.labels)}}
        if self.options.reasoning_effort is not None:
            kwargs["reasoning"] = {"effort": self.options.reasoning_effort}
        if self.options.extra_body:
            kwargs["extra_body"] = self.options.extra_body
        return kwargs

    # ---------------------------------------------------------------- parsing

    def _check_type(self, raw: Any, expected: type) -> None:
        if not isinstance(raw, expected):
            raise malformed_error(
                f"expected a JSON {expected.__name__}, got {type(raw).__name__}",
                predictor=self.name, where=self.base_url,
            )

    def _parse_chat(
        self, raw: Any, labels: list[str], kind: str | None, details: dict[str, Any]
    ) -> Response:
        from openai.types.chat import ChatCompletion

        self._check_type(raw, ChatCompletion)
        if not raw.choices:
            raise malformed_error("the response has no choices", predictor=self.name,
                                  where=self.base_url)
        choice = raw.choices[0]
        message = choice.message
        usage = _chat_usage(raw.usage)
        reconcile_usage(details, usage)
        finish = choice.finish_reason
        common: dict[str, Any] = {"usage": usage, "model_version": raw.model,
                                  "finish_reason": finish, "details": details}
        if getattr(message, "refusal", None):
            return Response(text=None, status="refused", reason=message.refusal, **common)
        text = message.content
        if finish == "content_filter":
            details["partial_text"] = text
            return Response(text=None, status="blocked", reason="content_filter", **common)
        positions = [
            (t.token, [(a.token, a.logprob) for a in (t.top_logprobs or [])]
             or [(t.token, t.logprob)])
            for t in ((choice.logprobs.content if choice.logprobs else None) or [])
        ]
        return _answer(text, positions, labels, kind, common)

    def _parse_responses(
        self, raw: Any, labels: list[str], kind: str | None, details: dict[str, Any]
    ) -> Response:
        from openai.types.responses import Response as OAIResponse

        self._check_type(raw, OAIResponse)
        usage = Usage()
        if raw.usage is not None:
            reasoning = raw.usage.output_tokens_details.reasoning_tokens or 0
            usage = Usage(
                input_tokens=raw.usage.input_tokens,
                output_tokens=max(0, raw.usage.output_tokens - reasoning),
                thinking_tokens=reasoning,
                cached_input_tokens=raw.usage.input_tokens_details.cached_tokens or 0,
            )
        reconcile_usage(details, usage)
        texts: list[str] = []
        refusal = None
        positions: list[tuple[str, list[tuple[str, float]]]] = []
        for item in raw.output or []:
            if getattr(item, "type", None) != "message":
                continue
            for part in item.content:
                if part.type == "refusal":
                    refusal = part.refusal
                elif part.type == "output_text":
                    texts.append(part.text)
                    for lp in part.logprobs or []:
                        alts = [(a.token, a.logprob) for a in lp.top_logprobs]
                        positions.append((lp.token, alts or [(lp.token, lp.logprob)]))
        reason = raw.incomplete_details.reason if raw.incomplete_details else None
        finish = {"max_output_tokens": "length", "content_filter": "content_filter"}.get(
            reason or "", reason or ("stop" if raw.status == "completed" else raw.status)
        )
        common: dict[str, Any] = {"usage": usage, "model_version": raw.model,
                                  "finish_reason": finish, "details": details}
        if refusal:
            return Response(text=None, status="refused", reason=refusal, **common)
        text = "".join(texts) if texts else None
        if reason == "content_filter":
            details["partial_text"] = text
            return Response(text=None, status="blocked", reason="content_filter", **common)
        if raw.status == "failed":
            msg = raw.error.message if raw.error else "no detail"
            raise malformed_error(f"the response failed: {msg}", predictor=self.name,
                                  where=self.base_url)
        return _answer(text, positions, labels, kind, common)


def _answer(
    text: str | None,
    positions: list[tuple[str, list[tuple[str, float]]]],
    labels: list[str],
    kind: str | None,
    common: dict[str, Any],
) -> Response:
    logprobs = None
    if positions and labels and text:
        logprobs = label_logprobs(positions, text, labels, kind)
    label = constrained_label(text, labels, kind) if kind else None
    if kind == "enum" and label is not None and text is not None:
        # OpenAI has no bare enum output: the schema wraps the label in JSON.
        # Unwrap it so an enum answer is the label itself on every predictor.
        common["details"]["raw_text"] = text
        text = label
    return Response(text=text, logprobs=logprobs, **common)


def _chat_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    reasoning = 0
    if usage.completion_tokens_details is not None:
        reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    cached = 0
    if usage.prompt_tokens_details is not None:
        cached = usage.prompt_tokens_details.cached_tokens or 0
    # Reasoning tokens are part of completion_tokens; keep them apart so that
    # output + thinking is what is billed, as for Gemini.
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=max(0, (usage.completion_tokens or 0) - reasoning),
        thinking_tokens=reasoning,
        cached_input_tokens=cached,
    )


def wire_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The JSON body ``create(**kwargs)`` sends: the arguments, with the vendor
    ``extra_body`` merged in at the top level (as the SDK merges it)."""
    body = {k: v for k, v in kwargs.items() if k != "extra_body"}
    body.update(kwargs.get("extra_body") or {})
    return body


def _text_part(api: str, text: str) -> dict[str, Any]:
    return {"type": "input_text" if api == "responses" else "text", "text": text}


def _image_part(api: str, url: str, detail: str | None) -> dict[str, Any]:
    if api == "responses":
        part: dict[str, Any] = {"type": "input_image", "image_url": url}
        if detail:
            part["detail"] = detail
        return part
    image: dict[str, Any] = {"url": url}
    if detail:
        image["detail"] = detail
    return {"type": "image_url", "image_url": image}
