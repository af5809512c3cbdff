"""Keys never enter a file vlmfer writes: refused in config at any depth, scrubbed from records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmfer.engine.config import load_experiment
from vlmfer.engine.rundir import RunFolder
from vlmfer.errors import ConfigError
from vlmfer.secrets import key_fields, redact, safe_url, scrub
from vlmfer.types import Prediction


def test_a_key_anywhere_in_an_experiment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.extra_body\.api_key"):
        load_experiment(sets=["model.extra_body.api_key=sk-abcdefghijklmnop"])
    with pytest.raises(ConfigError, match=r"dataset\.key"):
        load_experiment(sets=["dataset.key=secret"])
    assert key_fields({"model": {"headers": [{"Authorization": "Bearer x"}]}}) == [
        "model.headers[0].Authorization"]


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("http://user:pw@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://host/v1?api-key=abc&x=1#frag", "https://host/v1"),
        ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),
    ],
)
def test_urls_lose_their_credentials(url: str, safe: str) -> None:
    assert safe_url(url) == safe


def test_manifests_and_predictions_are_scrubbed(tmp_path: Path) -> None:
    rd = RunFolder(tmp_path)
    rd.write_manifest({
        "model": {"base_url": "http://me:hunter2@127.0.0.1:1/v1", "api_key": "plain"},
        "command": ["vlmfer", "run", "--base-url", "http://u:p@127.0.0.1:1/v1?key=zz"],
    })
    text = (tmp_path / "manifest.json").read_text()
    for secret in ("hunter2", "plain", "u:p", "key=zz"):
        assert secret not in text
    assert json.loads(text)["model"]["base_url"] == "http://127.0.0.1:1/v1"
    rd.append(Prediction(sample_id="s", gold="Sad", pred=None, outcome="error",
                         reason="401: Incorrect API key provided: sk-proj-abcd****wxyz"))
    rd.close()
    assert "sk-proj" not in (tmp_path / "predictions.jsonl").read_text()


def test_redact_and_scrub_leave_ordinary_text_alone() -> None:
    assert redact("The person looks happy.") == "The person looks happy."
    assert scrub({"labels": ["Happy", "Sad"], "n": 3}) == {"labels": ["Happy", "Sad"], "n": 3}
