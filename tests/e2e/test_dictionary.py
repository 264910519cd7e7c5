"""The Dictionary page in real Chromium: train a small SAE as a run, open a feature card, click a patch."""

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CLICKABLE, assert_no_exception, open_page, patch_point, shot, wait_idle

WITHIN = '[class*="st-key-dict_patch_"]'
PATCHES = f"{WITHIN} {CLICKABLE}"


@pytest.fixture(scope="module")
def source(server):
    out = server["runs"] / "dict-source"
    proc = subprocess.run([sys.executable, "-m", "ssl_core", "train", "--method", "simclr", "--out", str(out), "--steps",
                           "2", "--backbone", "vit:dim=32,depth=1,heads=2,patch=8", "--batch-size", "32", "--data",
                           "shapes:n=128", "--set", "eval_every=0"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return next((out / "checkpoints").glob("*.safetensors"))


def test_train_a_small_sae_open_a_feature_and_click_a_patch(page, server, source):
    open_page(page, server, "dictionary")
    page.get_by_text("A path on this server").first.click()
    wait_idle(page)
    path = page.get_by_label("Checkpoint path")
    path.fill(str(source))
    path.press("Enter")
    wait_idle(page)
    data = page.get_by_label("Data", exact=True)
    data.fill("shapes:n=200")
    data.press("Enter")
    wait_idle(page)
    minutes = page.get_by_label("Minutes")
    minutes.fill("0.5")
    minutes.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("· finished").wait_for(timeout=240_000)
    # The run's end redraws the whole page once: Stop turns off, and the live timer with it.
    expect(page.get_by_role("button", name="Stop")).to_be_disabled(timeout=30_000)
    wait_idle(page)
    assert_no_exception(page)
    shot(page, "dictionary-trained")

    page.get_by_text("Browse", exact=True).click()
    page.get_by_text("Feature", exact=True).first.wait_for(timeout=120_000)
    page.locator(PATCHES).wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("Firing density", exact=True).count() >= 1
    page.locator(PATCHES).scroll_into_view_if_needed()
    p = patch_point(page, 0, WITHIN)
    page.mouse.move(p["x"], p["y"])
    page.mouse.click(p["x"], p["y"])
    try:
        page.get_by_text("Similarity to the clicked patch").wait_for(timeout=120_000)
    finally:
        shot(page, "dictionary-after-click")
    wait_idle(page)
    assert_no_exception(page)
    shot(page, "dictionary-patch")
