"""An answer cut off at the token limit gets a label only from a whole answer or a
"Final answer:" line (issue 19): through ``vlmfer run``, the real OpenAI SDK and the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vlmfer import CAER_LABELS, parse_label
from vlmfer.emulator import Emulator, EmulatorConfig

RAMBLE = "Anger is what I see in the face of this person here today as far as I can tell"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path_factory.mktemp("data") / "CAER-S"
    make_caer_s_like(root, per_class=1, splits=("test",))
    return root


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(policy="oracle"), port=0) as e:
        yield e


def _run(tmp_path: Path, data: Path, emu: Emulator, directive: str) -> list[dict[str, object]]:
    template = tmp_path / "ramble.toml"
    template.write_text(
        'kind = "label"\nname = "ramble"\nversion = "1"\n'
        f"text = '''Which of {{labels}} is the {{media_word}}? [[emu:{directive}]]'''\n",
        encoding="utf-8",
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "VLMFER_CACHE_DIR": str(tmp_path / "c"),
           "NO_PROXY": "127.0.0.1"}
    out = subprocess.run(
        [sys.executable, "-m", "vlmfer", "run", "--dataset", "caer-s", "--data-root", str(data),
         "--split", "test", "--limit", "2", "--model", "openai/gpt-5.2",
         "--base-url", emu.openai_base_url, "--strategy", "single-shot",
         "--set", f"strategy.template={template}", "--out", "run", "--quiet"],
        cwd=tmp_path, text=True, capture_output=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines]


def test_a_label_word_inside_a_cut_off_answer_is_no_label(
    tmp_path: Path, data: Path, emu: Emulator
) -> None:
    rows = _run(tmp_path, data, emu, f"answer={RAMBLE};finish=length")
    assert rows
    for row in rows:
        assert row["steps"][0]["finish_reason"] == "length"  # type: ignore[index]
        assert row["pred"] is None and row["outcome"] == "invalid", row
        assert "truncated" in str(row["reason"]), row


def test_the_same_words_not_cut_off_are_read(tmp_path: Path, data: Path, emu: Emulator) -> None:
    rows = _run(tmp_path, data, emu, f"answer={RAMBLE}")
    assert rows and all(r["pred"] == "Anger" and r["outcome"] == "ok" for r in rows), rows


@pytest.mark.parametrize(
    ("text", "label", "how"),
    [
        ("Happy", "Happy", "exact"),
        ("**Sad**", "Sad", "normalized"),
        ("Label: Fear", "Fear", "prefix"),
        ('{"label": "Disgust"}', "Disgust", "json"),
        ("The brows are lowered and the jaw is set.\nFinal answer: Anger", "Anger",
         "final-answer"),
        ("Final answer: Sad\nThe corners of the mouth are down, and", "Sad", "final-answer"),
        ("The person looks happy, and the smile reaches the eyes, which", None, "truncated"),
        ("per\ufffdAnger\ufffd\ufffdistan", None, "garbled"),
        ("Happy. She is smiling, although there is", None, "truncated"),
        ("Final answer: Neutral\nWait, no. The brows", None, "truncated"),
        ('{"label": "Sad", "reason": "the mouth', None, "truncated"),
    ],
)
def test_a_cut_off_answer_is_read_only_from_structure(
    text: str, label: str | None, how: str
) -> None:
    m = parse_label(text, CAER_LABELS, truncated=True)
    assert (m.label, m.how.split(":")[0]) == (label, how), m
