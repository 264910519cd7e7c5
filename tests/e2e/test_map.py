"""The Map page in real Chromium: draw a map of a run's checkpoint, hover a point and see its picture, drag
a box over it and see the gallery fill, click a point and see its nearest neighbours."""

import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

TINY = ["--backbone", "vit:dim=32,depth=1,heads=2,patch=8", "--batch-size", "32", "--data", "shapes:n=256",
        "--set", "eval_every=0", "--set", "log_every=2"]

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
FIRST_POINT = """(chart) => {  // screen position of the first point of the chart-th map
  const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[chart];
  const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const t = gd._fullData[0];
  return {x: box.left + xa._offset + xa.l2p(t.x[0]), y: box.top + ya._offset + ya.l2p(t.y[0])};
}"""


def wait_images(page, n: int) -> None:
    """Wait for at least n pictures in the main area. Under load a selection can rerun the script twice
    (the second run interrupts the first after its heading), so "idle" alone does not mean "drawn"."""
    page.locator('[data-testid="stMain"] img').nth(n - 1).wait_for(state="attached", timeout=60_000)


@pytest.fixture(scope="module")
def run(server):
    out = server["runs"] / "map-run"
    proc = subprocess.run([sys.executable, "-m", "ssl_core", "train", "--method", "simclr", "--out", str(out),
                           "--steps", "4", "--json", *TINY], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def draw_pca_map(page, server, images: int, compare: bool = False) -> None:
    """Open Map, ask for a PCA map of `images` shapes images (two side by side with `compare`), draw it."""
    open_page(page, server, "map")
    assert_no_exception(page)
    number = page.get_by_label("Images")
    number.fill(str(images))
    number.press("Enter")
    wait_idle(page)
    page.get_by_text("PCA", exact=True).click()
    wait_idle(page)
    if compare:
        page.get_by_text("Compare with a second checkpoint").click()
        wait_idle(page)
    page.get_by_role("button", name="Draw the map").click()
    page.locator(PLOT).nth(1 if compare else 0).wait_for(timeout=120_000)
    wait_idle(page, 120_000)
    assert_no_exception(page)


def test_draw_select_and_click(page, server, run):
    draw_pca_map(page, server, 150)
    page.get_by_text("kNN top-1 (k=20)").first.wait_for()
    assert page.evaluate(f"() => document.querySelector('{PLOT}')._fullData[0].type") == "scattergl"
    shot(page, "map-drawn")

    # Hover: the point's own thumbnail floats beside the pointer, from the one contact sheet that holds it.
    point = page.evaluate(FIRST_POINT, 0)
    index = page.evaluate(f"() => document.querySelector('{PLOT}')._fullData[0].customdata[0]")
    page.mouse.move(5, 5)
    page.mouse.move(point["x"], point["y"])  # one jump: no other point hovered on the way
    page.wait_for_function("""(i) => { const t = document.getElementById('ssl-lab-hover-thumb');
        return t && t.style.display === 'block' && t.dataset.point === String(i); }""", arg=index, timeout=60_000)
    assert page.evaluate("() => getComputedStyle(document.getElementById('ssl-lab-hover-thumb')).backgroundImage"
                         ).startswith('url("data:image/jpeg;base64,')
    assert page.evaluate("() => window.__sslLabSheets.size") == 1  # 150 images are 2 sheets; one was needed
    shot(page, "map-hover")
    page.mouse.move(5, 5)

    # Box selection: the chart opens in select mode, so a drag across the plot area selects.
    area = page.locator(f"{PLOT} .nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 0.05 * area["width"], area["y"] + 0.05 * area["height"])
    page.mouse.down()
    page.mouse.move(area["x"] + 0.5 * area["width"], area["y"] + 0.5 * area["height"], steps=8)
    page.mouse.move(area["x"] + 0.95 * area["width"], area["y"] + 0.95 * area["height"], steps=8)
    page.mouse.up()
    page.get_by_text("Selection:").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    assert_no_exception(page)
    heading = page.get_by_text("Selection:").first.inner_text()
    selected = int(heading.split(":")[1].split()[0])
    assert selected > 0
    wait_images(page, min(selected, 60))  # st.image of a list: one <img> per picture
    assert page.get_by_role("button", name="Export the selection (CSV)").count() == 1
    shot(page, "map-selection")

    # A click on a point shows it and its nearest neighbours in feature space.
    page.mouse.dblclick(area["x"] + 2, area["y"] + 2)  # clear the box selection first
    page.get_by_text("Selection:").first.wait_for(state="detached", timeout=60_000)
    wait_idle(page, 60_000)
    point = page.evaluate(FIRST_POINT, 0)
    page.mouse.move(point["x"], point["y"])
    page.mouse.click(point["x"], point["y"])
    try:
        page.get_by_text("and its nearest neighbours").first.wait_for(timeout=60_000)
    finally:
        shot(page, "map-after-click")
    wait_idle(page, 60_000)
    assert_no_exception(page)
    wait_images(page, 11)
    shot(page, "map-neighbours")


def test_compare_two_checkpoints_each_map_hovers(page, server, run):
    draw_pca_map(page, server, 120, compare=True)
    assert page.get_by_text("kNN top-1 (k=20)").count() == 2
    for chart in (1, 0):  # the second map, then the first: each has its own hover listener
        point = page.evaluate(FIRST_POINT, chart)
        page.mouse.move(5, 5)
        page.wait_for_function("() => (document.getElementById('ssl-lab-hover-thumb')?.style.display || 'none')"
                               " === 'none'")
        page.mouse.move(point["x"], point["y"])
        page.wait_for_function("() => document.getElementById('ssl-lab-hover-thumb')?.style.display === 'block'",
                               timeout=60_000)
    shot(page, "map-compare")


SCROLL_TOP = f"""() => {{  // the scroll position of the page's scrolling container around the chart
  let e = document.querySelector('{PLOT}');
  while (e && !(e.scrollHeight > e.clientHeight && /(auto|scroll)/.test(getComputedStyle(e).overflowY))) e = e.parentElement;
  return e ? e.scrollTop : window.scrollY;
}}"""
X_RANGE = f"() => document.querySelector('{PLOT}')._fullLayout.xaxis.range.slice()"


def test_the_wheel_scrolls_a_double_click_resets_and_a_reload_keeps_the_map(page, server, run):
    draw_pca_map(page, server, 150)
    title = page.evaluate(f"() => document.querySelector('{PLOT}')._fullLayout.title.text")
    # a name that tells runs apart (`run · step N`: the picker offers the newest run, whichever test made it),
    # not step_0000004.safetensors
    assert re.search(r"of [\w-]+ · step \d+", title) and "safetensors" not in title, title
    box = page.locator(PLOT).first.bounding_box()
    before, top = page.evaluate(X_RANGE), page.evaluate(SCROLL_TOP)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(500)
    assert page.evaluate(X_RANGE) == before, "the wheel zoomed the chart"
    assert page.evaluate(SCROLL_TOP) > top, "the wheel did not scroll the page"

    page.locator(f'{PLOT} .modebar-btn[data-title="Zoom in"]').first.click(force=True)
    page.wait_for_function(f"(r) => ({X_RANGE})()[1] - ({X_RANGE})()[0] < 0.9 * (r[1] - r[0])", arg=before)
    area = page.locator(f"{PLOT} .nsewdrag").first.bounding_box()
    page.mouse.dblclick(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
    page.wait_for_function(f"(r) => Math.abs(({X_RANGE})()[1] - ({X_RANGE})()[0] - (r[1] - r[0])) < 1e-6 * Math.abs(r[1] - r[0]) + 1e-9",
                           arg=before)

    assert "map_method" in page.url and "map_drawn=true" in page.url
    page.reload()
    page.locator(PLOT).first.wait_for(timeout=120_000)  # drawn again, without pressing Draw
    wait_idle(page, 120_000)
    assert_no_exception(page)
    assert page.get_by_role("radio", name="PCA", exact=True).is_checked()
    assert page.get_by_label("Images").input_value() == "150"


def test_lesson_five_opens_the_map_of_its_preset(page, server):
    out = server["runs"] / "digits-lesson"
    proc = subprocess.run([sys.executable, "-m", "ssl_core", "train", "--preset", "contrastive-digits", "--out", str(out),
                           "--steps", "2", "--batch-size", "32", "--backbone", "vit:dim=32,depth=1,heads=2,patch=4",
                           "--set", "eval_every=0", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    open_page(page, server, "map?preset=contrastive-digits")
    page.locator(PLOT).first.wait_for(timeout=180_000)
    wait_idle(page, 120_000)
    assert_no_exception(page)
    title = page.evaluate(f"() => document.querySelector('{PLOT}')._fullLayout.title.text")
    assert "UMAP of digits-lesson · step 2" in title, title  # plotly's title may come wrapped in <b>
    assert "digits:place=random" in page.get_by_text("Mapped").first.inner_text()  # the data the preset trains on


def test_no_hover_picture_stays_over_the_gallery_after_a_rerun(page, server, run):
    """Issue 14 item 18: a hover, then a click whose rerun draws the neighbours below the chart, then the
    pointer over the gallery: the floating picture must be gone."""
    draw_pca_map(page, server, 120)
    point = page.evaluate(FIRST_POINT, 0)
    page.mouse.move(5, 5)
    page.mouse.move(point["x"], point["y"])
    visible = "() => document.getElementById('ssl-lab-hover-thumb')?.style.display === 'block'"
    page.wait_for_function(visible, timeout=60_000)
    page.mouse.click(point["x"], point["y"])
    page.get_by_text("and its nearest neighbours").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    wait_images(page, 11)
    gallery = page.locator('[data-testid="stMain"] img').last  # the last neighbour
    gallery.scroll_into_view_if_needed()
    box = gallery.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => !({visible})()", timeout=10_000)
    assert_no_exception(page)
