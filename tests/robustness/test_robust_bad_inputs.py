"""A corpus of bad inputs, each with its clear, specific error.

Per-sample problems (broken media) end that sample with an ``error`` outcome whose reason names
the file and what is wrong with it, while the other samples are answered; fixing the file and
running the same command again asks only for what had failed. Problems with the dataset, the
configuration, the key or the server stop before (or without) paying for anything, with a
message that says where and what.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from robust_support import GEMINI_KEY, OPENAI_KEY, cli_env, raw_rows, vlmfer
from support import refused_port

import vlmfer as vl
from vlmfer.emulator import Emulator, EmulatorConfig, FaultRates
from vlmfer.engine.cache import ResponseCache
from vlmfer.engine.run import EngineOptions, Run, evaluate_async
from vlmfer.errors import DatasetError

OPTIONS = EngineOptions(progress=False, max_attempts=1, n_boot=50)


@pytest.fixture()
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(strict_media=False, policy="oracle", log_path=tmp_path / "emu.jsonl")


def _evaluate(dataset: Any, predictor: Any, out: Path, cache: Path) -> Run:
    return asyncio.run(evaluate_async(dataset, predictor, vl.get_strategy("single-shot"),
                                      out=out, options=OPTIONS,
                                      cache=ResponseCache(cache / "responses.sqlite3")))


def _reasons(out: Path) -> dict[str, tuple[str, str | None]]:
    return {r["sample_id"]: (r["outcome"], r["reason"]) for r in raw_rows(out)}


# ---------------------------------------------------------------- broken media, per sample

BAD_IMAGES = {
    "Happy/0101.png": ("corrupt", "not an image file Pillow can read"),
    "Sad/0102.png": ("zero-byte", r"file is empty (0 bytes)"),
    "Fear/0103.png": ("truncated", "truncated image"),
    "Anger/0104.png": ("decompression bomb", "decompression-bomb limit"),
    "Neutral/0105.png": ("over the pixel cap", "over the pixel cap max_pixels=50000000"),
}


def _write_bad_images(test: Path) -> None:
    from PIL import Image

    good = (test / "Fear" / "0001.png").read_bytes()
    (test / "Happy" / "0101.png").write_bytes(b"this is a shopping list, not a photo\n" * 20)
    (test / "Sad" / "0102.png").write_bytes(b"")
    (test / "Fear" / "0103.png").write_bytes(good[: len(good) // 2])
    # Tiny files that claim huge pictures: past Pillow's own bomb limit, and past max_pixels.
    Image.new("1", (20000, 20000)).save(test / "Anger" / "0104.png")
    Image.new("1", (9000, 6000)).save(test / "Neutral" / "0105.png")


@pytest.fixture()
def bad_image_run(tmp_path: Path, emu: Emulator) -> dict[str, Any]:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path / "CAER-S"
    make_caer_s_like(root, per_class=2)
    _write_bad_images(root / "test")
    dataset = vl.get_dataset("caer-s", root=root, split="test")
    predictor = vl.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                 api_key=OPENAI_KEY)
    out = tmp_path / "run"
    run = _evaluate(dataset, predictor, out, tmp_path / "cache")
    return {"root": root, "out": out, "run": run}


def test_broken_images_are_errors_of_their_own_samples(
    bad_image_run: dict[str, Any], emu: Emulator
) -> None:
    root, out = bad_image_run["root"], bad_image_run["out"]
    reasons = _reasons(out)
    assert len(reasons) == 14 + len(BAD_IMAGES)
    for name, (kind, words) in BAD_IMAGES.items():
        outcome, reason = reasons[f"test/{name}"]
        assert outcome == "error", kind
        assert str(root / "test" / name) in (reason or ""), (kind, reason)
        assert words in (reason or ""), (kind, reason)
    ok = {sid for sid, (outcome, _) in reasons.items() if outcome == "ok"}
    assert len(ok) == 14, "the good samples must be answered despite the bad ones"
    assert len(emu.calls("chat")) == 14, "a broken file must not be sent"
    assert bad_image_run["run"].metrics["outcomes"]["error"] == len(BAD_IMAGES)


def test_a_second_run_keeps_every_finished_answer(
    bad_image_run: dict[str, Any], emu: Emulator
) -> None:
    """The same command again retries only the errors; nothing finished is lost or re-asked."""
    root, out = bad_image_run["root"], bad_image_run["out"]
    first = {r["sample_id"]: r for r in raw_rows(out)}
    emu.reset()
    dataset = vl.get_dataset("caer-s", root=root, split="test")
    predictor = vl.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                 api_key=OPENAI_KEY)
    _evaluate(dataset, predictor, out, out.parent / "cache")
    assert emu.calls("chat") == [], "finished samples were asked again"
    again = {r["sample_id"]: r for r in raw_rows(out)}
    assert len(raw_rows(out)) == len(again) == len(first)
    assert all(again[sid] == first[sid] for sid in first if first[sid]["outcome"] == "ok")
    assert all(again[f"test/{name}"]["outcome"] == "error" for name in BAD_IMAGES)


def test_fixing_a_broken_file_and_running_again_retries_only_it(
    bad_image_run: dict[str, Any], emu: Emulator
) -> None:
    root, out = bad_image_run["root"], bad_image_run["out"]
    first = {r["sample_id"]: r for r in raw_rows(out)}
    for name in BAD_IMAGES:
        shutil.copy(root / "test" / "Surprise" / "0001.png", root / "test" / name)
    emu.reset()
    dataset = vl.get_dataset("caer-s", root=root, split="test")
    predictor = vl.get_predictor("openai/gpt-5.2", base_url=emu.openai_base_url,
                                 api_key=OPENAI_KEY)
    _evaluate(dataset, predictor, out, out.parent / "cache")
    assert len(emu.calls("chat")) <= len(BAD_IMAGES)
    again = {r["sample_id"]: r for r in raw_rows(out)}
    assert all(again[sid] == first[sid] for sid in first if first[sid]["outcome"] == "ok")
    assert all(again[f"test/{name}"]["outcome"] == "ok" for name in BAD_IMAGES)


BAD_VIDEOS = {
    "Happy/0101.avi": ("corrupt", "not a video file PyAV can read"),
    "Sad/0102.avi": ("zero-byte", r"file is empty (0 bytes)"),
    "Fear/0103.avi": ("truncated", "truncated video: its header promises"),
    "Anger/0104.avi": ("unsupported codec", "unsupported video codec"),
    "Disgust/0105.avi": ("AVI with no video stream", "has no video stream (streams: audio)"),
}


@pytest.fixture(scope="module")
def bad_video_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av
    import numpy as np

    from vlmfer.datasets.synthetic import make_caer_like

    root = tmp_path_factory.mktemp("videos") / "CAER"
    make_caer_like(root, per_class=1, seconds=1.0, size=(160, 96))
    test = root / "test"
    clip = (test / "Happy" / "0001.avi").read_bytes()
    (test / "Happy" / "0101.avi").write_bytes(b"this is a shopping list, not a video\n" * 20)
    (test / "Sad" / "0102.avi").write_bytes(b"")
    (test / "Fear" / "0103.avi").write_bytes(clip[: len(clip) // 2])
    tagged = clip
    for tag in (b"FMP4", b"XVID", b"DIVX"):  # an unknown FourCC: no decoder for the stream
        tagged = tagged.replace(tag, b"QQQQ")
    (test / "Anger" / "0104.avi").write_bytes(tagged)
    with av.open(str(test / "Disgust" / "0105.avi"), "w", format="avi") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype="<i2"), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return root


@pytest.mark.parametrize("model", ["gemini/gemini-3.5-flash", "openai/gpt-5.2"])
def test_broken_videos_are_errors_of_their_own_samples(
    tmp_path: Path, emu: Emulator, bad_video_tree: Path, model: str
) -> None:
    dataset = vl.get_dataset("caer", root=bad_video_tree, split="test")
    if model.startswith("gemini"):
        predictor = vl.get_predictor(model, base_url=emu.url, api_key=GEMINI_KEY)
    else:  # sampled frames
        predictor = vl.get_predictor(model, base_url=emu.openai_base_url, api_key=OPENAI_KEY)
    out = tmp_path / "run"
    _evaluate(dataset, predictor, out, tmp_path / "cache")
    reasons = _reasons(out)
    for name, (kind, words) in BAD_VIDEOS.items():
        outcome, reason = reasons[f"test/{name}"]
        assert outcome == "error" and words in (reason or ""), (kind, reason)
        assert str(bad_video_tree / "test" / name) in (reason or ""), (kind, reason)
    assert sum(1 for o, _ in reasons.values() if o == "ok") == 7


# ---------------------------------------------------------------- the dataset itself

@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    from vlmfer.datasets.synthetic import make_caer_s_like

    root = tmp_path / "CAER-S"
    make_caer_s_like(root, per_class=1, splits=("train", "test"))
    return root


def test_symlink_out_of_the_root_is_followed_and_a_broken_one_named(
    tree: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.png"
    shutil.copy(tree / "test" / "Sad" / "0001.png", outside)
    (tree / "test" / "Sad" / "0009.png").symlink_to(outside)
    ds = vl.get_dataset("caer-s", root=tree, split="test")
    assert "test/Sad/0009.png" in {s.id for s in ds}
    outside.unlink()
    with pytest.raises(DatasetError, match=r"test/Sad/0009\.png: broken symlink"):
        vl.get_dataset("caer-s", root=tree, split="test")


def test_wrong_layout(tree: Path) -> None:
    with pytest.raises(DatasetError, match=r"no split folder .* pass its parent as root"):
        vl.get_dataset("caer-s", root=tree / "test", split="test")
    with pytest.raises(DatasetError, match=r"no label folders under .*Happy; the layout is "
                                           r"<root>/\[<split>/\]<Label>/<file>"):
        vl.get_dataset("folder", root=tree / "test" / "Happy")


def test_unknown_class_folder(tree: Path) -> None:
    (tree / "test" / "Confused").mkdir()
    shutil.copy(tree / "test" / "Sad" / "0001.png", tree / "test" / "Confused" / "0001.png")
    with pytest.raises(DatasetError, match=r"unknown class folder test/Confused/\. CAER classes"
                                           r".*ignore=\['Confused'\]"):
        vl.get_dataset("caer-s", root=tree, split="test")


def test_empty_split_of_a_caer_tree(tree: Path) -> None:
    for png in (tree / "test").rglob("*.png"):
        png.unlink()
    with pytest.raises(DatasetError, match=r"class folder test/Anger/ is empty"):
        vl.get_dataset("caer-s", root=tree, split="test")


def test_empty_split_of_a_folder_tree(tree: Path) -> None:
    (tree / "validation").mkdir()
    with pytest.raises(DatasetError, match=r"validation"):
        vl.get_dataset("folder", root=tree, split="validation")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("m.csv", "path,label\ntest/Happy/0001.png,Happy\ntest/Sad/0001.png\n",
         r"m\.csv:3: 1 fields, the header has 2"),
        ("m.jsonl", '{"path": "test/Happy/0001.png", "label": "Happy"}\n{"path": \n',
         r"m\.jsonl:2: not valid JSON"),
        ("m.csv", "path,label\ntest/Happy/0001.png,Happy\ntest/Sad/0404.png,Sad\n",
         r"do not exist: test/Sad/0404\.png \(line 3\)"),
    ],
)
def test_malformed_manifest_row(tree: Path, name: str, text: str, expected: str) -> None:
    manifest = tree / name
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match=expected):
        vl.get_dataset("manifest", root=manifest)


def test_non_utf8_file_name(tree: Path, tmp_path: Path) -> None:
    folder = os.fsencode(tree / "test" / "Happy")
    target = os.path.join(folder, b"caf\xe9.png")
    with open(target, "wb") as f:
        f.write((tree / "test" / "Happy" / "0001.png").read_bytes())
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(tree), "--split", "test",
                 "--model", "mock/fixed:Happy", "--out", "run", "--quiet", cwd=tmp_path)
    assert "Traceback" not in out.stderr, out.stderr[-600:]
    assert out.returncode == 2
    assert "caf" in out.stderr and "UTF-8" in out.stderr


# ---------------------------------------------------------------- configuration and flags

@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[run\nconcurrency = 2\n", "exp.toml: not valid TOML"),
        ("[run]\nconcurency = 2\n", "unknown key 'run.concurency'"),
        ("[strategy]\nname = 'single-shot'\ntemprature = 0\n", "unknown option 'temprature'"),
        ("[model]\nname = 'openai/gpt-5.2'\ndetial = 'low'\n", "unknown option(s) 'detial'"),
    ],
)
def test_bad_experiment_file(tmp_path: Path, tree: Path, toml: str, expected: str) -> None:
    (tmp_path / "exp.toml").write_text(toml + f"[dataset]\nroot = '{tree}'\n"
                                       if "[dataset]" not in toml else toml, encoding="utf-8")
    out = vlmfer("run", "exp.toml", "--dry-run", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--limit", "ten"], "argument --limit: invalid int value: 'ten'"),
        (["--concurency", "4"], "unrecognized arguments: --concurency"),
        (["--set", "concurrency=4"], "--set 'concurrency=4': write it as table.key=value"),
        (["--strategy", "single_shot"], "Did you mean 'single-shot'"),
    ],
)
def test_bad_flag(tmp_path: Path, tree: Path, args: list[str], expected: str) -> None:
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(tree), "--dry-run", *args,
                 cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_missing_key(tmp_path: Path, tree: Path) -> None:
    env = cli_env(tmp_path, OPENAI_API_KEY="", GEMINI_API_KEY="")
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(tree), "--model",
                 "openai/gpt-5.2", "--out", "r", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "export OPENAI_API_KEY=" in out.stderr, out.stderr
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(tree), "--model",
                 "gemini/gemini-3.5-flash", "--out", "r", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "GEMINI_API_KEY" in out.stderr, out.stderr
    assert not (tmp_path / "r" / "predictions.jsonl").exists()


# ---------------------------------------------------------------- the server

def _run_against(tmp_path: Path, tree: Path, base_url: str, model: str = "openai/gpt-5.2",
                 ) -> tuple[Any, dict[str, tuple[str, str | None]]]:
    out = vlmfer("run", "--dataset", "caer-s", "--data-root", str(tree), "--split", "test",
                 "--model", model, "--base-url", base_url, "--out", "run", "--quiet",
                 "--set", "run.max_attempts=1",
                 # What each request meets, not the capability probe that would stop the run
                 # first (tested in tests/predictors/test_probe.py).
                 "--set", "model.probe=false", cwd=tmp_path)
    return out, _reasons(tmp_path / "run")


def test_unreachable_base_url(tmp_path: Path, tree: Path) -> None:
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}/v1"
        out, reasons = _run_against(tmp_path, tree, url)
    assert out.returncode == 1, out.stderr
    assert "7 sample(s) ended in an error" in out.stderr
    for outcome, reason in reasons.values():
        assert outcome == "error" and reason is not None
        assert "could not connect" in reason and url in reason


def test_model_that_does_not_exist(tmp_path: Path, tree: Path, emu: Emulator) -> None:
    out, reasons = _run_against(tmp_path, tree, emu.openai_base_url,
                                model="openai/gpt-does-not-exist")
    assert out.returncode == 1, out.stderr
    for outcome, reason in reasons.values():
        assert outcome == "error" and "HTTP 404" in (reason or "")
        assert "model id does not exist" in (reason or "") and "--model" in (reason or "")


def test_response_that_is_not_json(tmp_path: Path, tree: Path, emu: Emulator) -> None:
    emu.configure(faults=FaultRates(malformed=1.0))
    out, reasons = _run_against(tmp_path, tree, emu.openai_base_url)
    assert out.returncode == 1, out.stderr
    for outcome, reason in reasons.values():
        assert outcome == "error" and "malformed response" in (reason or ""), reason
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["outcomes"]["error"] == 7 and metrics["outcomes"]["ok"] == 0


def test_a_reply_with_a_label_never_hides_an_error(tmp_path: Path, tree: Path) -> None:
    """A server error page (HTML) with status 200 is an error, not an answer."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Html(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html><body>Happy hour! Our gateway is down.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out, reasons = _run_against(tmp_path, tree, f"http://127.0.0.1:{server.server_port}/v1")
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 1, out.stderr
    for outcome, reason in reasons.values():
        assert outcome == "error" and "malformed response" in (reason or ""), reason


def test_image_bytes_in_memory_are_never_needed(tmp_path: Path) -> None:
    """A decompression bomb is refused from its header, before any pixel is decoded."""
    from PIL import Image

    from vlmfer.errors import MediaError
    from vlmfer.media import MediaSpec, prepare_media
    from vlmfer.types import Media

    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, format="PNG")
    path = tmp_path / "bomb.png"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 200_000
    with pytest.raises(MediaError, match="decompression-bomb limit") as info:
        prepare_media(Media.from_path(path), MediaSpec(), as_="image")
    assert info.value.path == path
