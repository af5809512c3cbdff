"""Options of ``anthropic/<model>`` and the provider's published limits.

Each limit says where it comes from; they were read on 2026-12-02.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from vlmfer.predictors.options import PredictorOptions

#: A current Claude model that takes images (SDK 2.16.0 model literals; platform.claude.com
#: "Claude Sonnet 5.5" overview: "Text and images -> text"). Model ids are configuration.
DEFAULT_MODEL = "claude-sonnet-5-5"
KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
OFFICIAL_URL = "https://api.anthropic.com"
#: From this ``anthropic-version`` on, the API rejects temperature, top_p and top_k (any
#: value, with 400 "Extra inputs are not permitted"); SDK 2.x sends it and has no such
#: arguments. Sources: the SDK 2.16.0 (_constants.ANTHROPIC_API_VERSION, no sampling
#: parameters in MessageCreateParams); the Claude Sonnet 5 overview ("setting sampling
#: parameters ... returns a 400 error"); third-party reports of 2026-10/11.
NO_SAMPLING_FROM = "2026-10-21"

# Limits: platform.claude.com/docs/en/build-with-claude/vision ("General limits": 100 images
# per request for models with a 200k-token context window, 600 for others; 8000x8000 px per
# image, 2000x2000 px when a request has more than 20 images; 32 MB per request for the
# standard endpoints), and the API's 5 MB limit per image (the same page's FAQ, and API
# errors "image exceeds 5 MB maximum").
MAX_IMAGES = 100
MAX_IMAGES_LARGE_CONTEXT = 600
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
MANY_IMAGES = 20
MANY_IMAGES_SIDE = 2000
MAX_REQUEST_BYTES = 32 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Message Batches: platform.claude.com/docs/en/build-with-claude/batch-processing ("Batch
# limitations": 100,000 Message requests or 256 MB per batch, whichever comes first;
# results within 24 h, kept 29 days; 50 % of the standard price).
BATCH_MAX_REQUESTS = 100_000
BATCH_MAX_BYTES = 256_000_000


class AnthropicOptions(PredictorOptions):
    """Options of ``anthropic/<model>``. The key is never an option: ``ANTHROPIC_API_KEY``."""

    base_url: str | None = None
    #: The ``anthropic-version`` header; None sends the SDK's (2026-10-21 in SDK 2.16.0).
    #: Versions before 2026-10-21 still take ``temperature``.
    api_version: str | None = None
    #: Sent when the prompt sets no max_tokens: the API requires one. Thinking counts too.
    max_tokens: int = Field(default=1024, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    #: Images per request: 100 (200k-context models) or up to 600 (larger contexts).
    max_images: int = Field(default=MAX_IMAGES, ge=1, le=MAX_IMAGES_LARGE_CONTEXT)
    #: ``thinking.type``; None leaves the model's default (adaptive on Claude 5.x).
    thinking: Literal["adaptive", "disabled"] | None = None
    #: ``output_config.effort``; None leaves the model's default.
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    #: Constrained answers through ``output_config.format`` (structured outputs); False asks
    #: in plain text.
    supports_json_schema: bool | None = None
