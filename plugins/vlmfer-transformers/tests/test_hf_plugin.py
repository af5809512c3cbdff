"""Registration, lazy imports and start-up errors of the hf provider."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import vlmfer
from vlmfer.errors import ConfigError, MissingDependencyError, MissingResourceError
from vlmfer.plugins import Registry


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, check=False)


def test_fresh_registry_lists_hf_from_this_distribution() -> None:
    entry = Registry().entries("predictor")["hf"]
    assert entry.plugin == "transformers"
    assert entry.distribution == "vlmfer-transformers"
    assert entry.version == "0.1.0"


def test_vlmfer_plugins_lists_it_without_importing_torch() -> None:
    cli = subprocess.run([sys.executable, "-m", "vlmfer", "plugins", "--json"],
                         capture_output=True, text=True, timeout=120, check=True)
    rows = json.loads(cli.stdout)
    rows = rows if isinstance(rows, list) else rows.get("plugins", rows)
    assert any(r["name"] == "hf" and r["kind"] == "predictor"
               and r["distribution"] == "vlmfer-transformers" for r in rows)
    probe = run_python(
        "import sys, vlmfer_transformers, vlmfer\n"
        "vlmfer.get_registry().entries('predictor')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    assert probe.stdout.strip() == "[]", probe.stderr


def test_load_plugins_env_can_leave_it_out() -> None:
    probe = run_python(
        "import vlmfer\nprint('hf' in vlmfer.get_registry().entries('predictor'))",
        VLMFER_LOAD_PLUGINS="predictors",
    )
    assert probe.stdout.strip() == "False", probe.stderr


def test_missing_torch_says_what_to_install(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import torch` fail, as where it is not installed.
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import vlmfer\n"
        "from vlmfer.errors import MissingDependencyError\n"
        "try:\n"
        f"    vlmfer.get_predictor('hf/{tmp_path}')\n"
        "except MissingDependencyError as e:\n"
        "    print('MDE', e)\n"
    )
    probe = run_python(code)
    assert probe.stdout.startswith("MDE"), probe.stderr
    assert "torch is missing" in probe.stdout and "pip install 'torch==2.13.0'" in probe.stdout
    assert issubclass(MissingDependencyError, ConfigError)


def test_missing_directory_is_a_clear_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "qwen2-vl"
    with pytest.raises(MissingResourceError) as info:
        vlmfer.get_predictor(f"hf/{missing}")
    assert info.value.path == missing.resolve() and "pip install" not in info.value.how_to_get
    msg = str(info.value)
    assert f"there is no folder {missing}" in msg
    assert "never downloads" in msg and "HF_HUB_OFFLINE=1" in msg


def test_repo_id_not_in_local_cache_is_not_downloaded() -> None:
    with pytest.raises(MissingResourceError) as info:
        vlmfer.get_predictor("hf/vlmfer-test/no-such-model")
    msg = str(info.value)
    assert "no copy of the Hub repo 'vlmfer-test/no-such-model' in the local Hugging Face cache" \
        in msg
    assert "hf download vlmfer-test/no-such-model --local-dir" in msg


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match=r"has no config\.json"):
        vlmfer.get_predictor(f"hf/{tmp_path}")


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(ConfigError, match="is a file; hf/ needs the model's folder"):
        vlmfer.get_predictor(f"hf/{weights}")


def test_text_only_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError) as info:
        vlmfer.get_predictor(f"hf/{tmp_path}")
    msg = str(info.value)
    assert "model type 'llama' is not an image-text-to-text model" in msg
    assert "llava" in msg and "qwen2_vl" in msg


def test_folder_without_weights(tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "no-weights"
    shutil.copytree(tiny_model, copy, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ConfigError, match="holds no weight files"):
        vlmfer.get_predictor(f"hf/{copy}")


def test_folder_without_processor(tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "no-processor"
    copy.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model / name, copy / name)
    with pytest.raises(ConfigError, match="cannot load the processor"):
        vlmfer.get_predictor(f"hf/{copy}")


def test_folder_without_chat_template(tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "no-template"
    shutil.copytree(tiny_model, copy, ignore=shutil.ignore_patterns("chat_template.*"))
    with pytest.raises(ConfigError, match=r"has no chat template.*chat_template_file"):
        vlmfer.get_predictor(f"hf/{copy}")


def test_unreadable_chat_template_file(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chat_template_file: cannot read"):
        vlmfer.get_predictor(f"hf/{tiny_model}", chat_template_file=str(tmp_path / "none.j2"))


def test_unknown_and_bad_options(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown option.*'temprature'.*Valid options: chat_"):
        vlmfer.get_predictor(f"hf/{tiny_model}", temprature=0)
    with pytest.raises(ConfigError, match="dtype"):
        vlmfer.get_predictor(f"hf/{tiny_model}", dtype="float64")
    with pytest.raises(ConfigError, match="is not a torch device"):
        vlmfer.get_predictor(f"hf/{tiny_model}", device="gpu0")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="sees no CUDA device; use device='cpu'"):
        vlmfer.get_predictor(f"hf/{tiny_model}", device="cuda")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                    reason="torchvision is installed here")
def test_processor_that_needs_torchvision_says_so(tiny_model: Path, tmp_path: Path) -> None:
    """Qwen2-VL's processor includes a video processor, which transformers 5 builds
    with torchvision only (as on machines with the CPU torch 2.13.0)."""
    from transformers import Qwen2VLConfig
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    folder = tmp_path / "qwen2-vl"
    folder.mkdir()
    Qwen2VLConfig().to_json_file(str(folder / "config.json"))
    Qwen2VLImageProcessorPil().save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, folder / name)
    (folder / "processor_config.json").write_text(json.dumps({"processor_class":
                                                              "Qwen2VLProcessor"}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(MissingDependencyError) as info:
        vlmfer.get_predictor(f"hf/{folder}")
    msg = str(info.value)
    assert "qwen2_vl" in msg and "Qwen2VLVideoProcessor" in msg
    assert "pip install torchvision" in msg
