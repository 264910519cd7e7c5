"""The app stays a thin face: no ML logic in app/, and the entry point imports nothing heavy."""

import re

from tests.app.conftest import ROOT

FORBIDDEN = [r"\.backward\(", r"optimizer\.step\(", r"\.step\(\)\s*$", r"def \w*loss\w*\("]


def test_no_training_logic_in_app():
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text()
        for pattern in FORBIDDEN:
            assert not re.search(pattern, text, re.M), f"{path.relative_to(ROOT)} matches {pattern}"


def test_shell_imports_are_light():
    light = ["streamlit_app.py", "app/state.py", "app/ui.py", "app/lessons.py", "app/pages/home.py"]
    for name in light:
        top = [ln for ln in (ROOT / name).read_text().splitlines() if ln.startswith(("import ", "from "))]
        for line in top:
            assert not re.search(r"\b(torch|ssl_core\.(models|methods|train|data))\b", line), f"{name}: {line}"
