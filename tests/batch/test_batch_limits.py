"""Requests are split into several jobs at the provider's limits (forced tiny here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_support import cli_args, experiment, predictions, state, verdicts, vlmfer

from vlmfer.batch import BatchLimits, collect_batch, start_batch
from vlmfer.emulator import Emulator


def test_openai_splits_by_request_count(tmp_path: Path, images: Path, emu: Emulator) -> None:
    emu.configure(batch_max_requests=4)  # the provider fails a larger job
    out = tmp_path / "batch-run"
    start_batch(experiment(images, emu, "openai", out), limits=BatchLimits(max_requests=4))
    jobs = state(out)["rounds"][0]["jobs"]
    assert [j["end"] - j["start"] for j in jobs] == [4, 4, 4, 4, 4, 1]
    assert len({j["id"] for j in jobs}) == 6 and len({j["input_file"] for j in jobs}) == 6
    assert collect_batch(out).complete
    assert {p["outcome"] for p in predictions(out).values()} == {"ok"}
    assert sorted(c["batch_id"] for c in emu.calls("openai.batch_request")) == sorted(
        j["id"] for j in jobs for _ in range(j["end"] - j["start"]))


def test_openai_splits_by_bytes(tmp_path: Path, images: Path, emu: Emulator) -> None:
    one = tmp_path / "one"
    start_batch(experiment(images, emu, "openai", one))
    (job,) = state(one)["rounds"][0]["jobs"]
    per_request = job["length"] / 21
    limit = int(per_request * 5.5)  # five requests fit, six do not
    emu.reset()
    emu.configure(batch_max_bytes=limit)  # the provider refuses a larger input file
    out = tmp_path / "batch-run"
    start_batch(experiment(images, emu, "openai", out), limits=BatchLimits(max_bytes=limit))
    jobs = state(out)["rounds"][0]["jobs"]
    assert len(jobs) == 5 and all(j["length"] <= limit for j in jobs)
    assert sum(j["end"] - j["start"] for j in jobs) == 21
    assert [j["start"] for j in jobs[1:]] == [j["end"] for j in jobs[:-1]]  # contiguous
    assert collect_batch(out).complete
    assert collect_batch(one).complete
    assert verdicts(out) == verdicts(one)


def test_gemini_inlines_small_jobs_and_files_large_ones(
    tmp_path: Path, images: Path, emu: Emulator
) -> None:
    out = tmp_path / "batch-run"
    probe = tmp_path / "probe"
    start_batch(experiment(images, emu, "gemini", probe))
    per_request = state(probe)["rounds"][0]["jobs"][0]["length"] / 21
    limits = BatchLimits(max_requests=8, inline_bytes=int(per_request * 6))
    emu.reset()
    start_batch(experiment(images, emu, "gemini", out), limits=limits)
    jobs = state(out)["rounds"][0]["jobs"]
    assert [(j["end"] - j["start"], j["mode"]) for j in jobs] == [
        (8, "file"), (8, "file"), (5, "inline")]
    assert jobs[2]["input_file"] is None and jobs[0]["input_file"].startswith("files/")
    assert len(emu.calls("gemini.upload")) == 2  # the two JSONL inputs
    assert collect_batch(out).complete
    assert collect_batch(probe).complete
    assert verdicts(out) == verdicts(probe)


def test_limits_from_the_environment(tmp_path: Path, images: Path, emu: Emulator) -> None:
    out = tmp_path / "batch-run"
    args = [*cli_args(images, emu, "openai", out), "--batch"]
    bad = vlmfer(*args, cwd=tmp_path, cache=tmp_path / "cache",
                 VLMFER_BATCH_MAX_REQUESTS="many")
    assert bad.returncode == 2
    assert "VLMFER_BATCH_MAX_REQUESTS='many' is not a whole number" in bad.stderr
    assert emu.calls("openai.batches.create") == []
    ok = vlmfer(*args, cwd=tmp_path, cache=tmp_path / "cache", VLMFER_BATCH_MAX_REQUESTS="10")
    assert ok.returncode == 0, ok.stderr
    assert [j["end"] - j["start"] for j in state(out)["rounds"][0]["jobs"]] == [10, 10, 1]
    assert state(out)["limits"]["main"]["max_requests"] == 10


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_provider_defaults_come_from_the_predictors_job_client(
    provider: str, emu: Emulator
) -> None:
    from batch_support import MODELS, base_url

    import vlmfer

    predictor = vlmfer.get_predictor(MODELS[provider], base_url=base_url(emu, provider))
    client = predictor.batch_jobs()
    assert client is not None and client.provider == provider
    limits = client.limits
    if provider == "openai":
        assert (limits.max_requests, limits.max_bytes, limits.inline_bytes) == (
            50_000, 200_000_000, 0)
    else:
        assert limits.max_bytes == 2_000_000_000 and 0 < limits.inline_bytes <= 20_000_000
    assert emu.requests == []  # asking for the capability calls nobody


def test_for_provider_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="batch_jobs"):
        limits = BatchLimits.for_provider("openai")
    assert limits.max_requests == 50_000
