"""Uploading checkpoints in the browser: a good file shows its summary, a bad one one line."""

from tests.app.conftest import tiny_checkpoint
from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle


def upload(page, path):
    page.get_by_text("Upload a file").click()
    wait_idle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))


def test_upload_good_and_bad_checkpoints(page, server, tmp_path):
    good = tiny_checkpoint(tmp_path / "tiny.safetensors", step=7, method="dino")
    open_page(page, server, "checkpoints")
    upload(page, good)
    page.get_by_test_id("stMetricValue").filter(has_text="dino").wait_for()
    assert_no_exception(page)
    shot(page, "checkpoint-uploaded")

    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint")
    open_page(page, server, "checkpoints")
    upload(page, bad)
    error = page.get_by_test_id("stAlertContentError")
    error.wait_for()
    assert_no_exception(page)
    assert error.count() == 1 and "\n" not in error.inner_text().strip()
    shot(page, "checkpoint-refused")
