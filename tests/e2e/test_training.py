"""A real run from the browser: start the smoke preset, watch the loss curve grow (also after a
reload), stop it, then open its checkpoint on the Checkpoints page."""

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

LOSS_POINTS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const title = p => ((p.layout && p.layout.title && p.layout.title.text) || '').replace(/<[^>]+>/g, '');
  const loss = plots.find(p => title(p) === 'Loss');
  return loss && loss.data && loss.data[0] && loss.data[0].x ? loss.data[0].x.length : 0;
}"""


def enter(page, label: str, value: str) -> str:
    """Type `value` into the number box `label` and let the page rerun; returns what the box held before."""
    box = page.get_by_role("spinbutton", name=label, exact=True)  # exact: "steps" is also a budget choice
    before = box.input_value()
    box.fill(value)
    box.press("Enter")
    wait_idle(page)
    return before


def test_train_watch_stop_and_open_checkpoint(page, server):
    open_page(page, server, "train?preset=smoke")
    assert_no_exception(page)
    page.get_by_text("All hyper-parameters").click()
    # Long enough to stop it half-way; small batches and no periodic kNN keep it light on 2 cores.
    for label, value in [("steps", "3000"), ("batch_size", "16"), ("eval_every", "0")]:
        enter(page, label, value)
    name = page.get_by_label("Run name")
    name.fill("e2e-run")
    name.press("Enter")
    wait_idle(page)

    # A nonsense method parameter is refused in one line before a run folder (or its data) exists.
    default = enter(page, "temperature", "0")
    page.get_by_role("button", name="Start").click()
    page.get_by_test_id("stAlertContentError").filter(has_text="temperature = 0.0 must be").wait_for()
    assert not (server["runs"] / "e2e-run").exists()
    assert_no_exception(page)
    enter(page, "temperature", default)
    page.get_by_role("button", name="Start").click()

    # The curve grows while the run trains (the fragment redraws it from metrics.jsonl).
    failed = "document.querySelector('[data-testid=\"stAlertContentError\"]')"
    page.wait_for_function(f"({LOSS_POINTS})() >= 2 || {failed}", timeout=120_000)
    errors = page.get_by_test_id("stAlertContentError")
    assert errors.count() == 0, errors.first.inner_text()
    first = page.evaluate(LOSS_POINTS)
    # Generous: late in the suite the run, the server and Chromium share 2 cores (a CI run saw 5 images/s).
    page.wait_for_function(f"({LOSS_POINTS})() > {first}", timeout=180_000)
    assert_no_exception(page)

    # A reload is a new session: the run goes on, and the page picks it up again and keeps growing.
    open_page(page, server, "train")
    page.wait_for_function(f"({LOSS_POINTS})() > {first}", timeout=180_000)
    seen = page.evaluate(LOSS_POINTS)
    page.wait_for_function(f"({LOSS_POINTS})() > {seen}", timeout=180_000)
    shot(page, "train-running")

    # Scoped to the page body: while a script runs, Streamlit's header shows its own "Stop" button too.
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    page.get_by_text("· stopped").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert (server["runs"] / "e2e-run" / "checkpoints").is_dir()
    shot(page, "train-stopped")

    open_page(page, server, "checkpoints")
    assert_no_exception(page)
    page.get_by_text("Parameters").first.wait_for()
    method = page.get_by_test_id("stMetricValue").filter(has_text="simclr")
    method.first.wait_for()
    assert method.count() == 1
    page.get_by_role("button", name="Use as current model").click()
    page.get_by_text("This is the current model.").wait_for()
    assert_no_exception(page)
    shot(page, "checkpoint-loaded")
