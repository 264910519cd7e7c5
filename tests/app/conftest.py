"""AppTest helpers: run the real entry point, then switch to one page."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own runs and cache folders."""
    monkeypatch.setenv("SSL_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SSL_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)


def open_page(page: str | None = None, timeout: float = 30, **state) -> AppTest:
    """Run streamlit_app.py and, if given, switch to app/pages/<page>.py; returns the AppTest."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(f"app/pages/{page}.py").run()
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
