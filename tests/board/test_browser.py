"""The status board in a real browser: headless Chromium (Debian's ``chromium`` package)
driven by Playwright, against the service running as a real process (``deploystatus dev``
on free loopback ports) filled through its API.

They prove what a person does during an incident: open the board and see every
deployable, narrow it down (filters kept in the URL), find a failing one in two clicks,
watch a new record appear without reloading, see a banner when the API cannot be
reached, and page through a component's history.

``make test`` installs Chromium with apt-get when it can (root on Debian); these tests are
skipped, saying why, only where no Chromium can be found. Playwright never downloads a
browser here: it launches ``/usr/bin/chromium`` (or ``$DEPLOYSTATUS_CHROMIUM``).
Screenshots go to each test's directory, and into ``$DEPLOYSTATUS_SCREENSHOTS`` when set
(``make screenshots`` sets it to ``docs/``).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from deploystatus import timestamps
from deploystatus.commands import generate
from tests.board.conftest import RUN_HEADING, RUN_PATH
from tests.support.browsers import (
    ForeignSite,
    Service,
    close_page,
    make_markup_live,
    now_minus,
    open_page,
    require_chromium,
    start_service,
)
from tests.support.factories import deployment
from tests.support.processes import Launcher, clean_environment

require_chromium()

# A failing deployable this module adds on top of generated data, newer than all of it: its
# last success, then a failure with a version, an actor and a link to the run.
FAILING = ("checkout-api", "prod-eu")
LAST_GOOD = "1.4.2"
FAILED_VERSION = "2024.07.30-1432-9fceb02"
STUCK = ("stuck-svc", "staging")  # in progress for 2 h (the limit is 1 h)
ORDER = "dev,staging,prod-*"  # DEPLOYSTATUS_BOARD_ENVIRONMENTS; prod-* emphasised


def generated(
    components: int, environments: int, records: int, end_ago: float
) -> list[dict[str, str]]:
    """Realistic records (deploystatus generate's), as a writer would post them."""
    plan = generate.Plan(
        components=components,
        environments=environments,
        records=records,
        failure_rate=0.15,
        days=2,
        seed=20240730,
        end_ns=time.time_ns() - int(end_ago * 1e9),
    )
    renderer = timestamps.Renderer(None)
    return [
        deployment(r.component, r.environment, r.state, renderer.render(r.timestamp))
        for r in generate.plan_records(plan)
    ]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, run_site: ForeignSite) -> Iterator[Service]:
    """The service on dynalite with generated data (17 components x 4 environments), a
    known failing deployable and a stuck one."""
    launcher = Launcher(tmp_path_factory.mktemp("board-service"), clean_environment())
    try:
        service = start_service(
            launcher, DEPLOYSTATUS_BOARD_ENVIRONMENTS=ORDER, DEPLOYSTATUS_BOARD_EMPHASIS="prod-*"
        )
        service.post(generated(17, 4, 500, end_ago=3600))  # 20 rows at most: one page
        service.post(
            [
                deployment(*FAILING, "deploy-success", now_minus(3000)) | {"Version": LAST_GOOD},
                deployment(*FAILING, "deploy-failed", now_minus(20))
                | {
                    "Version": FAILED_VERSION,
                    "Actor": "jdoe",
                    "Link": run_site.url + RUN_PATH,
                },
                deployment(*STUCK, "deploy-started", now_minus(7200)),
            ]
        )
        yield service
    finally:
        launcher.close()


def screenshot(page: Page, directory: Path, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(directory / name), full_page=full_page)
    wanted = os.environ.get("DEPLOYSTATUS_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / name, Path(wanted) / name)


MATRIX_JS = """() => ({
  environments: [...document.querySelectorAll("#matrix thead th[data-env]")]
    .map((th) => th.dataset.env),
  rows: [...document.querySelectorAll("#matrix tbody tr")].map((tr) => ({
    component: tr.dataset.c,
    cells: [...tr.cells].slice(1).map((td) => [
      [...td.classList].filter((name) => name !== "fresh").join(" "),
      td.querySelector("b") ? td.querySelector("b").textContent : "",
      td.title,
      td.querySelector("small.age") ? td.querySelector("small.age").textContent : "",
    ]),
  })),
})"""


def matrix(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(MATRIX_JS)
    return result


def layout_order(environments: set[str]) -> list[str]:
    """The columns as ORDER sorts them: the patterns' order, alphabetical within each."""
    patterns = ORDER.split(",")

    def place(name: str) -> tuple[int, str]:
        matching = [i for i, p in enumerate(patterns) if fnmatch.fnmatchcase(name, p)]
        return (matching[0] if matching else len(patterns)), name

    return sorted(environments, key=place)


def expected_matrix(service: Service) -> dict[str, Any]:
    """The board as GET /current?details=true says it must be: cells, and the rows in
    problems-first order (failed, stuck, in progress, the rest; the newest problem first)."""
    deployables = service.get("/current?details=true")["Records"]
    environments = layout_order({d["Environment"] for d in deployables})
    rows: dict[str, list[list[str]]] = {}
    rank: dict[str, tuple[int, float]] = {}
    for d in deployables:
        cells = rows.setdefault(d["Component"], [["", "", ""] for _ in environments])
        facet = "stuck" if d["Stuck"] else d["Class"]
        cells[environments.index(d["Environment"])] = [
            "k-" + d["Class"] + (" stuck" if d["Stuck"] else ""),
            d["State"],
            d["Timestamp"],
        ]
        place = {"failed": 0, "stuck": 1, "in-progress": 2}.get(facet, 3)
        at = -timestamps.parse(d["Timestamp"]) if place < 3 else 0
        rank[d["Component"]] = min(rank.get(d["Component"], (3, 0)), (place, at))
    order = sorted(rows, key=lambda component: (*rank[component], component))
    return {"environments": environments, "rows": {c: rows[c] for c in order}}


def without_ages(shown: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    return [(row["component"], [c[:3] for c in row["cells"]]) for row in shown["rows"]]


def visible_components(page: Page) -> list[str]:
    return [row["component"] for row in matrix(page)["rows"]]


def column(page: Page, environment: str) -> int:
    environments: list[str] = matrix(page)["environments"]
    return environments.index(environment)


def cell(page: Page, component: str, environment: str) -> Any:
    return page.locator(
        f'#matrix tr[data-c="{component}"] > td:nth-child({column(page, environment) + 2})'
    )


def counts(page: Page) -> dict[str, int]:
    shown: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("#counts [data-count]")]
            .map((span) => [span.dataset.count, span.textContent]))"""
    )
    return {facet: int(text.replace(",", "")) for facet, text in shown.items()}


# The board


def test_the_board_shows_every_deployable_problems_first(
    service: Service, page: Page, tmp_path: Path
) -> None:
    page.goto(service.url + "/")
    expect(page.get_by_role("heading", name="Deployment status")).to_be_visible()
    expected = expected_matrix(service)
    shown = matrix(page)
    assert shown["environments"] == expected["environments"]
    assert shown["environments"][:2] == ["dev", "staging"]  # the configured order
    assert [row["component"] for row in shown["rows"]] == list(expected["rows"])
    assert 15 <= len(shown["rows"]) <= 20  # one page
    for row in shown["rows"]:
        assert [c[:3] for c in row["cells"]] == expected["rows"][row["component"]], row
        # Every cell says how old it is, and its exact time on hover (title).
        assert all(re.fullmatch(r"\d+ (s|min|h|d) ago", c[3]) for c in row["cells"] if c[0])
    # The newest failure is the first row, in view at once.
    assert shown["rows"][0]["component"] == FAILING[0]
    expect(page.locator("#matrix tbody tr").first).to_be_in_viewport()
    # Key environments are marked in words too.
    expect(page.locator('#matrix th[data-env="prod-eu"]')).to_have_accessible_name(
        "prod-eu (key environment)"
    )
    screenshot(page, tmp_path, "board.png")


def test_a_failed_cell_says_since_when_the_last_good_version_and_the_way_to_the_logs(
    service: Service, page: Page
) -> None:
    page.goto(service.url + "/")
    failing = cell(page, *FAILING)
    expect(failing).to_have_class("k-failed")
    # Colour is not the only signal: an icon, and the class's name for screen readers.
    expect(failing).to_have_accessible_name(re.compile(r"^failed deploy-failed 2024\.07\.30-… "))
    expect(failing.locator(".ver").first).to_have_text("2024.07.30-…")
    expect(failing.locator(".ver").first).to_have_attribute("title", FAILED_VERSION)
    expect(failing.locator("small.since")).to_have_text(re.compile(r"^failing for \d+ (s|min)$"))
    expect(failing.locator("small.last")).to_have_text(
        re.compile(r"^last success 1\.4\.2, 5\d min ago$")
    )
    expect(failing.locator("small.who")).to_have_text("by jdoe")
    run = failing.get_by_role("link", name=f"run of {FAILING[0]} in {FAILING[1]}")
    expect(run).to_have_attribute("rel", "noopener noreferrer")
    with page.expect_popup() as opened:
        run.click()  # one click from the board to the run's logs
    logs = opened.value
    expect(logs.get_by_role("heading", name=RUN_HEADING)).to_be_visible()
    assert logs.evaluate("window.opener") is None
    assert logs.evaluate("document.referrer") == ""
    logs.close()
    stuck = cell(page, *STUCK)
    expect(stuck).to_have_class("k-in-progress stuck")
    expect(stuck).to_have_accessible_name(
        re.compile(r"^stuck deploy-started 2 h ago stuck for 2 h$")
    )


def test_filters_order_and_counts_apply_at_once_and_stay_in_the_url(
    service: Service, page: Page
) -> None:
    page.goto(service.url + "/")
    everything = visible_components(page)
    totals = counts(page)
    assert totals["failed"] >= 1 and totals["stuck"] == 1

    page.get_by_label("Filter components").fill("pay")
    expect(page).to_have_url(service.url + "/?q=pay")
    expect(page.locator("#matrix tbody tr")).to_have_count(
        len([c for c in everything if "pay" in c])
    )
    assert visible_components(page) == [c for c in everything if "pay" in c]

    page.get_by_label("Filter components").fill("")
    page.get_by_role("checkbox", name="dev", exact=True).uncheck()
    expect(page.locator('#matrix th[data-env="dev"]')).to_have_count(0)
    expect(page.locator('#matrix th[data-env="staging"]')).to_be_visible()
    others = [
        name for name in layout_order(set(matrix(page)["environments"]) | {"dev"}) if name != "dev"
    ]
    url = service.url + "/?" + "&".join(f"env={name}" for name in others)
    expect(page).to_have_url(url)

    # Only not green: the failing, stuck and in-progress cells, their rows and columns.
    page.get_by_label("Only not green").check()
    url += "&notgreen=1"
    expect(page).to_have_url(url)
    expect(page.locator("#matrix td.k-success")).to_have_count(0)
    shown = matrix(page)
    assert shown["rows"] and len(shown["rows"]) < len(everything)
    for row in shown["rows"]:
        assert any(c[0] for c in row["cells"]), row

    # The URL is the view: opened elsewhere, it shows the same.
    other = page.context.new_page()
    other.goto(url)
    assert without_ages(matrix(other)) == without_ages(shown)
    expect(other.get_by_label("Only not green")).to_be_checked()
    expect(other.get_by_role("checkbox", name="dev", exact=True)).not_to_be_checked()
    other.close()

    page.get_by_label("Only not green").uncheck()
    page.get_by_role("checkbox", name="dev", exact=True).check()
    expect(page).to_have_url(service.url + "/")
    expect(page.locator("#matrix tbody tr")).to_have_count(len(everything))

    # The counts are filters: only the failed cells, then everything again.
    facet = page.locator("#counts").get_by_role("link", name=re.compile(r"failed$"))
    facet.click()
    expect(page).to_have_url(service.url + "/?show=failed")
    expect(facet).to_have_attribute("aria-current", "true")
    expect(page.locator("#matrix tbody td[class]")).to_have_count(totals["failed"])
    expect(page.locator("#matrix tbody td.k-failed")).to_have_count(totals["failed"])
    page.locator("#counts").get_by_role("link", name=re.compile(r"stuck$")).click()
    expect(page).to_have_url(service.url + "/?show=stuck")
    expect(page.locator("#matrix tbody tr")).to_have_count(1)
    assert visible_components(page) == [STUCK[0]]
    page.locator("#counts").get_by_role("link", name=re.compile(r"stuck$")).click()
    expect(page).to_have_url(service.url + "/")

    # Alphabetical, beside problems first.
    page.get_by_label("Order").select_option("name")
    expect(page).to_have_url(service.url + "/?sort=name")
    expect(page.locator("#matrix tbody tr").first).to_have_attribute(
        "data-c", sorted(everything)[0]
    )
    assert visible_components(page) == sorted(everything)


def test_a_new_record_appears_without_reloading(service: Service, page: Page) -> None:
    page.goto(service.url + "/?q=api")
    page.evaluate("window.sameDocument = true")
    # The page follows the change feed's stream (polling without it: the next test).
    expect(page.locator("body")).to_have_attribute("data-live", "stream")
    assert "payments-api" in visible_components(page)
    failing = counts(page)["failed"]
    expect(page).to_have_title(f"({failing} failing) Deployment status · deploystatus")
    icon = page.locator("#favicon").get_attribute("href")
    service.post(
        [
            deployment("payments-api", "prod-us", "rollback-started", now_minus(1)),
            deployment("brand-new-api", "staging", "deploy-started", now_minus(2)),
            deployment("not-matching", "dev", "deploy-failed", now_minus(2)),
            deployment("payments-api", "canary", "deploy-success", now_minus(2)),
        ]
    )
    # A new environment gets a column (after the configured ones) and a place in the picker.
    expect(page.locator('#matrix th[data-env="canary"]')).to_be_visible()
    expect(page.get_by_role("checkbox", name="canary")).to_be_checked()
    assert matrix(page)["environments"][-1] == "canary"
    changed = cell(page, "payments-api", "prod-us")
    expect(changed).to_contain_text("rollback-started")
    expect(changed).to_have_class(re.compile(r"\bk-failed\b"))
    expect(changed.locator("small.age")).to_have_text(re.compile(r"\d+ s ago"))
    # The newest failure goes first; the tab's title and icon count it.
    expect(page.locator("#matrix tbody tr").first).to_have_attribute("data-c", "payments-api")
    expect(page).to_have_title(f"({failing + 1} failing) Deployment status · deploystatus")
    assert page.locator("#favicon").get_attribute("href") != icon
    expect(page.locator("#recent li").first).to_contain_text("payments-api · prod-us")
    new_row = page.locator('#matrix tr[data-c="brand-new-api"]')
    expect(new_row).to_be_visible()
    expect(cell(page, "brand-new-api", "staging")).to_have_class(re.compile("k-in-progress"))
    expect(cell(page, "payments-api", "canary")).to_contain_text("deploy-success")
    # The filter still applies to what arrived, and the page was never reloaded.
    expect(page.locator('#matrix tr[data-c="not-matching"]')).to_have_count(0)
    assert page.evaluate("window.sameDocument") is True
    expect(page).to_have_url(service.url + "/?q=api")
    expect(page.get_by_label("Filter components")).to_have_value("api")
    # A recent change leads to its deployable.
    page.locator("#recent").get_by_role("link", name="payments-api · prod-us").click()
    expect(page).to_have_url(f"{service.url}/ui/components/payments-api?environment=prod-us")


def test_the_board_follows_the_change_feed_and_polls_without_it(
    browser: Browser, launcher: Launcher
) -> None:
    """With the stream open, a write shows within seconds although polling is slowed to a
    minute; with the change feed off, the board polls every few seconds as before."""
    for events, polls in (("true", "60"), ("false", "1")):
        service = start_service(
            launcher,
            DEPLOYSTATUS_EVENTS=events,
            DEPLOYSTATUS_BOARD_REFRESH_SECONDS=polls,
            DEPLOYSTATUS_EVENTS_HOLD_SECONDS="0.2",
        )
        service.post([deployment("live-api", "prod", "deploy-success", now_minus(60))])
        page = open_page(browser)
        try:
            page.goto(service.url + "/")
            if events == "true":
                expect(page.locator("body")).to_have_attribute("data-live", "stream")
            else:
                expect(page.locator("body")).not_to_have_attribute("data-live", "stream")
            service.post([deployment("live-api", "prod", "deploy-failed", now_minus(1))])
            expect(cell(page, "live-api", "prod")).to_contain_text("deploy-failed", timeout=5000)
        finally:
            close_page(page)
            service.cli.stop(signal.SIGTERM)


def test_a_banner_while_the_api_cannot_be_reached(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    banner = page.get_by_role("alert")
    expect(banner).to_be_hidden()
    before = matrix(page)
    # While the stream is open the board fetches on each event (and once a minute): one
    # asked for here stands for them.
    page.route("**/ui/board.json*", lambda route: route.abort("connectionrefused"))
    page.evaluate("window.deploystatusBoard.refresh()")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Cannot reach the API")
    expect(banner).to_contain_text("Showing the data fetched at")
    expect(page.locator("body")).to_have_class(re.compile("stale"))
    assert without_ages(matrix(page)) == without_ages(before)  # the last data stays
    page.unroute("**/ui/board.json*")
    page.evaluate("window.deploystatusBoard.refresh()")
    expect(banner).to_be_hidden()
    expect(page.locator("body")).not_to_have_class(re.compile("stale"))
    page.route(
        "**/ui/board.json*",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error":"storage_unavailable","message":"DynamoDB is unavailable"}',
        ),
    )
    page.evaluate("window.deploystatusBoard.refresh()")
    expect(banner).to_contain_text("answered 503 (DynamoDB is unavailable)")
    page.unroute("**/ui/board.json*")
    page.evaluate("window.deploystatusBoard.refresh()")
    expect(banner).to_be_hidden()


def test_a_banner_when_the_service_stops(browser: Browser, launcher: Launcher) -> None:
    service = start_service(launcher, engine="moto")
    service.post([deployment("abc", "dev", "Ok", now_minus(5))])
    page = open_page(browser)
    try:
        page.goto(service.url + "/")
        expect(cell(page, "abc", "dev")).to_contain_text("Ok")
        assert service.cli.stop(signal.SIGTERM) == 0
        banner = page.get_by_role("alert")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Cannot reach the API")
        expect(cell(page, "abc", "dev")).to_contain_text("Ok")  # the last data stays
    finally:
        close_page(page)


def test_state_text_is_never_markup(service: Service, page: Page) -> None:
    evil = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">&amp;'
    page.goto(service.url + "/?q=xss")
    service.post(
        [
            deployment("xss-probe", "dev", evil, now_minus(1))
            | {"Version": evil[:100], "Actor": evil[:100]}
        ]
    )
    probe = cell(page, "xss-probe", "dev")
    expect(probe).to_contain_text(evil)  # added by the refresh
    page.reload()
    expect(cell(page, "xss-probe", "dev")).to_contain_text(evil)  # rendered by the server
    page.goto(service.url + "/ui/components/xss-probe")
    expect(page.locator("#current")).to_contain_text(evil)
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0
    # Were the text ever to become markup, the page's policy would run none of it.
    refused = make_markup_live(page.locator("#current .state b").first)
    expect(page.locator("#current img")).to_have_count(1)  # the markup is in the page now
    assert page.evaluate("window.pwned") is None
    assert refused == ["script-src-attr", "script-src-elem"]


def test_bidi_controls_in_a_state_stay_inside_it(service: Service, page: Page) -> None:
    # An override that would read "deployed-OK", and an isolate that is never closed.
    spoof = "\u202eKO-deyolped \u2066open"
    isolated = "b => getComputedStyle(b).unicodeBidi"
    page.goto(service.url + "/?q=bidi")
    service.post([deployment("bidi-probe", "dev", spoof, now_minus(1))])
    probe = cell(page, "bidi-probe", "dev")
    expect(probe).to_contain_text(spoof)  # added by the refresh
    assert probe.locator("b").evaluate(isolated) == "isolate"
    page.reload()
    probe = cell(page, "bidi-probe", "dev")
    assert probe.locator("b").evaluate(isolated) == "isolate"  # rendered by the server
    # The age beside the state reads as it should.
    expect(probe.locator("small.age")).to_have_text(re.compile(r"^\d+ s ago$"))
    page.goto(service.url + "/ui/components/bidi-probe")
    states = page.locator(".state b")
    expect(states.first).to_have_text(spoof)
    assert all(b.evaluate(isolated) == "isolate" for b in states.all())


# People, keyboards and narrow windows


def test_everything_works_from_the_keyboard(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    def tab_to(locator: Any, limit: int = 20) -> None:
        for _ in range(limit):
            if locator.evaluate("(element) => element === document.activeElement"):
                return
            page.keyboard.press("Tab")
        expect(locator).to_be_focused()

    tab_to(page.get_by_label("Filter components"))
    page.keyboard.type("api")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Only not green")).to_be_focused()
    page.keyboard.press("Space")
    expect(page).to_have_url(service.url + "/?q=api&notgreen=1")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Order")).to_be_focused()
    page.keyboard.press("Tab")
    first_environment = matrix(page)["environments"][0]
    expect(page.get_by_role("checkbox", name=first_environment, exact=True)).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator(f'#matrix th[data-env="{first_environment}"]')).to_have_count(0)
    page.keyboard.press("Space")
    # The counts are links: a facet from the keyboard.
    failed = page.locator("#counts").get_by_role("link", name=re.compile(r"failed$"))
    tab_to(failed)
    page.keyboard.press("Enter")
    expect(page).to_have_url(service.url + "/?q=api&show=failed")
    expect(page.get_by_label("Only not green")).not_to_be_checked()
    first = page.locator("#matrix tbody tr th a").first
    name = first.inner_text()
    tab_to(first, limit=40)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{service.url}/ui/components/{name}")


def test_a_narrow_window(service: Service, browser: Browser, tmp_path: Path) -> None:
    page = open_page(browser, width=390, height=844)
    try:
        for path in ("/", f"/ui/components/{FAILING[0]}"):
            page.goto(service.url + path)
            # The page itself never scrolls sideways; wide tables scroll in their own box.
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.goto(service.url + "/")
        search = page.get_by_label("Filter components")
        expect(search).to_be_in_viewport()
        box = search.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
        wrap = page.locator(".matrix-wrap")
        assert wrap.evaluate("(element) => element.scrollWidth > element.clientWidth")
        # The first failing row is reachable on a phone, and its component stays in view
        # while the environments scroll sideways to the last one.
        first = page.locator("#matrix tbody tr").first
        expect(first.locator("td.k-failed")).not_to_have_count(0)
        wrap.evaluate("(element) => { element.scrollLeft = element.scrollWidth; }")
        name = first.locator("th a")
        last_cell = first.locator("td").last
        expect(last_cell).to_be_in_viewport()
        expect(name).to_be_in_viewport()
        name_box, cell_box = name.bounding_box(), last_cell.bounding_box()
        assert name_box is not None and cell_box is not None
        assert name_box["x"] + name_box["width"] <= cell_box["x"] + 1  # not covered
        screenshot(page, tmp_path, "board-narrow.png")
    finally:
        close_page(page)


# Scale


def test_the_board_at_1000_components_by_10_environments(
    browser: Browser, launcher: Launcher
) -> None:
    """The board opens with one page of rows, whatever the count, and each refresh without
    a change moves a few bytes (the figures: `python -m bench.board`)."""
    service = start_service(launcher)
    records = generated(1000, 10, 10_000, end_ago=60)
    latest = {(r["Component"], r["Environment"]) for r in records}
    # Every deployable has a state: fill the gaps the random plan left.
    missing = [
        deployment(component, environment, "deploy-success", now_minus(30))
        for component in generate.component_names(1000)
        for environment in generate.ENVIRONMENTS[:10]
        if (component, environment) not in latest
    ]
    service.post(records + missing)
    page = open_page(browser)
    try:
        page.goto(service.url + "/", wait_until="load")
        expect(page.locator("#matrix tbody tr")).to_have_count(20)
        expect(page.locator("#matched")).to_have_text("1,000")
        assert sum(counts(page).values()) == 10_000
        with page.expect_response(re.compile(r"/ui/board\.json")) as answered:
            page.evaluate("window.deploystatusBoard.refresh()")
        assert len(answered.value.body()) < 100  # {"v": ..., "same": true}
        page.get_by_role("link", name="Show more components").click()
        expect(page.locator("#matrix tbody tr")).to_have_count(40)
        expect(page).to_have_url(service.url + "/?rows=40")
        expect(page.get_by_role("alert")).to_be_hidden()
    finally:
        close_page(page)
