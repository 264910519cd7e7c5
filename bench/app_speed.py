"""How fast the app feels: time from `streamlit run` to the first page rendered in Chromium, page
switch time, and the server's memory with one model loaded.

    python bench/app_speed.py            # prints the figures; needs chromium and playwright
    python bench/app_speed.py --no-warm-up   # the same without the Map page's background UMAP warm-up

The model is the classroom ViT (192-d, 6 blocks, 32 px), written as a checkpoint in a temp folder.
"""

import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS, free_port, start_server, wait_idle  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_checkpoint(path: Path) -> Path:
    from ssl_core.models import build_backbone, parse_backbone
    from ssl_core.models.checkpoint import save_backbone

    arch = parse_backbone("vit", 32)
    model = build_backbone(arch)
    return save_backbone(path, model, {"arch": arch, "method": "simclr", "data": "shapes", "step": 0, "metrics": {}})


def wait_health(url: str, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("streamlit exited")
            time.sleep(0.02)
    raise SystemExit("streamlit did not start")


def switch(page, label: str, heading: str) -> float:
    t = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=label, exact=True).click()
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - t


def main() -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="ssl-lab-bench-"))
    (tmp / "runs").mkdir()
    ckpt = make_checkpoint(tmp / "vit-mini.safetensors")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        extra = {"SSL_LAB_WARM_UP": "0"} if "--no-warm-up" in sys.argv else None
        proc = start_server(tmp / "runs", tmp / "cache", port, extra)
        try:
            wait_health(url, proc)
            t_up = time.perf_counter() - t0
            page.goto(url)
            page.get_by_role("heading", name="SSL Lab").first.wait_for(timeout=60_000)
            wait_idle(page)
            t_first = time.perf_counter() - t0
            print(f"load average before: {open('/proc/loadavg').read().split()[0]}; UMAP warm-up "
                  f"{'off' if extra else 'on'}")
            print(f"server up (health answers):        {t_up:.2f} s after `streamlit run`")
            print(f"first page rendered in Chromium:   {t_first:.2f} s after `streamlit run` "
                  f"({t_first - t_up:.2f} s after the server was up)")
            rss0 = rss_mb(proc.pid)

            first = {}
            for label in ["Data", "Train", "Checkpoints", "Home"]:
                first[label] = switch(page, label, "SSL Lab" if label == "Home" else label)
            print("first visit (imports torch etc.): " + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()))
            times = {k: [] for k in first}
            for _ in range(3):
                for label in times:
                    times[label].append(switch(page, label, "SSL Lab" if label == "Home" else label))
            print("page switch, median of 3:        " +
                  ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in times.items()))

            switch(page, "Checkpoints", "Checkpoints")
            rss_before = rss_mb(proc.pid)
            page.get_by_text("A path on this server").click()
            wait_idle(page)
            box = page.get_by_label("Path", exact=True)
            box.fill(str(ckpt))
            box.press("Enter")
            page.get_by_role("button", name="Use as current model").click()
            page.get_by_text("This is the current model.").wait_for(timeout=60_000)
            rss_model = rss_mb(proc.pid)
            print(f"server RSS: {rss0:.0f} MB after Home, {rss_before:.0f} MB after visiting every page, "
                  f"{rss_model:.0f} MB with one model loaded ({ckpt.stat().st_size / 1e6:.1f} MB ViT checkpoint)")
        finally:
            proc.terminate()
            proc.wait(10)
            browser.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
