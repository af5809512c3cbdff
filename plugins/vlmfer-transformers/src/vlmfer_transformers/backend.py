"""``hf/<model-or-path>``: a local image-text-to-text model run through transformers.

This module imports torch and transformers; only the factory imports it.

One ``predict`` is one of:
- generation (greedy unless ``temperature > 0``), plus exact label scores when the
  prompt asks for log-probabilities and names its labels;
- with a response constraint: label scoring only, and the answer is the best label
  (or a label drawn from the scores when ``temperature > 0``).

Label scores are the summed token log-probabilities of each label's text right
after the rendered prompt and its generation prompt, computed for all labels in
one batched forward pass, then log-softmaxed over the labels.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import inspect
import io
import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from PIL import Image
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
from vlmfer.errors import (
    ConfigError,
    MissingDependencyError,
    MissingResourceError,
    PredictorError,
)
from vlmfer.media import parse_frame_spec, prepare_media
from vlmfer.predictors.base import Predictor
from vlmfer.types import Capabilities, Prompt, Response, Usage

from vlmfer_transformers.options import HFOptions
from vlmfer_transformers.scores import (
    argmax_label,
    logsumexp,
    normalise_label_scores,
    sample_label,
)

logger = logging.getLogger("vlmfer")

#: Bumped when the scoring changes, so cached answers from the old rule are not reused.
SCORING = "exact-continuation/1"
#: Stands in for -inf: JSON (and so the cache) cannot hold infinities.
_FLOOR = -1e30
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")

# transformers' Auto classes are only partly typed; they are used dynamically here.
_AUTO_PROCESSOR: Any = AutoProcessor
_AUTO_MODEL: Any = AutoModelForImageTextToText

#: One media item of a prompt: its kind, and its images with their times (frames).
MediaItem = tuple[str, list[tuple[Image.Image, float | None]]]


def _download_hint(model: str) -> str:
    repo = model if _REPO_ID.match(model) else "<org>/<model>"
    return (
        "The hf predictor never downloads. On a machine with Hub access, save the model to a "
        f"folder (`hf download {repo} --local-dir models/<name>`), copy it here, and use "
        "hf/models/<name>; set HF_HUB_OFFLINE=1 to keep every Hugging Face library offline"
    )


def resolve_model_dir(model: str) -> Path:
    """The local folder of ``model``: a directory, or a repo id already in the HF cache."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MissingResourceError(
                f"hf/{model}: config.json", path.resolve() / "config.json",
                "point hf/ at the folder that holds config.json, the weights and the processor "
                "files (as written by save_pretrained)",
                problem=f"the folder {path.resolve()} has no config.json, so it is not a saved "
                "transformers model",
            )
        return path.resolve()
    if path.exists():
        raise ConfigError(f"hf/{model}: {path.resolve()} is a file; hf/ needs the model's folder")
    if _REPO_ID.match(model) and not model.startswith((".", "~")):
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(model, local_files_only=True))
        except (LocalEntryNotFoundError, OSError, ValueError):
            raise MissingResourceError(
                f"hf/{model}: the model", path.resolve(), _download_hint(model),
                problem=f"there is no folder {path.resolve()} and no copy of the Hub repo "
                f"{model!r} in the local Hugging Face cache ({constants.HF_HUB_CACHE})",
            ) from None
    raise MissingResourceError(
        f"hf/{model}: the model folder", path.resolve(),
        "give the path of a saved model folder (it holds config.json), e.g. "
        "hf/models/qwen2-vl. " + _download_hint(model),
        problem=f"there is no folder {path.resolve()}",
    )


def _weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


def fingerprint(path: Path, chat_template: str | None) -> str:
    """What identifies the model's answers: its config, its weight files' names, sizes
    and modification times, and the chat template. Cheap: weights are not read."""
    h = hashlib.sha256()
    h.update((path / "config.json").read_bytes())
    for p in _weight_files(path):
        st = p.stat()
        # mtime too: weights fine-tuned in place keep their size.
        h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    index = path / "model.safetensors.index.json"
    if index.is_file():
        h.update(index.read_bytes())
    h.update((chat_template or "").encode("utf-8"))
    return h.hexdigest()


class HFPredictor(Predictor):
    """A local transformers image-text-to-text model. Weights load on the first call."""

    provider = "hf"

    def __init__(self, model: str, options: HFOptions | None = None) -> None:
        self.model = model
        self.options = opts = options or HFOptions()
        self.path = resolve_model_dir(model)
        self.device = self._device(opts.device)
        self.config = self._config()
        self.processor = self._processor()
        self.tokenizer: Any = self.processor.tokenizer
        self.chat_template = self._chat_template()
        self.fingerprint = fingerprint(self.path, self.chat_template)
        if not _weight_files(self.path):
            raise ConfigError(
                f"{self.name}: {self.path} holds no weight files "
                f"({', '.join(_WEIGHT_SUFFIXES)}); the folder looks incomplete. Save the model "
                "with save_pretrained, or download every file of the repo"
            )
        self.capabilities = Capabilities(
            image=True, video=False, video_as_frames=True, max_images=opts.max_images,
            logprobs=True, enum_output=True, json_schema=False,
        )
        self._model: Any = None
        self._load_error: PredictorError | None = None
        # One model, one device: calls take turns (and seeding stays deterministic).
        self._lock = threading.Lock()
        self._image_tokens: dict[int, int] = {}

    # ---------------------------------------------------------------- loading

    def _device(self, device: str) -> str:
        if device == "auto":
            return device
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ConfigError(
                f"hf/{self.model}: device {device!r} is not a torch device; use cpu, cuda, "
                "cuda:N, mps or auto"
            ) from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"hf/{self.model}: device {device!r} asked for, but this torch "
                f"({torch.__version__}) sees no CUDA device; use device='cpu'"
            )
        return str(dev)

    def _config(self) -> Any:
        try:
            config = AutoConfig.from_pretrained(
                self.path, local_files_only=True, trust_remote_code=self.options.trust_remote_code
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"hf/{self.model}: cannot read {self.path / 'config.json'}: {exc}. If the model "
                "is newer than transformers "
                f"{transformers.__version__}, upgrade transformers (within <6)"
            ) from None
        model_type = getattr(config, "model_type", None)
        auto_map = getattr(config, "auto_map", None) or {}
        if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and (
            "AutoModelForImageTextToText" not in auto_map
        ):
            valid = ", ".join(sorted(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES))
            raise ConfigError(
                f"hf/{self.model}: model type {model_type!r} is not an image-text-to-text "
                f"model in transformers {transformers.__version__}, so it cannot look at "
                f"images. Use a vision-language model; supported types: {valid}"
            )
        return config

    def _processor(self) -> Any:
        try:
            processor = _AUTO_PROCESSOR.from_pretrained(
                self.path, local_files_only=True, trust_remote_code=self.options.trust_remote_code
            )
        except ImportError as exc:
            msg = str(exc).strip()
            if "torchvision" in msg.lower():
                m = re.match(r"(\w+) requires", msg)
                part = m.group(1) if m else "its processor"
                raise MissingDependencyError(
                    f"hf/{self.model}: the processor of this {self.config.model_type} model "
                    f"({part}, in transformers {transformers.__version__})",
                    "torchvision  # the release built for your torch; see the plugin README",
                ) from None
            raise ConfigError(f"hf/{self.model}: cannot load its processor: {msg}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"hf/{self.model}: cannot load the processor from {self.path}: {exc}. The "
                "folder needs the processor files too (processor_config.json or "
                "preprocessor_config.json, and the tokenizer files)"
            ) from None
        if not hasattr(processor, "image_processor") or not hasattr(processor, "tokenizer"):
            raise ConfigError(
                f"hf/{self.model}: {self.path} has a {type(processor).__name__} but no image "
                "processor, so images cannot be encoded; the folder needs "
                "preprocessor_config.json (or processor_config.json)"
            )
        return processor

    def _chat_template(self) -> str:
        file = self.options.chat_template_file
        if file is not None:
            try:
                template = Path(file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"hf/{self.model}: option chat_template_file: cannot read {file} "
                    f"({exc.strerror}); give a Jinja chat template file"
                ) from None
            self.processor.chat_template = template
            return template
        found: Any = getattr(self.processor, "chat_template", None) or getattr(
            self.tokenizer, "chat_template", None
        )
        if not found or not isinstance(found, str):
            raise ConfigError(
                f"hf/{self.model}: {self.path} has no chat template (chat_template.jinja or "
                "chat_template in the processor/tokenizer config), so prompts cannot be "
                "rendered. Pass one with the option chat_template_file=<file.jinja>"
            )
        if not getattr(self.processor, "chat_template", None):
            self.processor.chat_template = found
        return found

    def _torch_dtype(self) -> Any:
        name = self.options.dtype
        if name == "auto":
            return torch.float32 if self.device == "cpu" else "auto"
        return getattr(torch, name)

    def load(self) -> None:
        """Load the weights now (``predict`` does it on first use)."""
        with self._lock:
            self._ensure_model()

    def _ensure_model(self) -> Any:
        if self._model is not None:
            return self._model
        if self._load_error is not None:
            raise self._load_error
        kwargs: dict[str, Any] = {
            "local_files_only": True,
            "trust_remote_code": self.options.trust_remote_code,
            "dtype": self._torch_dtype(),
        }
        if self.device == "auto":
            kwargs["device_map"] = "auto"
        from transformers.utils import logging as hf_logging_module

        hf_logging: Any = hf_logging_module
        logger.info("%s: loading weights from %s", self.name, self.path)
        started = time.perf_counter()
        # The engine owns progress output: no loading bar of transformers' own.
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model: Any = _AUTO_MODEL.from_pretrained(self.path, **kwargs)
            if self.device != "auto":
                model = model.to(self.device)
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            # Remembered: every later call fails the same way without reloading.
            self._load_error = PredictorError(
                f"{self.name}: cannot load the weights from {self.path}: "
                f"{type(exc).__name__}: {exc}",
                retryable=False, kind="load",
            )
            raise self._load_error from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        logger.info("%s: loaded in %.1f s", self.name, time.perf_counter() - started)
        model.eval()
        self._model = model
        return model

    # ---------------------------------------------------------------- contract

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "model_type": self.config.model_type,
            "fingerprint": self.fingerprint,
            "options": self.options.public(),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }

    def cache_identity(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "dtype": o.dtype,
            "max_new_tokens": o.max_new_tokens,
            "scoring": SCORING,
        }

    def cost_usd(self, response: Response) -> float | None:
        """Zero: a local model has no per-call price (hardware and power are not counted)."""
        return 0.0

    def estimate_input_tokens(self, prompt: Prompt) -> int:
        """Text at ~4 characters a token plus the processor's token count per image.

        No tokenizer call here: the tokenizer may be busy in a worker thread.
        """
        side = prompt.media_spec.max_side or 768
        per_image = self._tokens_per_image(side)
        images = 0
        for m in prompt.media:
            if m.kind == "image":
                images += 1
                continue
            try:
                spec = parse_frame_spec(prompt.media_spec.frames)
            except ConfigError:
                images += 8
                continue
            images += spec.n if spec.kind == "uniform" and spec.n else (
                1 if spec.kind == "middle" else 8)
        text = len(prompt.text) + len(prompt.system or "")
        return max(1, text // 4) + 16 + images * per_image

    def _tokens_per_image(self, side: int) -> int:
        if side not in self._image_tokens:
            count = 256
            try:
                data = self.processor._get_num_multimodal_tokens(image_sizes=[[side, side]])
                count = int(data.num_image_tokens[0])
            except Exception:  # private API: an estimate only, so any failure falls back
                pass
            self._image_tokens[side] = count
        return self._image_tokens[side]

    async def aclose(self) -> None:
        """Drop the weights (a later call loads them again)."""
        # No lock: a call still running keeps its own reference to the model.
        self._model = None

    # ---------------------------------------------------------------- predict

    async def predict(self, prompt: Prompt) -> Response:
        """Prepare media, then generate and/or score labels, in a worker thread."""
        start = time.perf_counter()
        media, records = await asyncio.to_thread(self._media, prompt)
        response = await asyncio.to_thread(self._predict_sync, prompt, media)
        if records:
            response.details["media"] = records
        response.latency_s = time.perf_counter() - start
        response.cost_usd = 0.0
        return response

    def _media(self, prompt: Prompt) -> tuple[list[MediaItem], list[dict[str, Any]]]:
        """Each media item decoded to PIL images, and the media layer's account of it."""
        items: list[MediaItem] = []
        records: list[dict[str, Any]] = []
        for m in prompt.media:
            prepared = prepare_media(m, prompt.media_spec,
                                     as_="image" if m.kind == "image" else "frames")
            images: list[tuple[Image.Image, float | None]] = []
            for part in prepared.parts:
                with Image.open(io.BytesIO(part.data)) as im:
                    images.append((im.convert("RGB"), part.time_s))
            items.append((m.kind, images))
            records.append(dict(prepared.record, source=str(prepared.source)))
        n_images = sum(len(parts) for _, parts in items)
        if n_images > self.options.max_images:
            raise PredictorError(
                f"{self.name}: this prompt would carry {n_images} images, over max_images="
                f"{self.options.max_images}; sample fewer frames (e.g. frames='uniform:8') or "
                "raise the max_images option if the model and memory allow",
                retryable=False, kind="too_many_images",
            )
        return items, records

    def _messages(
        self, prompt: Prompt, media: list[MediaItem], *, merge_system: bool
    ) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        n_videos = sum(1 for kind, _ in media if kind == "video")
        video_no = 0
        for kind, parts in media:
            if kind == "video":
                video_no += 1
                content.append({"type": "text", "text": _frames_caption(
                    [t for _, t in parts], video_no if n_videos > 1 else None)})
            content.extend({"type": "image", "image": img} for img, _ in parts)
        text = prompt.text
        if merge_system and prompt.system:
            text = f"{prompt.system}\n\n{text}"
        content.append({"type": "text", "text": text})
        messages: list[dict[str, Any]] = []
        if prompt.system and not merge_system:
            messages.append({"role": "system",
                             "content": [{"type": "text", "text": prompt.system}]})
        messages.append({"role": "user", "content": content})
        return messages

    def _render(
        self, prompt: Prompt, media: list[MediaItem]
    ) -> tuple[list[dict[str, Any]], str, bool]:
        """The conversation and its rendered text. A template that refuses a system
        turn gets the system text at the head of the user turn instead."""
        from jinja2.exceptions import TemplateError

        merged = False
        messages = self._messages(prompt, media, merge_system=False)
        try:
            text = self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False)
        except TemplateError as exc:
            if not prompt.system:
                raise self._template_error(exc) from exc
            merged = True
            messages = self._messages(prompt, media, merge_system=True)
            try:
                text = self.processor.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=False)
            except TemplateError as exc2:
                raise self._template_error(exc2) from exc2
        if isinstance(text, list):
            text = text[0]
        return messages, str(text), merged

    def _template_error(self, exc: Exception) -> PredictorError:
        return PredictorError(
            f"{self.name}: the chat template cannot render this prompt ({exc}); pass a "
            "template that takes a user turn of images and text with chat_template_file",
            retryable=False, kind="template",
        )

    def _encode(self, messages: list[dict[str, Any]], n: int) -> dict[str, Any]:
        conversations = [messages] * n
        enc = self.processor.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt",
        )
        device, dtype = self._model.device, self._model.dtype
        out: dict[str, Any] = {}
        for key, value in dict(enc).items():
            if isinstance(value, torch.Tensor):
                # Pixels follow the weights' dtype (bfloat16 models get bfloat16 pixels).
                value = value.to(device, dtype=dtype) if value.is_floating_point() \
                    else value.to(device)
            out[key] = value
        return out

    def _labels(self, prompt: Prompt) -> list[str] | None:
        if prompt.constraint is not None:
            return list(prompt.constraint.labels)
        if prompt.options.logprobs and prompt.label_order:
            return list(prompt.label_order)
        return None

    def _predict_sync(self, prompt: Prompt, media: list[MediaItem]) -> Response:
        labels = self._labels(prompt)
        if labels is not None and (
            not labels or len(set(labels)) != len(labels) or not all(labels)
        ):
            raise PredictorError(
                f"{self.name}: the prompt's labels {labels} must be distinct and non-empty",
                retryable=False, kind="bad_request",
            )
        with self._lock:
            model = self._ensure_model()
            messages, text, merged = self._render(prompt, media)
            details: dict[str, Any] = {
                "images": sum(len(parts) for _, parts in media),
                "prompt_chars": len(text),
            }
            if merged:
                details["system_merged_into_user"] = True
            try:
                with torch.inference_mode():
                    if prompt.constraint is not None:
                        return self._constrained(prompt, model, messages, text, labels or [],
                                                 details)
                    return self._generate(prompt, model, messages, text, labels, details)
            except (RuntimeError, ValueError, IndexError) as exc:
                raise PredictorError(
                    f"{self.name}: the model failed on this prompt: {type(exc).__name__}: {exc}",
                    retryable=False, kind="local_model",
                ) from exc

    def _constrained(
        self, prompt: Prompt, model: Any, messages: list[dict[str, Any]], text: str,
        labels: list[str], details: dict[str, Any],
    ) -> Response:
        assert prompt.constraint is not None
        scores, input_tokens = self._score_labels(model, messages, text, labels, details)
        temperature = prompt.options.temperature or 0.0
        if temperature > 0:
            label = sample_label(scores, labels, temperature=temperature,
                                 seed=prompt.options.seed)
            details["answer"] = "sampled from the label scores"
        else:
            label = argmax_label(scores, labels)
            details["answer"] = "argmax of the label scores"
        answer = json.dumps({"label": label}) if prompt.constraint.kind == "json_schema" else label
        return Response(
            text=answer, logprobs=scores, finish_reason="stop",
            usage=Usage(input_tokens=input_tokens, output_tokens=0),
            model_version=self._version(), details=details,
        )

    def _generate(
        self, prompt: Prompt, model: Any, messages: list[dict[str, Any]], text: str,
        labels: list[str] | None, details: dict[str, Any],
    ) -> Response:
        o = prompt.options
        enc = self._encode(messages, 1)
        prompt_len = int(enc["input_ids"].shape[1])
        cfg = copy.deepcopy(model.generation_config)
        # The model option caps every step (a step's own max_tokens may ask for fewer).
        cfg.max_new_tokens = min(o.max_tokens or self.options.max_new_tokens,
                                 self.options.max_new_tokens)
        temperature = o.temperature or 0.0
        cfg.do_sample = temperature > 0
        # Checkpoints often ship sampling defaults (top_k=1, tiny temperature): the
        # prompt's options decide instead, so greedy is greedy and T is T.
        cfg.temperature = temperature if cfg.do_sample else None
        cfg.top_p = o.top_p if cfg.do_sample else None
        cfg.top_k = None
        if cfg.pad_token_id is None:
            cfg.pad_token_id = self.tokenizer.pad_token_id or _first(cfg.eos_token_id)
        want_top = o.logprobs and not labels
        if cfg.do_sample and o.seed is not None:
            torch.manual_seed(o.seed)
        cfg.return_dict_in_generate = True
        cfg.output_logits = bool(want_top)
        out = model.generate(**enc, generation_config=cfg)
        new = out.sequences[0, prompt_len:].tolist()
        eos = _as_set(cfg.eos_token_id)
        stop = next((i for i, t in enumerate(new) if t in eos), None)
        produced = new if stop is None else new[: stop + 1]
        answer = self.tokenizer.decode(produced, skip_special_tokens=True).strip()
        finish = "stop" if stop is not None or len(new) < cfg.max_new_tokens else "length"
        details["generation"] = {
            "do_sample": cfg.do_sample, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "max_new_tokens": cfg.max_new_tokens, "seed": o.seed if cfg.do_sample else None,
        }
        logprobs: dict[str, float] | None = None
        if labels:
            logprobs, _ = self._score_labels(model, messages, text, labels, details)
        elif want_top and out.logits:
            logprobs = self._first_token_top(out.logits[0][0], o.top_logprobs or 5)
            details["logprobs"] = "top alternatives at the first generated token"
        return Response(
            text=answer, logprobs=logprobs, finish_reason=finish,
            usage=Usage(input_tokens=prompt_len, output_tokens=len(produced)),
            model_version=self._version(), details=details,
        )

    def _first_token_top(self, logits: Any, k: int) -> dict[str, float]:
        logp = torch.log_softmax(logits.float(), dim=-1)
        values, ids = torch.topk(logp, k=min(k, int(logp.shape[-1])))
        found: dict[str, list[float]] = {}
        for lp, tid in zip(values.tolist(), ids.tolist(), strict=True):
            token = self.tokenizer.decode([tid])
            found.setdefault(token, []).append(max(float(lp), _FLOOR))
        return {t: logsumexp(v) for t, v in found.items()}

    # ---------------------------------------------------------------- label scores

    def label_token_ids(self, text: str, labels: Sequence[str]) -> dict[str, list[int]]:
        """The tokens of each label as the model would write them after ``text``.

        The label is tokenised together with the rendered prompt, so merges across
        the boundary (a leading-space marker, say) match what the model writes;
        when the prompt's own tokens change in that rendering, the label's
        stand-alone tokens are used instead.
        """
        tok = self.tokenizer
        base = tok(text, add_special_tokens=False)["input_ids"]
        out: dict[str, list[int]] = {}
        for label in labels:
            full = tok(text + label, add_special_tokens=False)["input_ids"]
            if len(full) > len(base) and full[: len(base)] == base:
                ids = list(full[len(base):])
            else:
                ids = list(tok(label, add_special_tokens=False)["input_ids"])
            if not ids:
                raise PredictorError(f"{self.name}: label {label!r} has no tokens",
                                     retryable=False, kind="bad_request")
            out[label] = ids
        return out

    def _score_labels(
        self, model: Any, messages: list[dict[str, Any]], text: str, labels: list[str],
        details: dict[str, Any],
    ) -> tuple[dict[str, float], int]:
        """Log-softmax over the labels of each label's summed token log-probabilities.

        Every row is the same prompt, so the next-token distribution right after it
        is shared: a one-token label is read from it, and only labels of two or more
        tokens need rows of their own (one row in all when every label is one token).
        """
        ids = self.label_token_ids(text, labels)
        rows = [x for x in labels if len(ids[x]) > 1] or labels[:1]
        size = self.options.label_batch_size or len(rows)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = _first(model.generation_config.eos_token_id) or 0
        keep_ok = _accepts(model, "logits_to_keep")
        sums: dict[str, float] = {}
        first: Any = None
        prompt_len = 0
        passes = 0
        for lo in range(0, len(rows), size):
            chunk = rows[lo: lo + size]
            enc = self._encode(messages, len(chunk))
            prompt_len = int(enc["input_ids"].shape[1])
            longest = max(len(ids[x]) for x in chunk)
            dev = enc["input_ids"].device
            cont = torch.full((len(chunk), longest), int(pad), dtype=torch.long, device=dev)
            mask = torch.zeros((len(chunk), longest), dtype=torch.bool, device=dev)
            for i, x in enumerate(chunk):
                cont[i, : len(ids[x])] = torch.tensor(ids[x], dtype=torch.long, device=dev)
                mask[i, : len(ids[x])] = True
            batch = _extend(enc, cont, mask, prompt_len)
            if keep_ok:
                # Only the positions that predict label tokens: the vocabulary
                # projection of a long prompt would cost more memory than the model.
                logits = model(**batch, use_cache=False, logits_to_keep=longest + 1).logits
                logits = logits[:, :longest]
            else:
                logits = model(**batch, use_cache=False).logits
                logits = logits[:, prompt_len - 1: prompt_len - 1 + longest]
            logp = torch.log_softmax(logits.float(), dim=-1)
            if first is None:
                first = logp[0, 0]
            picked = logp.gather(-1, cont.unsqueeze(-1)).squeeze(-1)
            picked = torch.where(mask, picked, torch.zeros_like(picked))
            passes += 1
            for i, x in enumerate(chunk):
                sums[x] = float(picked[i].sum())
        for x in labels:
            if x not in sums:
                sums[x] = float(first[ids[x][0]])
        for x in labels:
            if math.isnan(sums[x]):
                raise PredictorError(
                    f"{self.name}: the label score of {x!r} is NaN (numerical overflow; "
                    "try dtype='float32')", retryable=False, kind="local_model",
                )
            sums[x] = max(sums[x], _FLOOR)
        ordered = {x: sums[x] for x in labels}
        scores = normalise_label_scores(ordered)
        details["label_scores"] = {
            "method": SCORING,
            "raw": ordered,
            "tokens": {x: len(ids[x]) for x in labels},
            "rows": len(rows),
            "forward_passes": passes,
        }
        return scores, prompt_len

    def _version(self) -> str:
        return f"{self.config.model_type}@{self.fingerprint[:12]}"


# ---------------------------------------------------------------- helpers


def _frames_caption(times: Sequence[float | None], index: int | None) -> str:
    stamps = ", ".join(
        f"frame {i} at {t:.2f} s" if t is not None else f"frame {i}"
        for i, t in enumerate(times, start=1)
    )
    which = f"video {index}" if index is not None else "one video clip"
    return f"The next {len(times)} images are frames of {which}, in time order: {stamps}."


def _extend(enc: dict[str, Any], cont: Any, mask: Any, prompt_len: int) -> dict[str, Any]:
    """The encoded prompts with the label tokens appended (right-padded).

    Other per-token integer tensors (token type ids, multimodal token types) get
    zeros: the label is text.
    """
    rows = int(cont.shape[0])
    out: dict[str, Any] = {}
    for key, value in enc.items():
        if key == "input_ids":
            out[key] = torch.cat([value, cont], dim=1)
        elif key == "attention_mask":
            out[key] = torch.cat([value, mask.to(value.dtype)], dim=1)
        elif (isinstance(value, torch.Tensor) and value.dim() >= 2
              and not value.is_floating_point() and tuple(value.shape[:2]) == (rows, prompt_len)):
            zeros = torch.zeros((rows, cont.shape[1], *value.shape[2:]), dtype=value.dtype,
                                device=value.device)
            out[key] = torch.cat([value, zeros], dim=1)
        else:
            out[key] = value
    return out


def _accepts(model: Any, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _as_set(value: Any) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, int):
        return {value}
    return {int(v) for v in value}


def _first(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    values = list(value)
    return int(values[0]) if values else None
