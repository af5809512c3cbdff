"""``import vlmfer`` stays light: no SDK, PyAV, matplotlib, scikit-learn or Jinja2."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"openai", "google", "av", "matplotlib", "sklearn", "cv2", "scipy", "jinja2"}


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    found: list[str] = eval(out.stdout.strip())  # a list literal printed by the child
    return found


def test_import_vlmfer_loads_no_heavy_module() -> None:
    assert _loaded_after("import vlmfer") == []


def test_registry_and_labels_load_no_heavy_module() -> None:
    code = "import vlmfer\nvlmfer.get_registry().all_entries()\nvlmfer.CAER_LABELS"
    assert _loaded_after(code) == []


def test_cli_help_loads_no_heavy_module() -> None:
    code = "from vlmfer.cli import build_parser\nbuild_parser().format_help()"
    assert _loaded_after(code) == []
