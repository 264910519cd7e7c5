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


def test_the_server_binds_to_this_machine_and_sends_no_statistics():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["toolbarMode"] == "viewer"
