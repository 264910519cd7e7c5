"""The Look page in real Chromium: pick a model, click a patch and see the mask, change it with a negative
click, and download the mask PNG at the image's own size; the input size at hand and the framed mask
preview; several uploads with a mask (scored, co-segmented, exported at their own sizes, a zip of masks);
a 12000x12000 PNG; attention of the first and the last block."""

import io
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.e2e.conftest import CLICKABLE, assert_no_exception, open_page, patch_point, shot, wait_idle


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
    page.locator(CLICKABLE).wait_for()


def click_patch(page, index: int) -> None:
    p = patch_point(page, index)
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
    n = patch_point(page, 0)["n"]
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
    assert "(Otsu), less" in second and "nearer a negative click" in second and "1 positive, 1 negative" in second
    assert_no_exception(page)
    shot(page, "look-negative")

    with page.expect_download() as dl:
        page.get_by_role("button", name="Mask PNG").click()
    mask = Image.open(io.BytesIO(dl.value.path().read_bytes()))
    assert mask.format == "PNG" and mask.size == (451, 300)  # chelsea, at its own size
    assert set(mask.getdata()) <= {0, 255}


PREVIEW = """() => { const b = document.querySelector('.ssl-click-box'), c = b.querySelector('canvas');
    return {seq: +b.dataset.previewSeq || 0, coverage: +b.dataset.previewCoverage, threshold: +b.dataset.previewThreshold,
            shown: c.style.display === 'block'}; }"""


def mask_figures(line: str) -> tuple[float, float]:
    """(coverage %, threshold) from the server's 'Mask: 12.3% of the image, threshold 0.456 ...' line."""
    m = re.search(r"Mask: ([\d.]+)% of the image\*?\*?, threshold (-?[\d.]+)", line)
    assert m, line
    return float(m[1]), float(m[2])


def test_the_browser_draws_each_mask_at_once_and_the_server_agrees(page, server, checkpoint):
    """A click's mask is drawn by the browser in the click's own event (app/clickable_image.py's preview), from
    the same features and by the same rule as the server's: the coverage and Otsu threshold match the server's
    line, for a positive click and then a negative one; the server's picture then replaces the preview."""
    choose_model(page, server, checkpoint)
    page.get_by_text("Click on the object").first.wait_for()
    page.wait_for_function("() => document.querySelector('.ssl-click-box').dataset.ready === '1'")
    n = patch_point(page, 0)["n"]
    line = None
    for clicks, (k, mode) in enumerate(((n // 2 + 3, "positive"), (0, "negative")), 1):
        if mode == "negative":
            choose(page, "negative")
            page.wait_for_function("() => document.querySelector('.ssl-click-box').dataset.positive === 'false'")
        click_patch(page, k)
        drawn = page.evaluate(PREVIEW)  # read right after the click's event: no server round trip yet
        assert drawn["shown"] and drawn["seq"] == clicks, drawn
        line = wait_mask_change(page, line)
        coverage, threshold = mask_figures(line)
        assert abs(100 * drawn["coverage"] - coverage) < 1.0, (drawn, line)
        assert abs(drawn["threshold"] - threshold) < 0.02, (drawn, line)
        page.wait_for_function(f"() => !({PREVIEW})().shown")  # the server's picture, once it has decoded
    assert "1 positive, 1 negative" in line
    assert_no_exception(page)


def test_clicks_are_patch_accurate(page, server, checkpoint):
    """The pointer's patch is outlined and named, and a click there selects that patch: the mask of a click on
    the bottom-right patch holds that patch."""
    choose_model(page, server, checkpoint)
    n = patch_point(page, 0)["n"]
    for k in (0, n // 2 + 5, n - 1):
        p = patch_point(page, k)
        page.mouse.move(p["x"], p["y"])
        title = page.locator(".ssl-click-box").get_attribute("title")
        assert title == f"patch row {p['row']}, column {p['col']}", (k, title)
    page.mouse.click(p["x"], p["y"])  # the bottom-right patch
    line = wait_mask_change(page, None)
    assert "1 positive" in line
    mask = Image.open(io.BytesIO(download(page, "Mask PNG"))).convert("L")
    assert mask.getpixel((mask.width - 2, mask.height - 2)) == 255  # the clicked patch is in its own mask


def upload(page, index: int, files: list) -> None:
    """Put files into the page's `index`-th file uploader, and wait for the run they cause."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(index).set_input_files([str(f) for f in files])
    names = page.locator('[data-testid="stFileUploader"]').nth(index).locator('[data-testid="stFileChipName"]')
    for f in files:
        names.filter(has_text=Path(f).name).first.wait_for()
    wait_idle(page)


def download(page, label: str) -> bytes:
    with page.expect_download() as dl:
        page.get_by_role("button", name=label).click()
    return dl.value.path().read_bytes()


def choose(page, label: str) -> None:
    """Click a radio option by its label and wait for the run."""
    page.get_by_text(label, exact=True).first.click()
    wait_idle(page)


def test_the_controls_say_what_is_in_effect(page, server, checkpoint):
    """The input size is at hand, not in an expander; the mask preview is framed, so a white mask shows."""
    choose_model(page, server, checkpoint)
    size = page.get_by_text("Input size (px)", exact=True)
    assert size.is_visible()  # without opening "Features"
    assert page.get_by_text("Suggested: 224 px, for a photo larger than the training size").is_visible()
    n = patch_point(page, 0)["n"]
    click_patch(page, n // 2 + 3)
    wait_mask_change(page, None)
    img = page.locator('[data-testid="stImage"]').filter(has_text="Mask (white = object").locator("img")
    mask = Image.open(io.BytesIO(page.request.get(img.get_attribute("src")).body())).convert("RGB")
    w, h = mask.size  # as served: 260 px wide
    frame = [mask.getpixel(p) for p in [(0, 0), (1, h // 2), (w - 2, h // 2), (w // 2, 1), (w - 1, h - 1)]]
    assert all(abs(c - 128) <= 12 for px in frame for c in px), frame  # a grey frame all round
    assert_no_exception(page)


def test_uploads_with_a_mask_are_scored_co_segmented_and_exported_at_their_own_sizes(page, server, checkpoint,
                                                                                       tmp_path):
    """Issue 14 items 6 and 13: several uploads at once, a mask to score against, co-segmentation of the
    other uploads, and exports at each file's own size (the page works at most 1024 px)."""
    import zipfile

    import numpy as np

    rng = np.random.default_rng(0)
    big, small = tmp_path / "field.jpg", tmp_path / "street.png"
    Image.fromarray(rng.integers(0, 255, (1350, 2400, 3), dtype=np.uint8)).save(big, quality=80)
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(small)
    gt = np.zeros((1350, 2400), np.uint8)
    gt[300:1000, 600:1800] = 255
    Image.fromarray(gt).save(tmp_path / "field.png")
    choose_model(page, server, checkpoint)
    choose(page, "Upload")
    upload(page, 0, [big, small])
    upload(page, 1, [tmp_path / "field.png"])
    page.locator(CLICKABLE).wait_for()
    assert page.get_by_text("Note: the image was downscaled from 2400x1350 to 1024x576.").is_visible()
    n = patch_point(page, 0)["n"]
    click_patch(page, n // 2)
    line = wait_mask_change(page, None)
    assert "1 positive" in line
    table = page.locator("table").filter(has_text="colour + position")
    assert table.locator("th").all_inner_texts() == ["this model", "colour + position", "random init", "all foreground"]
    assert all(0 <= float(v) <= 1 for v in table.locator("td").all_inner_texts())
    mask = Image.open(io.BytesIO(download(page, "Mask PNG")))
    assert mask.size == (2400, 1350) and set(mask.getdata()) <= {0, 255}
    assert page.get_by_text("The mask at 2400x1350 px, the image's own size").is_visible()

    choose(page, "Co-segmentation")
    assert page.get_by_role("radio", name="The other uploaded photos").is_checked()
    captions = page.locator('[data-testid="stImageCaption"]')
    captions.filter(has_text="street.png:").first.wait_for()  # the gallery is drawn after the radio's run
    assert any(c.startswith("street.png:") for c in captions.all_inner_texts())
    with zipfile.ZipFile(io.BytesIO(download(page, "Masks ZIP"))) as z:
        sizes = {name: Image.open(z.open(name)).size for name in z.namelist()}
    assert sizes == {"field-mask.png": (2400, 1350), "street-mask.png": (640, 480)}
    assert_no_exception(page)
    shot(page, "look-uploads")

    # The gallery follows the clicks, though a click reruns only the picture's part of the page.
    page.get_by_role("button", name="Undo").click()
    page.get_by_text("Click a positive point on the image above first.").wait_for()
    click_patch(page, n // 2 + 1)
    captions.filter(has_text="street.png:").first.wait_for()
    assert_no_exception(page)


def test_a_12000_px_png_upload_is_downscaled_and_its_mask_exported_full_size(page, server, checkpoint, tmp_path):
    """Issue 14 item 10: a 12000x12000 PNG was "not an image I can read"."""
    from tests.data.test_images import huge_png

    choose_model(page, server, checkpoint)
    choose(page, "Upload")
    upload(page, 0, [huge_png(tmp_path / "huge.png", 12000, 12000)])
    page.locator(CLICKABLE).wait_for()
    assert page.get_by_text("Note: the image was downscaled from 12000x12000 to 1024x1024.").is_visible()
    click_patch(page, 0)
    wait_mask_change(page, None)
    assert Image.open(io.BytesIO(download(page, "Mask PNG"))).size == (12000, 12000)
    upload(page, 0, [huge_png(tmp_path / "bomb.png", 20000, 20000)])
    error = page.locator('[data-testid="stAlert"]').filter(has_text="bomb.png is 400 megapixels")
    error.wait_for()
    assert "scale it down" in error.inner_text() and "not an image I can read" not in error.inner_text()
    page.locator(CLICKABLE).wait_for()  # the 12000 px one is still there to click on
    assert_no_exception(page)


def test_attention_renders_for_the_first_and_the_last_block(page, server, checkpoint):
    """Issue 14 item 14: any block, with one colour scale for every head."""
    choose_model(page, server, checkpoint)
    choose(page, "Attention")
    for block, title in ((1, "Attention of block 1 (the last)"), (0, "Attention of block 0")):
        if block == 0:
            thumb = page.get_by_role("slider", name="Block")
            thumb.focus()
            thumb.press("Home")
        page.get_by_text(title, exact=True).wait_for()
        page.get_by_text("Attention rollout over all blocks").wait_for()
        wait_idle(page)
        captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
        assert [c for c in captions if c.startswith("head ")][:2] == ["head 0", "head 1"]  # both heads drawn
        assert "attention weight (same scale for every head)" in captions
        assert_no_exception(page)
        assert not page.locator('[data-testid="stAlertContentError"]').count()  # no one-line error either
    shot(page, "look-attention-block0")
