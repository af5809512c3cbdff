"""The run's manifest, written from the components' own descriptions."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from vlmfer._version import __version__
from vlmfer.datasets.base import Dataset
from vlmfer.engine.core import EngineOptions
from vlmfer.engine.preflight import run_media_spec
from vlmfer.engine.rundir import utcnow
from vlmfer.predictors.base import Predictor
from vlmfer.strategies.base import Strategy


def plugin_versions() -> list[dict[str, Any]]:
    """Every loaded plugin, with the distribution and version it came from.

    Read from the registry's plugin list, not from what the plugins registered: calling
    every hook would import every metric (and NumPy) before the first request.
    """
    from vlmfer.plugins import get_registry

    return [{"plugin": name, "distribution": dist, "version": version}
            for name, dist, version in sorted(get_registry().plugins())]


#: Distributions that shape the bytes sent (media decoding and encoding) or the request
#: (the SDKs, their HTTP transport, the data models). Those not installed are left out.
REQUEST_PACKAGES = (
    "Pillow", "av", "numpy", "opencv-python", "opencv-python-headless",
    "opencv-contrib-python", "openai", "google-genai", "anthropic", "httpx2", "pydantic",
)


def package_versions(names: Sequence[str] = REQUEST_PACKAGES) -> dict[str, str]:
    """The installed version of each distribution in ``names``, by importlib.metadata."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def source_commit(distribution: str = "vlmfer") -> str | None:
    """The git commit vlmfer was installed from, when it is known without running git.

    A ``pip install git+...`` records it (PEP 610 ``vcs_info``); an editable install of a
    checkout is read from its ``.git`` (``HEAD``, then the ref file or ``packed-refs``).
    Anything else, or anything unreadable, gives None.
    """
    try:
        raw = metadata.distribution(distribution).read_text("direct_url.json")
        info = json.loads(raw) if raw else None
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("commit_id"):
        return str(vcs["commit_id"])
    url = str(info.get("url", ""))
    if not (isinstance(info.get("dir_info"), dict) and info["dir_info"].get("editable")
            and url.startswith("file://")):
        return None
    try:
        return _git_head(Path(url2pathname(urlsplit(url).path)))
    except (OSError, UnicodeDecodeError):
        return None


def _git_head(root: Path) -> str | None:
    git = root / ".git"
    if git.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = git.read_text(encoding="utf-8").strip()
        if not text.startswith("gitdir:"):
            return None
        git = (root / text.removeprefix("gitdir:").strip()).resolve()
    if not git.is_dir():
        return None
    head = (git / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return head if _is_sha(head) else None
    ref = head.removeprefix("ref:").strip()
    common = git
    if (git / "commondir").is_file():  # a worktree keeps its branches in the main .git
        common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (git, common):
        if (base / ref).is_file():
            sha = (base / ref).read_text(encoding="utf-8").strip()
            return sha if _is_sha(sha) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _is_sha(sha):
                return sha
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


#: Predictor options that change how a run executes or is priced, never the answers:
#: changing them must not stop a resume.
EXECUTION_ONLY_OPTIONS = frozenset({
    "price_file", "timeout_s", "upload_poll_s", "upload_timeout_s", "max_images",
    "local", "max_concurrent_requests", "retry_timeouts", "probe",
})


def _answer_identity(description: dict[str, Any]) -> dict[str, Any]:
    options = description.get("options")
    if not isinstance(options, dict):
        return description
    kept = {k: v for k, v in options.items() if k not in EXECUTION_ONLY_OPTIONS}
    return {**description, "options": kept}


def build_manifest(
    dataset: Dataset, strategy: Strategy, predictors: dict[str, Predictor],
    options: EngineOptions, *, mode: str = "online", command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The manifest is written from the components' own descriptions."""
    ds = dataset.describe()
    media = run_media_spec(strategy, options.media)
    strat = strategy.describe()
    if isinstance(strat.get("options"), dict) and "media" in strat["options"]:
        # What the strategy ran with; earlier folders recorded [media] here, and resume compares it.
        strat = {**strat, "options": {**strat["options"], "media": media.model_dump(mode="json")}}
    fingerprint = dataset.fingerprint()
    # The selection, not the file contents: repairing a broken file must not stop a resume
    # (the cache key holds each file's hash, so a changed file is asked afresh).
    identity = {
        "dataset": {"name": dataset.name, "split": dataset.split, "n": len(dataset),
                    "labels": list(dataset.labels), "options": ds.get("options")},
        "model": {role: _answer_identity(p.describe()) for role, p in sorted(predictors.items())},
        "strategy": strat,
        "media": media.model_dump(mode="json"),
        # An online run must not continue a batch run's folder, nor the reverse.
        "mode": mode,
    }
    return {
        "vlmfer_version": __version__,
        "vlmfer_commit": source_commit(),
        "packages": package_versions(),
        "plugins": plugin_versions(),
        "dataset": {**ds, "name": dataset.name, "split": dataset.split,
                    "fingerprint": fingerprint, "n": len(dataset),
                    "labels": list(dataset.labels)},
        "model": predictors["main"].describe(),
        "roles": {role: p.describe() for role, p in sorted(predictors.items()) if role != "main"},
        "strategy": strat,
        "media": media.model_dump(mode="json"),
        "labels": list(strategy.labels),
        "engine": options.model_dump(mode="json", exclude={"media"}),
        "mode": mode,
        "identity": identity,
        "command": list(command) if command else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "started": utcnow(),
        "finished": None,
    }


