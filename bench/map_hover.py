"""Hover thumbnails on the Map page: time from the pointer reaching a point to its picture on screen, in
real Chromium against a real `streamlit run`, and the bytes each contact sheet costs.

    python bench/map_hover.py                 # 5,000 shapes images, PCA map of the classroom ViT
    python bench/map_hover.py --images 20000

The first hover over a point of a sheet asks the server for that sheet (a fragment rerun); later hovers
over points of the same sheet are drawn from the browser's copy. Prints figures; asserts nothing.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_speed import make_checkpoint, wait_health  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, free_port, start_server, wait_idle  # noqa: E402

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
POINTS = """(n) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const out = [];
  for (const t of gd._fullData) for (let j = 0; j < t.x.length && out.length < n; j += 7)
    out.push({i: t.customdata[j], x: box.left + xa._offset + xa.l2p(t.x[j]), y: box.top + ya._offset + ya.l2p(t.y[j])});
  return out;
}"""
SHOWN = """() => { const t = document.getElementById('ssl-lab-hover-thumb');
  return t && t.style.display === 'block' ? Number(t.dataset.point) : null; }"""  # dense maps: the nearest point wins


def main() -> None:
    from playwright.sync_api import sync_playwright

    from app.chart_events import COLS, PER_SHEET, SIZE
    from ssl_core.analysis.thumbnails import contact_sheet
    from ssl_core.data import load_data

    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--hovers", type=int, default=40)
    args = p.parse_args()

    data = load_data("shapes", "test", 32, args.images)
    t = time.perf_counter()
    sheets = [contact_sheet(data.images, k * PER_SHEET, PER_SHEET, SIZE, COLS) for k in range(10)]
    encode_ms = (time.perf_counter() - t) / len(sheets) * 1e3
    sheet_kb = statistics.mean(len(s) for s in sheets) / 1e3

    tmp = Path(tempfile.mkdtemp(prefix="ssl-lab-hover-"))
    (tmp / "runs").mkdir()
    ckpt = make_checkpoint(tmp / "vit-mini.safetensors")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(tmp / "runs", tmp / "cache", port, {"SSL_LAB_WARM_UP": "0"})
    try:
        wait_health(url, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/map")
            page.wait_for_selector('[data-testid="stMain"] h1')
            wait_idle(page)
            page.get_by_text("A path on this server").first.click()
            wait_idle(page)
            box = page.get_by_label("Checkpoint path")
            box.fill(str(ckpt))
            box.press("Enter")
            wait_idle(page)
            number = page.get_by_label("Images")
            number.fill(str(args.images))
            number.press("Enter")
            wait_idle(page)
            page.get_by_text("PCA", exact=True).click()
            wait_idle(page)
            page.get_by_role("button", name="Draw the map").click()
            page.locator(PLOT).wait_for()
            wait_idle(page)
            page.locator(PLOT).scroll_into_view_if_needed()
            points = page.evaluate(POINTS, args.hovers)
            first, cached = [], []
            seen = set()
            for pt in points:
                page.mouse.move(2, 2)
                page.wait_for_function("() => { const t = document.getElementById('ssl-lab-hover-thumb');"
                                       " return !t || t.style.display === 'none'; }")
                t = time.perf_counter()
                page.mouse.move(pt["x"], pt["y"])
                shown = page.wait_for_function(SHOWN, timeout=60_000, polling="raf").json_value()
                ms = (time.perf_counter() - t) * 1e3
                sheet = shown // PER_SHEET
                (cached if sheet in seen else first).append(ms)
                seen.add(sheet)
            shipped = page.evaluate("() => window.__sslLabSheets.size")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    n_sheets = -(-args.images // PER_SHEET)
    print(f"load average: {open('/proc/loadavg').read().split()[0]}; {args.images} images, {n_sheets} sheets of "
          f"{PER_SHEET} ({SIZE} px cells)")
    print(f"contact sheet: {sheet_kb:.0f} KB JPEG, encoded in {encode_ms:.0f} ms")
    print(f"hover to picture, first point of a sheet (server round trip): median "
          f"{statistics.median(first):.0f} ms, max {max(first):.0f} ms over {len(first)} hovers")
    if cached:
        print(f"hover to picture, sheet already in the browser: median {statistics.median(cached):.0f} ms, "
              f"max {max(cached):.0f} ms over {len(cached)} hovers")
    print(f"sheets shipped after {len(points)} hovers: {shipped} of {n_sheets} "
          f"({shipped * sheet_kb / 1e3:.1f} MB instead of {n_sheets * sheet_kb / 1e3:.1f} MB)")


if __name__ == "__main__":
    main()
