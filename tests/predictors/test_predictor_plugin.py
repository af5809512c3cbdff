"""Registration, options, missing SDKs and missing keys: what a user meets first."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from predictor_support import FAKE_KEY, get_predictor, registry

from vlmfer.errors import ConfigError, MissingKeyError, UnknownPredictorError


def test_builtin_providers_are_registered() -> None:
    assert set(registry().entries("predictor")) == {"openai", "gemini", "mock"}


def test_unknown_provider_suggests_the_closest() -> None:
    with pytest.raises(UnknownPredictorError, match="Did you mean 'openai'"):
        get_predictor("opnai/gpt-5.2")


@pytest.mark.parametrize("provider", ["openai", "gemini", "mock"])
def test_unknown_option_names_it_and_lists_the_valid_ones(provider: str) -> None:
    with pytest.raises(ConfigError) as info:
        get_predictor(f"{provider}/m", temprature=0)
    msg = str(info.value)
    assert "'temprature'" in msg and "Valid options:" in msg and "price_file" in msg


def test_invalid_option_value() -> None:
    with pytest.raises(ConfigError, match="detail"):
        get_predictor("openai/gpt-4o", detail="medium", api_key=FAKE_KEY)
    with pytest.raises(ConfigError, match="video_mode"):
        get_predictor("gemini/gemini-3.5-flash", video_mode="stream", api_key=FAKE_KEY)


@pytest.mark.usefixtures("no_keys")
def test_missing_openai_key_says_how_to_fix() -> None:
    with pytest.raises(MissingKeyError, match=r"export OPENAI_API_KEY=\.\.\."):
        get_predictor("openai/gpt-5.2")


@pytest.mark.usefixtures("no_keys")
def test_missing_gemini_key_says_how_to_fix() -> None:
    with pytest.raises(MissingKeyError) as info:
        get_predictor("gemini/gemini-3.5-flash")
    assert "GEMINI_API_KEY" in str(info.value) and "GOOGLE_API_KEY" in str(info.value)


@pytest.mark.usefixtures("no_keys")
def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    o = get_predictor("openai/gpt-5.2")
    g = get_predictor("gemini/gemini-3.5-flash")
    for p in (o, g):
        assert FAKE_KEY not in repr(p.describe()) and FAKE_KEY not in repr(p.cache_identity())


def test_describe_never_contains_the_key() -> None:
    p = get_predictor("openai/gpt-4o", api_key=FAKE_KEY, base_url="http://127.0.0.1:9/v1")
    assert p.describe() == {"name": "openai/gpt-4o", "base_url": "http://127.0.0.1:9/v1",
                            "options": p.options.public()}
    assert FAKE_KEY not in repr(p.describe()) and FAKE_KEY not in repr(p.options)


def _child(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    ("module", "spec", "install"),
    [("openai", "openai/gpt-5.2", "pip install openai"),
     ("google.genai", "gemini/gemini-3.5-flash", "pip install google-genai")],
)
def test_missing_sdk_gives_the_install_command(module: str, spec: str, install: str) -> None:
    out = _child(f"""
        import sys
        sys.modules[{module!r}] = None  # as if the SDK were not installed
        from vlmfer.errors import MissingDependencyError
        from vlmfer.plugins import Registry, get_predictor
        from vlmfer.predictors import plugin
        reg = Registry(load_entrypoints=False)
        reg.register(plugin, name="predictors")
        try:
            get_predictor({spec!r}, registry=reg, api_key="k")
        except MissingDependencyError as exc:
            print("ERR", exc)
    """)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and install in out.stdout and "requires optional" in out.stdout


def test_listing_and_building_the_mock_import_no_sdk() -> None:
    out = _child("""
        import sys
        from vlmfer.plugins import Registry, get_predictor
        from vlmfer.predictors import plugin
        reg = Registry(load_entrypoints=False)
        reg.register(plugin, name="predictors")
        reg.all_entries()
        get_predictor("mock/fixed:Happy", registry=reg)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("openai", "google")))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("old", "new", "cls"), [
    ("openai_backend", "openai", "OpenAIPredictor"),
    ("gemini_backend", "gemini", "GeminiPredictor"),
])
def test_renamed_predictor_modules_still_import_with_a_warning(old: str, new: str,
                                                               cls: str) -> None:
    import importlib
    import sys

    sys.modules.pop(f"vlmfer.predictors.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"vlmfer.predictors.{new}"):
        legacy = importlib.import_module(f"vlmfer.predictors.{old}")
    current = importlib.import_module(f"vlmfer.predictors.{new}")
    assert getattr(legacy, cls) is getattr(current, cls)
