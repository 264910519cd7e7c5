"""End-to-end fixtures: a real `streamlit run` server and real Chromium driven by Playwright.

Locally the tests skip with a reason when chromium or playwright is missing; under CI (CI=true)
they fail instead, so a broken CI image cannot pass silently.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not shutil.which("chromium"):
        return "chromium is not on PATH (apt-get install -y chromium)"
    return None


def _require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"e2e tests must run under CI, but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, cache: Path, port: int, extra_env: dict | None = None):
    """Start `streamlit run streamlit_app.py` on 127.0.0.1:port; returns the Popen."""
    env = {**os.environ, "SSL_LAB_RUNS": str(runs), "SSL_LAB_CACHE": str(cache), "SSL_LAB_DATA_ROOTS": "/",
           **(extra_env or {})}
    cmd = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    log = open(runs.parent / f"streamlit-{port}.log", "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # polling the health endpoint, not waiting on the UI
    raise RuntimeError(f"streamlit did not answer {url}/_stcore/health in {timeout}s")


@contextlib.contextmanager
def serving(base: Path):
    """A real Streamlit server with runs and cache folders under `base`, healthy: yields {url, runs, cache, pid};
    on exit the server ends and so do the training runs it started."""
    (base / "runs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_server(base / "runs", base / "cache", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield {"url": url, "runs": base / "runs", "cache": base / "cache", "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop_training(base / "runs")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """URL of a real Streamlit server with its own runs and cache folders."""
    _require_browser()
    with serving(tmp_path_factory.mktemp("e2e")) as s:
        yield s


def stop_training(root: Path, grace: float = 30) -> None:
    """Training processes outlive the server (they are detached): stop the ones these tests started."""
    from ssl_core import runs

    for d in root.iterdir():
        if (d / "status.json").exists():
            runs.stop(d, wait=grace, kill=True)


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)  # generous: CI shares 2 cores with training runs and the server
    yield pg
    ctx.close()


def wait_idle(page, timeout: float = 90_000) -> None:
    """Wait until Streamlit has finished the current script run.

    The app root `[data-testid="stApp"]` carries `data-test-script-state`; it reads "running"
    while the script runs and "notRunning" once the run is done.
    """
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           state="attached", timeout=timeout)


def open_page(page, server, path: str = "") -> None:
    """Go to a page and wait for its script run to finish.

    Right after loading, the app reads "notRunning" before the first run has even started, so first
    wait for the page's title (every page writes one first), then for the run to end.
    """
    page.goto(f"{server['url']}/{path}")
    page.wait_for_selector('[data-testid="stMain"] h1', state="attached")
    wait_idle(page)


def settle(page) -> None:
    """Wait until lazily loaded widget code and every image have arrived (for faithful screenshots)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def shot(page, name: str) -> None:
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


CLICKABLE = ".ssl-click-box img"  # app/clickable_image.py's picture
PATCH_POINT = """([sel, i]) => {  // screen position of the centre of patch i (row-major), and the patch count
  const img = document.querySelector(sel), r = img.getBoundingClientRect(), d = img.dataset;
  const cols = +d.cols, n = +d.rows * cols, k = ((i % n) + n) % n, row = Math.floor(k / cols), col = k % cols;
  const x = Math.min((col + 0.5) * d.pw, d.w - 0.5), y = Math.min((row + 0.5) * d.ph, d.h - 0.5);
  return {x: r.left + x * r.width / d.w, y: r.top + y * r.height / d.h, n: n, row: row, col: col};
}"""


def patch_point(page, index: int, within: str = "") -> dict:
    """Where patch `index` of the clickable image (inside the element `within`, if given) sits on screen."""
    return page.evaluate(PATCH_POINT, [f"{within} {CLICKABLE}".strip(), index])


def assert_no_exception(page) -> None:
    """No traceback, and no bug caught by app.ui.user_errors ("Unexpected error ...")."""
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()
    bugs = page.locator('[data-testid="stAlert"]').filter(has_text="Unexpected error")
    assert bugs.count() == 0, bugs.first.inner_text()
