"""Every page opens in real Chromium without an exception; a screenshot of each is saved."""

import pytest

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

# url path -> the title the page shows; Home is the default page, served at "/".
PAGES = {"": "SSL Lab", "data": "Data", "train": "Train", "look": "Look", "map": "Map", "probe": "Probe",
         "dictionary": "Dictionary", "checkpoints": "Checkpoints"}


@pytest.mark.parametrize("path", PAGES)
def test_page_opens(page, server, path):
    name = path or "home"
    open_page(page, server, path)
    assert_no_exception(page)
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("h1").first.inner_text().strip() == PAGES[path]
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Current model").count() == 1
    shot(page, f"page-{name}")


def test_navigation_switches_pages(page, server):
    open_page(page, server)
    page.get_by_role("link", name="Checkpoints").first.click()
    page.wait_for_url("**/checkpoints")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_role("link", name="Home").first.click()
    page.wait_for_url(lambda url: not url.endswith("/checkpoints"))
    page.get_by_role("heading", name="SSL Lab").first.wait_for()
    wait_idle(page)


def test_lesson_link_opens_train_with_its_preset(page, server):
    open_page(page, server)
    page.get_by_role("link", name="Open Train").first.click()
    page.wait_for_url("**/train?preset=*")
    wait_idle(page)
    assert_no_exception(page)
    lesson = page.get_by_text("Lesson: Contrastive learning and temperature")
    lesson.first.wait_for()
    assert lesson.count() == 1


def test_no_deploy_button_or_developer_menu_for_a_class(page, server):
    """.streamlit/config.toml: toolbarMode viewer (the server is started without flags that would override it)."""
    open_page(page, server)
    assert_no_exception(page)
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.get_by_test_id("stAppDeployButton").count() == 0
