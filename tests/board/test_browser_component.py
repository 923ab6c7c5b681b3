"""A component's page in a real browser (headless Chromium, Playwright; see test_browser.py):
its current state per environment with details, since when and the last success; the
timeline's bars from a deployment's start to its outcome; times in UTC or the browser's
zone; the history's pages; and a refresh that needs no reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from deploystatus.states import state_class
from tests.board.conftest import RUN_HEADING, RUN_PATH
from tests.board.test_browser import screenshot
from tests.support.browsers import (
    ForeignSite,
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

HISTORY_COMPONENT = "history-svc"
HISTORY_RECORDS = 120
APP = "web-app"  # a failure after a success, a stuck deployment and a running one
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, run_site: ForeignSite) -> Iterator[Service]:
    launcher = Launcher(tmp_path_factory.mktemp("component-service"), clean_environment())
    try:
        service = start_service(launcher)
        environments = ("dev", "prod-eu", "prod-us")
        states = ("deploy-started", "deploy-success", "deploy-started", "deploy-failed")
        service.post(
            [
                deployment(
                    HISTORY_COMPONENT,
                    environments[i % 3],
                    states[i % 4],
                    now_minus(60 * (HISTORY_RECORDS - i)),
                )
                for i in range(HISTORY_RECORDS)
            ]
        )
        link = {"Actor": "jdoe", "Link": run_site.url + RUN_PATH}
        service.post(
            [
                deployment(APP, "prod", "deploy-started", now_minus(7300)) | {"Version": "1.0.0"},
                deployment(APP, "prod", "deploy-success", now_minus(7200)) | {"Version": "1.0.0"},
                deployment(APP, "prod", "deploy-started", now_minus(3000))
                | {"Version": "1.1.0", **link},
                deployment(APP, "prod", "deploy-failed", now_minus(2400))
                | {"Version": "1.1.0", **link},
                deployment(APP, "staging", "deploy-started", now_minus(7200)),
                deployment(APP, "dev", "deploy-started", now_minus(10)),
            ]
        )
        yield service
    finally:
        launcher.close()


def history_states(page: Page) -> list[str]:
    texts = page.locator("#history tbody td:nth-child(3)").all_inner_texts()
    return [text.strip() for text in texts]


def deployments(records: list[dict[str, str]]) -> tuple[int, int, int]:
    """Bars, running bars and lone markers the timeline must draw for ``records``: in each
    environment, an in-progress record followed by a success or failure is one bar; the
    environment's newest record, in progress, is a running bar; the rest are markers."""
    bars = running = markers = 0
    for environment in {r["Environment"] for r in records}:
        lane = sorted(
            (r for r in records if r["Environment"] == environment), key=lambda r: r["Timestamp"]
        )
        kinds = [state_class(r["State"]) for r in lane]
        i = 0
        while i < len(kinds):
            following = kinds[i + 1] if i + 1 < len(kinds) else None
            if kinds[i] == "in-progress" and following in ("success", "failed"):
                bars, i = bars + 1, i + 2
                continue
            if kinds[i] == "in-progress" and i + 1 == len(kinds):
                running += 1
            else:
                markers += 1
            i += 1
    return bars, running, markers


def test_the_component_page_and_its_pages(service: Service, page: Page, tmp_path: Path) -> None:
    page.goto(service.url + "/?q=history")
    page.get_by_role("link", name=HISTORY_COMPONENT, exact=True).click()
    expect(page).to_have_url(f"{service.url}/ui/components/{HISTORY_COMPONENT}")
    expect(page.get_by_role("heading", name=HISTORY_COMPONENT, exact=True)).to_be_visible()

    # Its current state per environment, each time to the second, the exact one on hover.
    current = service.get(f"/current?component={HISTORY_COMPONENT}")["Records"]
    rows = page.locator("#current tbody tr")
    expect(rows).to_have_count(len(current))
    for row, expected in zip(rows.all(), current, strict=True):
        expect(row.locator("th")).to_have_text(expected["Environment"])
        expect(row).to_contain_text(expected["State"])
        time = row.locator("td:last-child time")
        expect(time).to_have_attribute("title", expected["Timestamp"])
        expect(time).to_have_text(UTC_TIME)
        expect(row.locator(".state .icon")).to_have_accessible_name(
            state_class(expected["State"]).replace("-", " ")
        )

    # The timeline: a bar per deployment, start to outcome, a marker per lone record.
    records = service.get(f"/historical/{HISTORY_COMPONENT}")["Records"]
    bars, running, markers = deployments(records)
    assert bars > 30 and running == 1
    expect(page.locator("#timeline g.deployment:not(.running)")).to_have_count(bars)
    expect(page.locator("#timeline g.deployment.running")).to_have_count(running)
    expect(page.locator("#timeline > use.marker")).to_have_count(markers)
    assert 2 * bars + running + markers == HISTORY_RECORDS
    expect(page.locator("#timeline .lane-label")).to_have_text(["dev", "prod-eu", "prod-us"])
    first_bar = page.locator("#timeline g.deployment title").first
    expect(first_bar).to_have_text(
        re.compile(r"^\S+: deploy-started \S+ \S+ UTC → deploy-(success|failed) \S+ \S+ UTC \(")
    )
    screenshot(page, tmp_path, "component.png")

    # The history: newest first, 50 a page, through the API's cursor.
    newest_first = [r["State"] + "@" + r["Timestamp"] for r in records[::-1]]

    def page_rows() -> list[str]:
        times = page.locator("#history tbody td:nth-child(1) time")
        exact = [times.nth(i).get_attribute("title") or "" for i in range(times.count())]
        return [s + "@" + t for s, t in zip(history_states(page), exact, strict=True)]

    assert page_rows() == newest_first[:50]
    expect(page.get_by_role("link", name="« Newest")).to_have_count(0)
    page.get_by_role("link", name="Older records »").click()
    expect(page.locator("#history tbody tr")).to_have_count(50)
    assert page_rows() == newest_first[50:100]
    page.get_by_role("link", name="Older records »").click()
    expect(page.locator("#history tbody tr")).to_have_count(20)
    assert page_rows() == newest_first[100:]
    expect(page.get_by_text("No older records.")).to_be_visible()
    expect(page.get_by_role("link", name="Older records »")).to_have_count(0)
    page.get_by_role("link", name="« Newest").click()
    assert page_rows() == newest_first[:50]

    # One environment's history.
    page.get_by_role("navigation", name="History of one environment").get_by_role(
        "link", name="prod-us"
    ).click()
    expect(page).to_have_url(re.compile(r"\?environment=prod-us$"))
    assert history_states(page) == [
        r["State"]
        for r in service.get(f"/historical/{HISTORY_COMPONENT}?order=desc&environment=prod-us")[
            "Records"
        ]
    ]


def test_since_when_the_last_success_and_the_run(service: Service, page: Page) -> None:
    page.goto(f"{service.url}/ui/components/{APP}")
    rows = {row.locator("th").inner_text(): row for row in page.locator("#current tbody tr").all()}
    assert list(rows) == ["dev", "prod", "staging"]
    prod = rows["prod"]
    expect(prod.locator("td.since")).to_contain_text("failing for 40 min")
    expect(prod.locator("td:nth-child(5)")).to_contain_text(re.compile(r"^1\.0\.0, 2 h ago"))
    expect(prod).to_contain_text("jdoe")
    run = prod.get_by_role("link", name="run in prod")
    expect(run).to_have_attribute("rel", "noopener noreferrer")
    with page.expect_popup() as opened:
        run.click()
    expect(opened.value.get_by_role("heading", name=RUN_HEADING)).to_be_visible()
    assert opened.value.evaluate("window.opener") is None
    opened.value.close()
    # In progress for two hours: stuck, in words; for ten seconds: not.
    expect(rows["staging"].locator("td.since")).to_contain_text("stuck for 2 h")
    expect(rows["staging"].locator(".state .icon")).to_have_accessible_name("stuck")
    expect(rows["dev"].locator("td.since")).not_to_contain_text("stuck")
    # The running deployment is a bar to the right edge; the failed one ends in its marker.
    expect(page.locator("#timeline g.deployment.running")).to_have_count(2)  # dev and staging
    expect(page.locator("#timeline g.bar-failed use.mk-failed")).to_have_count(1)
    expect(page.locator("#timeline g.bar-success use.mk-success")).to_have_count(1)


def test_times_in_utc_or_the_browsers_zone(service: Service, browser: Browser) -> None:
    context = browser.new_context(locale="en-GB", timezone_id="Asia/Kolkata")
    page = context.new_page()
    try:
        page.goto(f"{service.url}/ui/components/{APP}")
        first = page.locator("#current tbody tr").first.locator("td:last-child time")
        utc = first.inner_text()
        assert UTC_TIME.match(utc)
        tick = page.locator("#timeline text[data-tick]").first.text_content()
        switch = page.get_by_role("button", name="Local time")
        expect(switch).to_have_attribute("aria-pressed", "false")
        switch.click()
        expect(switch).to_have_attribute("aria-pressed", "true")
        expect(first).not_to_have_text(utc)
        local = first.inner_text()
        # India is 5 h 30 min ahead of UTC, all year.
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT\+5:30|IST)", local), local
        assert local[14:16] == f"{(int(utc[14:16]) + 30) % 60:02d}"
        assert page.locator("#timeline text[data-tick]").first.text_content() != tick
        fetched_local = re.compile(r"^\d\d:\d\d:\d\d (GMT\+5:30|IST)$")
        expect(page.locator("#fetched")).to_have_text(fetched_local)
        # A refresh's fresh content (rendered in UTC) is shown in the zone chosen too.
        page.evaluate("window.deploystatusComponent.refresh()")
        expect(first).to_have_text(local)
        assert "UTC" not in (
            page.locator("#timeline g.deployment title").first.text_content() or ""
        )
        # The choice is remembered.
        page.reload()
        expect(first).to_have_text(local)
        page.get_by_role("button", name="Local time").click()
        expect(first).to_have_text(utc)
    finally:
        context.close()


def test_the_page_refreshes_itself(service: Service, page: Page) -> None:
    page.goto(f"{service.url}/ui/components/{APP}")
    page.evaluate("window.sameDocument = true")
    fetched = page.locator("#fetched").get_attribute("datetime")
    service.post([deployment(APP, "qa", "deploy-success", now_minus(1)) | {"Version": "2.0.0"}])
    expect(page.locator("#current tbody tr th", has_text="qa")).to_be_visible()
    expect(page.locator("#history tbody tr").first).to_contain_text("2.0.0")
    expect(page.locator("#timeline .lane-label", has_text="qa")).to_be_visible()
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("#fetched")).not_to_have_attribute("datetime", fetched or "")
    banner = page.get_by_role("alert")
    expect(banner).to_be_hidden()
    page.route("**/ui/components/**", lambda route: route.abort("connectionrefused"))
    expect(banner).to_contain_text("Cannot reach the service")
    page.unroute("**/ui/components/**")
    expect(banner).to_be_hidden()


def test_a_narrow_window(service: Service, browser: Browser) -> None:
    page = open_page(browser, width=390, height=844)
    try:
        page.goto(f"{service.url}/ui/components/{APP}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # The wide tables scroll in their own boxes, which the keyboard can reach.
        wrap = page.locator("#current-section .table-wrap")
        assert wrap.evaluate("(element) => element.scrollWidth > element.clientWidth")
        expect(wrap).to_have_attribute("tabindex", "0")
        # A refresh keeps where the reader is: the timeline's scroll and the focused link.
        timeline = page.locator("#timeline-section .timeline-wrap")
        timeline.evaluate("(element) => { element.scrollLeft = 200; }")
        scrolled = timeline.evaluate("(element) => element.scrollLeft")
        assert scrolled > 0
        run = page.get_by_role("link", name="run in prod")
        run.focus()
        page.evaluate("window.deploystatusComponent.refresh()")
        expect(run).to_be_focused()
        assert timeline.evaluate("(element) => element.scrollLeft") == scrolled
    finally:
        close_page(page)
