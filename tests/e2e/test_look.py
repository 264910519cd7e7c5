"""The Look page in real Chromium: pick a model, click a patch and see the mask, change it with a negative
click, and download the mask PNG at the image's own size."""

import io

import pytest
import torch
from PIL import Image

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
POINT = """(i) => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const t = gd._fullData[0], n = t.x.length;
  const k = ((i % n) + n) % n;
  return {x: box.left + xa._offset + xa.l2p(t.x[k]), y: box.top + ya._offset + ya.l2p(t.y[k]), n: n};
}"""


def make_checkpoint(path, arch="vit:dim=64,depth=2,heads=2,patch=8", size=64):
    from ssl_core.models import build_backbone
    from ssl_core.models.checkpoint import save_backbone

    torch.manual_seed(0)
    model = build_backbone(arch, size)
    return save_backbone(path, model, {"method": "none (random init)"})


def choose_model(page, server, path) -> None:
    """Make `path` the current model on the Checkpoints page, then go to Look in the same session."""
    open_page(page, server, "checkpoints")
    page.get_by_text("A path on this server").click()
    wait_idle(page)
    box = page.get_by_label("Path", exact=True)
    box.fill(str(path))
    box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Use as current model").click()
    page.get_by_text("This is the current model.").wait_for()
    page.get_by_role("link", name="Look").first.click()
    page.wait_for_url("**/look")
    wait_idle(page)
    page.locator(PLOT).wait_for()


def click_patch(page, index: int) -> None:
    p = page.evaluate(POINT, index)
    page.mouse.click(p["x"], p["y"])


MASK_LINE = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
    .map(e => e.innerText).find(t => t.startsWith('Mask:')) || ''"""


def wait_mask_change(page, before: str | None, timeout: float = 90_000) -> str:
    """Wait until the whole 'Mask: ...' line differs from `before` (the same text it is compared with)."""
    page.wait_for_function(f"([before]) => {{ const t = ({MASK_LINE})(); return t !== '' && t !== before; }}",
                           arg=[before or ""], timeout=timeout)
    wait_idle(page)
    return page.evaluate(MASK_LINE)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("look") / "look-tiny.safetensors")


def test_click_negative_click_and_export(page, server, checkpoint):
    choose_model(page, server, checkpoint)
    assert_no_exception(page)
    page.get_by_text("Click on the object").first.wait_for()
    n = page.evaluate(POINT, 0)["n"]
    click_patch(page, n // 2 + 3)  # a patch near the middle of the photo
    first = wait_mask_change(page, None)
    assert "Otsu" in first and "1 positive, 0 negative" in first
    assert_no_exception(page)
    shot(page, "look-positive")

    page.get_by_text("negative", exact=True).first.click()
    # The radio's own rerun must land before the click, or the click would be read in the old mode.
    page.get_by_role("radio", name="negative").first.wait_for(state="attached")
    page.wait_for_function("() => [...document.querySelectorAll('input[type=radio]')]"
                           ".some(r => r.checked && r.closest('label')?.innerText.trim() === 'negative')")
    wait_idle(page)
    click_patch(page, 0)  # the top-left corner
    second = wait_mask_change(page, first)
    assert "nearest prototype" in second and "1 positive, 1 negative" in second and second != first
    assert_no_exception(page)
    shot(page, "look-negative")

    with page.expect_download() as dl:
        page.get_by_role("button", name="Mask PNG").click()
    mask = Image.open(io.BytesIO(dl.value.path().read_bytes()))
    assert mask.format == "PNG" and mask.size == (451, 300)  # chelsea, at its own size
    assert set(mask.getdata()) <= {0, 255}


def test_clicks_are_patch_accurate(page, server, checkpoint):
    """Clicking marker k selects patch k: the hover label of the chosen patch matches its row and column."""
    choose_model(page, server, checkpoint)
    n = page.evaluate(POINT, 0)["n"]
    click_patch(page, n - 1)  # the bottom-right patch
    line = wait_mask_change(page, None)
    assert "1 positive" in line
    marks = page.evaluate(f"() => document.querySelector('{PLOT}')._fullData[0].customdata.length")
    assert marks == n
