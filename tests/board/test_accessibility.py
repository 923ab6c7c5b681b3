"""An automated accessibility check (axe-core, tests/support/accessibility.py) of every page
of the board, as a person sees it during an incident: failed, stuck, in-progress, other and
successful deployables with their details, at a laptop's width and a phone's. Colour
contrast, names of controls and links, table headers and landmarks are among its rules; a
serious or critical violation fails the test, listed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accessibility import serious_violations
from tests.support.browsers import (
    Service,
    close_page,
    now_minus,
    open_page,
    require_chromium,
    start_service,
)
from tests.support.factories import deployment
from tests.support.processes import Launcher, clean_environment

require_chromium()

DETAILS = {"Actor": "jdoe", "Link": "https://ci.example.com/pay/runs/42"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    launcher = Launcher(tmp_path_factory.mktemp("board-a11y"), clean_environment())
    try:
        service = start_service(
            launcher,
            DEPLOYSTATUS_STUCK_AFTER_SECONDS="60",
            DEPLOYSTATUS_BOARD_ENVIRONMENTS="dev,staging,prod-*",
            DEPLOYSTATUS_BOARD_EMPHASIS="prod-*",
        )
        service.post(
            [
                deployment("pay-api", "prod-eu", "deploy-success", now_minus(7200))
                | {"Version": "1.4.2", **DETAILS},
                deployment("pay-api", "prod-eu", "deploy-started", now_minus(700))
                | {"Version": "1.4.3", **DETAILS},
                deployment("pay-api", "prod-eu", "deploy-failed", now_minus(600))
                | {"Version": "1.4.3", **DETAILS},
                deployment("pay-api", "staging", "deploy-started", now_minus(3600)),
                deployment("pay-api", "dev", "deploy-started", now_minus(5)),
                deployment("auth-api", "dev", "v1.2.3", now_minus(50)),
                deployment("auth-api", "prod-us", "deploy-success", now_minus(90))
                | {"Version": "9fceb02d0ae598e95dc970b74767f19372d61af8"},
            ]
        )
        yield service
    finally:
        launcher.close()


@pytest.mark.parametrize(
    "path", ["/", "/?notgreen=1", "/?show=stuck&sort=name", "/ui/components/pay-api"]
)
def test_no_serious_violation(service: Service, page: Page, path: str) -> None:
    page.goto(service.url + path)
    expect(page.locator("h1")).to_be_visible()
    assert serious_violations(page) == []


def test_no_serious_violation_on_a_phone(service: Service, browser: Browser) -> None:
    page = open_page(browser, width=390, height=844)
    try:
        for path in ("/", "/ui/components/pay-api"):
            page.goto(service.url + path)
            expect(page.locator("h1")).to_be_visible()
            assert serious_violations(page) == [], path
    finally:
        close_page(page)


def test_the_check_finds_what_it_is_for(service: Service, page: Page) -> None:
    """The control: a link with no name and text without contrast are reported."""
    page.goto(service.url + "/")
    page.evaluate(
        """() => { const a = document.createElement("a"); a.href = "/x";
          document.querySelector("h1").append(a);
          document.querySelector("h1").style.color = "#eee"; }"""
    )
    found = serious_violations(page)
    assert any(v.startswith("link-name (serious)") for v in found), found
    assert any(v.startswith("color-contrast (serious)") for v in found), found
