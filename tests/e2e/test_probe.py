"""The Probe page in real Chromium: the latent lab runs a small sweep and draws its heatmap; the lesson link
opens the depth comparison."""

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'


def test_a_small_sweep_draws_the_heatmap(page, server):
    open_page(page, server, "probe")
    assert_no_exception(page)
    page.get_by_text("Shortcut bias", exact=True).first.wait_for()
    seeds = page.get_by_role("slider", name="Seeds")
    seeds.focus()
    page.keyboard.press("Home")  # one seed a cell: the sweep takes seconds
    wait_idle(page)
    page.get_by_text("Heatmap", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Run the sweep").click()
    page.get_by_text("Mean shortcut bias over seeds").wait_for(timeout=240_000)
    wait_idle(page, 240_000)
    assert_no_exception(page)
    kind = page.evaluate(f"() => [...document.querySelectorAll('{PLOT}')].map(g => g._fullData[0].type)")
    assert "heatmap" in kind
    cells = page.evaluate(f"() => [...document.querySelectorAll('{PLOT}')].filter(g => g._fullData[0].type === 'heatmap')"
                          ".map(g => g._fullData[0].z.reduce((n, row) => n + row.length, 0))[0]")
    assert cells == 25  # 5 availability ratios x 5 predictivities
    shot(page, "probe-heatmap")


def test_lesson_seven_opens_the_depth_comparison(page, server):
    open_page(page, server, "probe?preset=shortcuts")
    page.get_by_text("Lesson 7, Shortcuts").wait_for(timeout=120_000)
    page.get_by_text("Shortcut bias against depth").wait_for(timeout=240_000)
    wait_idle(page, 240_000)
    assert_no_exception(page)
    shot(page, "probe-lesson")
