"""The calibrated strategy on an open model: exact label scores, no sampling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import vlmfer
from hf_tiny import LABELS
from vlmfer.strategies.content_free import FILLS


def test_calibrated_run_on_a_local_model(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlmfer.datasets.synthetic import make_caer_s_like

    # Content-free inputs (a grey image of each sample's size) are written here.
    monkeypatch.setenv("VLMFER_CACHE_DIR", str(tmp_path / "cache"))
    make_caer_s_like(tmp_path / "CAER-S", per_class=1, size=(96, 64))
    dataset = vlmfer.get_dataset("caer-s", root=tmp_path / "CAER-S", split="test")
    predictor = vlmfer.get_predictor(f"hf/{tiny_model}")
    strategy = vlmfer.get_strategy("calibrated")
    run = vlmfer.evaluate(dataset, predictor, strategy, out=tmp_path / "run", concurrency=2)

    predictions = run.predictions
    assert len(predictions) == len(LABELS)
    for p in predictions:
        assert p.outcome == "ok", p.reason
        assert p.extra["score_method"] == "logprobs"  # exact scores, not the sampling fallback
        assert set(p.scores) == set(LABELS)
        assert sum(p.scores.values()) == pytest.approx(1.0)
        # Calibrated argmax; the raw scores came from the label log-likelihoods.
        assert p.pred == max(LABELS, key=lambda x: (p.scores[x], -LABELS.index(x)))
        answer = p.steps[0]
        assert answer.details["label_scores"]["forward_passes"] == 1
        raw = answer.details["label_scores"]["raw"]
        total = math.log(sum(math.exp(v) for v in raw.values()))
        for label in LABELS:
            assert p.extra["raw_scores"][label] == pytest.approx(
                math.exp(raw[label] - total), rel=1e-6)
        assert p.steps[0].name == "answer"
        assert {s.name for s in p.steps[1:]} == {f"content-free-{f}" for f in FILLS}
        assert all(s.cost_usd == 0.0 for s in p.steps)
    assert run.metrics["cost_usd"] == 0.0
