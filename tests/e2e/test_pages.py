"""Every page opens in real Chromium without an exception; a screenshot of each is saved."""

import pytest

from tests.e2e.conftest import assert_no_exception, open_page, shot, wait_idle

PAGES = ["home", "data", "train", "look", "map", "probe", "dictionary", "checkpoints"]


@pytest.mark.parametrize("name", PAGES)
def test_page_opens(page, server, name):
    open_page(page, server, name)
    assert_no_exception(page)
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
    wait_idle(page)
    assert page.get_by_role("heading", name="SSL Lab").count() >= 1


def test_lesson_link_opens_train_with_its_preset(page, server):
    open_page(page, server)
    page.get_by_role("link", name="Open the page").first.click()
    page.wait_for_url("**/train?preset=*")
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("Lesson: Contrastive learning and temperature").count() == 1
