"""Look page speed on this machine, for a 224 px image and a ViT-S/16-sized model (random init).

Prints: first patch-feature extraction (cold, in a fresh process, and warm), server compute per click
(similarity + upsampling + threshold), and, measured with Playwright against a real `streamlit run`
server, the time from a click in the browser to the updated mask line on the page.
Targets (issue 4): <= 400 ms extraction, <= 20 ms per click, <= 600 ms click-to-overlay.

    python bench/look_speed.py [--clicks 8] [--no-browser]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def photo_224() -> np.ndarray:
    from PIL import Image

    from ssl_core.data.builtin import photo_dir

    img = Image.open(photo_dir() / "chelsea.png").convert("RGB")
    s = min(img.size)
    return np.asarray(img.crop((0, 0, s, s)).resize((224, 224), Image.BICUBIC))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def server_side(image: np.ndarray) -> dict:
    from ssl_core.analysis import similarity as sim
    from ssl_core.devices import use_bf16
    from ssl_core.models import build_backbone

    torch.manual_seed(0)
    model = build_backbone("vit-small/16", 224).eval()
    bf16 = use_bf16("auto", torch.device("cpu"))
    t = time.perf_counter()
    feats = sim.extract_patch_features(model, image, bf16=bf16)
    cold = time.perf_counter() - t
    warm = []
    for i in range(5):
        img = np.roll(image, i + 1, axis=1)  # a "new" image each time
        t = time.perf_counter()
        sim.extract_patch_features(model, img, bf16=bf16)
        warm.append(time.perf_counter() - t)
    clicks = {"1 positive, Otsu": ([(112, 112)], []), "3 positive, fixed": ([(112, 112), (60, 150), (30, 30)], []),
              "2 positive + 2 negative": ([(112, 112), (60, 150)], [(5, 5), (220, 5)])}
    per_click = {}
    for name, (pos, neg) in clicks.items():
        times = []
        for _ in range(30):
            t = time.perf_counter()
            sim.segment(feats, pos, neg, "otsu" if "Otsu" in name else 0.5)
            times.append(time.perf_counter() - t)
        per_click[name] = statistics.median(times)
    return {"bf16": bf16, "cold": cold, "warm": statistics.median(warm), "per_click": per_click,
            "grid": feats.frame.grid}


def browser_side(image: np.ndarray, clicks: int) -> list[float]:
    import shutil

    from PIL import Image
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import (
        CHROMIUM_ARGS,
        free_port,
        start_server,
        wait_healthy,
        wait_idle,
    )
    from tests.e2e.test_look import (
        PLOT,
        POINT,
        choose_model,
        make_checkpoint,
        wait_mask_change,
    )

    base = Path(tempfile.mkdtemp(prefix="look-bench-"))
    (base / "runs").mkdir()
    ckpt = make_checkpoint(base / "vit-small-16.safetensors", "vit-small/16", 224)
    png = base / "photo224.png"
    Image.fromarray(image).save(png)
    port = free_port()
    proc = start_server(base / "runs", base / "cache", port)
    url = f"http://127.0.0.1:{port}"
    server = {"url": url}
    out = []
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            choose_model(page, server, ckpt)
            page.get_by_text("Upload", exact=True).first.click()
            wait_idle(page)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(png))
            page.get_by_text("seen as").first.wait_for()
            wait_idle(page)
            page.locator(PLOT).wait_for()
            n = page.evaluate(POINT, 0)["n"]
            before = None
            for i in range(clicks + 1):
                pt = page.evaluate(POINT, (n // 2 + 7 * i) % n)
                t = time.perf_counter()
                page.mouse.click(pt["x"], pt["y"])
                before = wait_mask_change(page, before)
                if i:  # the first click also pays for the feature extraction
                    out.append(time.perf_counter() - t)
                else:
                    first = time.perf_counter() - t
                page.get_by_role("button", name="Undo").click() if i % 3 == 2 else None
                wait_idle(page)
                before = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
                    .map(e => e.innerText).find(t => t.startsWith('Mask:')) || ''""")
            b.close()
        out.insert(0, first)
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clicks", type=int, default=8)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    image = photo_224()
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}")
    r = server_side(image)
    print(f"ViT-S/16, 224x224 image ({r['grid'][0]}x{r['grid'][1]} patches), bf16 autocast: {r['bf16']}")
    print(f"first extraction (cold, first call in the process): {ms(r['cold'])}   target <= 400 ms")
    print(f"extraction of a new image (warm, median of 5):      {ms(r['warm'])}   target <= 400 ms")
    for name, t in r["per_click"].items():
        print(f"server compute per click, {name:24s} {ms(t)}   target <= 20 ms")
    if not args.no_browser:
        lat = browser_side(image, args.clicks)
        print(f"browser click -> updated mask, first click (includes extraction): {ms(lat[0])}")
        print(f"browser click -> updated mask, median of {len(lat) - 1}: {ms(statistics.median(lat[1:]))} "
              f"(min {ms(min(lat[1:]))}, max {ms(max(lat[1:]))})   target <= 600 ms")


if __name__ == "__main__":
    main()
