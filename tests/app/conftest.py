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
    monkeypatch.setenv("SSL_LAB_DATA_ROOTS", "/")  # tests name files anywhere; tests/app/test_rules.py restricts it
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
    """No traceback, and no bug caught by app.ui.user_errors ("Unexpected error ...")."""
    assert not at.exception, [e.value for e in at.exception]
    bugs = [e.value for e in at.error if e.value.startswith("Unexpected error")]
    assert not bugs, bugs


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def tiny_checkpoint(path, step: int = 10, method: str = "simclr"):
    """A real SSL Lab checkpoint of a very small ViT, written the engine's way."""
    from ssl_core.models import build_backbone, parse_backbone
    from ssl_core.models.checkpoint import save_backbone

    arch = parse_backbone("vit:dim=32,depth=1,heads=2,patch=8", 32)
    model = build_backbone(arch)
    return save_backbone(path, model, {"arch": arch, "method": method, "data": "shapes", "step": step,
                                       "metrics": {"knn_k200": 0.5}})
