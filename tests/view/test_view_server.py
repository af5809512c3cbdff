"""`vlmfer view` over real HTTP: the command, the JSON endpoints, media as the model saw it."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from view_builders import clips, free_port, mock_run, served, stills

from vlmfer.media import prepare_media
from vlmfer.types import Media, MediaSpec, Prediction, Step
from vlmfer.view.media import SampleMedia


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("server")
    images = stills(tmp / "CAER-S", 3)
    return {
        "uniform": mock_run(tmp, images, "caer-s", "mock/uniform", "uniform"),
        "oracle": mock_run(tmp, images, "caer-s", "mock/oracle", "oracle"),
        "video": mock_run(tmp, clips(tmp / "CAER"), "caer", "mock/oracle", "video"),
    }


def get(url: str, path: str, params: dict[str, Any] | None = None,
        host: str | None = None, method: str = "GET") -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    target = path + ("?" + urlencode(params) if params else "")
    conn.request(method, target, headers={"Host": host} if host else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type") or "", body


def get_json(url: str, path: str, params: dict[str, Any] | None = None) -> Any:
    status, _, body = get(url, path, params)
    assert status == 200, body
    return json.loads(body)


def test_view_serves_on_loopback_and_prints_the_url(runs: dict[str, Path]) -> None:
    port = free_port()
    with served(runs["uniform"], extra=("--port", str(port))) as url:
        assert url == f"http://127.0.0.1:{port}/"
        status, mime, body = get(url, "/")
        assert status == 200 and mime.startswith("text/html")
        assert get(url, "/", method="HEAD")[0] == 200
        assert b"<title>vlmfer view: uniform</title>" in body
        summary = get_json(url, "/api/runs")
        assert summary["n_samples"] == 21
        assert summary["runs"][0]["model"] == "mock/uniform"


def test_view_is_read_only_and_answers_only_loopback_hosts(runs: dict[str, Path]) -> None:
    before = (runs["uniform"] / "predictions.jsonl").read_bytes()
    with served(runs["uniform"]) as url:
        assert get(url, "/api/runs", method="POST")[0] == 405
        assert get(url, "/api/runs", method="DELETE")[0] == 405
        status, _, body = get(url, "/api/runs", host="attacker.example")
        assert status == 403 and b"only 127.0.0.1" in body
        assert get(url, "/../manifest.json")[0] == 404
    assert (runs["uniform"] / "predictions.jsonl").read_bytes() == before


def test_the_page_forbids_inline_script(runs: dict[str, Path]) -> None:
    from urllib.request import urlopen

    with served(runs["uniform"]) as url, urlopen(url, timeout=60) as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in csp and "unsafe" not in csp


def test_bad_parameters_get_a_clear_400(runs: dict[str, Path]) -> None:
    with served(runs["uniform"]) as url:
        status, _, body = get(url, "/api/samples", {"outcome": "wrong"})
        assert status == 400 and b"choose one of ok, invalid, refused, blocked, error" in body
        status, _, body = get(url, "/api/samples", {"size": "100000"})
        assert status == 400 and b"size" in body
        status, _, body = get(url, "/api/samples", {"focus": "3"})
        assert status == 400 and b"there are 1 runs" in body


def test_two_runs_side_by_side_and_disagreeing(runs: dict[str, Path]) -> None:
    with served(runs["uniform"], runs["oracle"]) as url:
        page = get_json(url, "/api/samples", {"size": 200})
        assert page["total"] == 21
        for item in page["items"]:
            uniform, oracle = item["runs"]
            assert uniform["sample_id"] == oracle["sample_id"] == item["sample_id"]
        wrong = {i["sample_id"] for i in page["items"] if i["runs"][0]["pred"] != i["gold"]}
        assert 0 < len(wrong) < 21
        disagree = get_json(url, "/api/samples", {"disagree": "1", "size": 200})
        assert {i["sample_id"] for i in disagree["items"]} == wrong
        # The filters apply to the chosen run: the oracle is never wrong.
        off = get_json(url, "/api/samples", {"focus": 1, "gold": "Anger", "pred": "Fear"})
        assert off["total"] == 0


def test_a_still_is_shown_as_the_model_saw_it(runs: dict[str, Path]) -> None:
    manifest = json.loads((runs["uniform"] / "manifest.json").read_text())
    sid = "test/Sad/0002.jpg"
    with served(runs["uniform"]) as url:
        info = get_json(url, "/api/media", {"run": 0, "id": sid})
        assert info["as"] == "image" and len(info["parts"]) == 1
        status, mime, body = get(url, "/media/part", {"run": 0, "id": sid, "k": 0})
        assert status == 200 and mime == "image/jpeg"
        media = Media.from_path(Path(manifest["dataset"]["root"]) / sid)
        seen = prepare_media(media, MediaSpec.model_validate(manifest["media"]), as_="image")
        assert body == seen.parts[0].data
        status, mime, thumb = get(url, "/thumb", {"run": 0, "id": sid})
        assert status == 200 and mime == "image/jpeg" and thumb[:2] == b"\xff\xd8"
    thumbs = list((runs["uniform"] / ".view" / "thumbs").iterdir())
    assert thumbs and thumbs[0].read_bytes() == thumb


def test_video_frames_come_with_their_times(runs: dict[str, Path]) -> None:
    manifest = json.loads((runs["video"] / "manifest.json").read_text())
    sid = "test/Happy/0001.avi"
    spec = MediaSpec.model_validate(manifest["media"])
    expected = prepare_media(Media.from_path(Path(manifest["dataset"]["root"]) / sid), spec,
                             as_="frames")
    with served(runs["video"]) as url:
        info = get_json(url, "/api/media", {"run": 0, "id": sid})
        assert info["as"] == "frames"
        assert [p["time_s"] for p in info["parts"]] == [p.time_s for p in expected.parts]
        assert len(info["parts"]) == 8
        status, _, body = get(url, "/media/part", {"run": 0, "id": sid, "k": 7})
        assert status == 200 and body == expected.parts[7].data


def test_media_outside_the_dataset_root_is_never_read(tmp_path: Path) -> None:
    root = stills(tmp_path / "data", 1)
    outside = tmp_path / "secret.jpg"
    outside.write_bytes((root / "test/Sad/0001.jpg").read_bytes())
    manifest = {"dataset": {"root": str(root)}, "media": MediaSpec().model_dump(mode="json")}

    def media_of(sample_id: str, recorded: str | None = None) -> SampleMedia:
        details = {"media": [{"as": "image", "source": recorded}]} if recorded else {}
        step = Step(name="answer", model="mock/x", prompt_hash="0", text_sent="?",
                    response_text="Sad", details=details)
        pred = Prediction(sample_id=sample_id, gold="Sad", pred="Sad", outcome="ok",
                          steps=[step])
        return SampleMedia(manifest, pred, tmp_path / "cache")

    assert media_of("test/Sad/0001.jpg").thumbnail() is not None
    assert media_of("../secret.jpg").thumbnail() is None
    assert media_of(str(outside)).part(0) is None
    crafted = media_of("test/Sad/0001.jpg", recorded=str(outside))
    assert crafted.path == (root / "test/Sad/0001.jpg").resolve()
    assert "no file" in media_of("../secret.jpg").info()["notes"][0]


def test_view_of_a_folder_that_is_no_run_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "view", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "not a run directory" in proc.stderr


def test_view_has_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "vlmfer", "view", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "usage: vlmfer view" in proc.stdout and "--port" in proc.stdout
