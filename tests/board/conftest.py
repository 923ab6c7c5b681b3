"""The browser tests' fixtures: one headless Chromium per test module, and a page in a fresh
browser context per test (tests/support/browsers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browsers import CHROMIUM, ForeignSite, check_chromium, close_page, open_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    check_chromium()  # skips where Chromium is missing, fails with CI=true
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = open_page(browser)
    try:
        yield page
    finally:
        close_page(page)


RUN_PATH = "/runs/42"
RUN_HEADING = "Run 42 logs"


@pytest.fixture(scope="module")
def run_site() -> Iterator[ForeignSite]:
    """Where the records' run links point: a CI's page, on another origin."""
    with ForeignSite() as site:
        site.serve(RUN_PATH, f"<!doctype html><title>Run 42</title><h1>{RUN_HEADING}</h1>")
        yield site
