"""Options of ``hf/<model-or-path>``. Importing this module loads neither torch nor transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HFOptions(BaseModel):
    """Options of the ``hf`` predictor (unknown keys are errors).

    Example: ``get_predictor("hf/models/Qwen2-VL-2B-Instruct", dtype="bfloat16")``.
    """

    model_config = ConfigDict(extra="forbid")

    #: ``cpu``, ``cuda``, ``cuda:1``, ``mps``..., or ``auto`` (device_map="auto"; needs accelerate).
    device: str = "cpu"
    #: ``auto``: float32 on the CPU, the checkpoint's own dtype on other devices.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    #: The most new tokens any step generates (a step's ``max_tokens`` may ask for fewer).
    max_new_tokens: int = Field(default=64, ge=1)
    #: Most images (sampled frames included) one prompt may carry.
    max_images: int = Field(default=32, ge=1)
    #: Label continuations scored per forward pass (None: all labels in one pass).
    label_batch_size: int | None = Field(default=None, ge=1)
    #: A Jinja chat template file, for models that ship none (or to override theirs).
    chat_template_file: Path | None = None
    #: Run Python code shipped in the model folder (custom architectures). Off: it is code.
    trust_remote_code: bool = False

    def public(self) -> dict[str, Any]:
        """The options for a run manifest (JSON-able, defaults included)."""
        return self.model_dump(mode="json")
