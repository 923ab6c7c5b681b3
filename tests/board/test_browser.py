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

import json
import os
import re
import shutil
import signal
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from deploystatus import timestamps
from deploystatus.board.matrix import BoardFilters, render_board
from deploystatus.board.views import ICONS, KIND_ORDER
from deploystatus.commands import generate
from deploystatus.config import Settings
from deploystatus.records import Record
from deploystatus.states import LABELS, Classifier, state_class
from tests.support.browsers import (
    Service,
    close_page,
    make_markup_live,
    now_minus,
    open_page,
    require_chromium,
    start_service,
)
from tests.support.factories import deployment
from tests.support.processes import Launcher, clean_environment, http_request

require_chromium()

# A failing deployable this module adds on top of generated data, newer than all of it.
FAILING = ("checkout-api", "prod-eu")
HISTORY_COMPONENT = "history-svc"
HISTORY_RECORDS = 120


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
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service on dynalite with generated data (24 components x 4 environments), a
    known failing deployable and one component with a long history."""
    launcher = Launcher(tmp_path_factory.mktemp("board-service"), clean_environment())
    try:
        service = start_service(launcher)
        service.post(generated(24, 4, 700, end_ago=3600))
        service.post([deployment(*FAILING, "deploy-failed", now_minus(90))])
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
    hidden: tr.hidden,
    cells: [...tr.cells].slice(1).map((td) => [
      td.classList.item(0) || "",
      td.children[0] ? td.children[0].textContent : "",
      td.title,
      td.children[1] ? td.children[1].textContent : "",
    ]),
  })),
})"""


def matrix(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(MATRIX_JS)
    return result


def expected_matrix(service: Service) -> dict[str, Any]:
    """The board as GET /current says it must be."""
    records = service.get("/current")["Records"]
    environments = sorted({r["Environment"] for r in records})
    rows: dict[str, list[list[str]]] = {}
    for r in records:
        cells = rows.setdefault(r["Component"], [["", "", ""] for _ in environments])
        cells[environments.index(r["Environment"])] = [
            "k-" + state_class(r["State"]),
            r["State"],
            r["Timestamp"],
        ]
    return {"environments": environments, "rows": rows}


def without_ages(shown: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    return [(row["component"], [c[:3] for c in row["cells"]]) for row in shown["rows"]]


def visible_components(page: Page) -> list[str]:
    return [row["component"] for row in matrix(page)["rows"] if not row["hidden"]]


def column(page: Page, environment: str) -> int:
    environments: list[str] = matrix(page)["environments"]
    return environments.index(environment)


def cell(page: Page, component: str, environment: str) -> Any:
    return page.locator(
        f'#matrix tr[data-c="{component}"] > td:nth-child({column(page, environment) + 2})'
    )


# The board


def test_the_board_shows_every_deployable(service: Service, page: Page, tmp_path: Path) -> None:
    page.goto(service.url + "/")
    expect(page.get_by_role("heading", name="Deployment status")).to_be_visible()
    expected = expected_matrix(service)
    shown = matrix(page)
    assert shown["environments"] == expected["environments"]
    assert {"dev", "prod-eu", "prod-us", "staging"} <= set(shown["environments"])
    assert [row["component"] for row in shown["rows"]] == list(expected["rows"])
    assert len(shown["rows"]) >= 25
    for row in shown["rows"]:
        assert not row["hidden"]
        assert [c[:3] for c in row["cells"]] == expected["rows"][row["component"]], row
        # Every cell says how old it is, and its exact time on hover (title).
        assert all(re.fullmatch(r"\d+ (s|min|h|d) ago", c[3]) for c in row["cells"] if c[0])
    failing = cell(page, *FAILING)
    expect(failing).to_have_class("k-failed")
    expect(failing).to_contain_text("deploy-failed")
    expect(failing).to_contain_text(re.compile(r"\d+ (s|min) ago"))
    # Colour is not the only signal: an icon, and the class's name for screen readers.
    expect(failing).to_have_accessible_name(re.compile(r"^failed deploy-failed \d+ (s|min) ago$"))
    expect(page.locator("#fetched")).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    screenshot(page, tmp_path, "board.png")


def test_filters_apply_at_once_and_stay_in_the_url(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    everything = visible_components(page)

    page.get_by_label("Filter components").fill("pay")
    assert visible_components(page) == [c for c in everything if "pay" in c]
    expect(page).to_have_url(service.url + "/?q=pay")
    expect(page.locator("#shown")).to_have_text(str(len(visible_components(page))))

    page.get_by_label("Filter components").fill("")
    page.get_by_role("checkbox", name="dev", exact=True).uncheck()
    expect(page.locator('#matrix th[data-env="dev"]')).to_be_hidden()
    expect(cell(page, "checkout-api", "dev")).to_be_hidden()
    expect(page.locator('#matrix th[data-env="staging"]')).to_be_visible()
    others = [name for name in matrix(page)["environments"] if name != "dev"]
    url = service.url + "/?" + "&".join(f"env={name}" for name in others)
    expect(page).to_have_url(url)

    page.get_by_label("Only not green").check()
    shown = visible_components(page)
    assert shown and len(shown) < len(everything)
    dev = column(page, "dev")
    for row in matrix(page)["rows"]:
        kinds = [c[0] for i, c in enumerate(row["cells"]) if i != dev]
        bad = any(kind not in ("", "k-success") for kind in kinds)
        assert row["hidden"] != bad, row
    url += "&notgreen=1"
    expect(page).to_have_url(url)

    # The URL is the view: opened elsewhere, it shows the same.
    other = page.context.new_page()
    other.goto(url)
    assert visible_components(other) == shown
    expect(other.get_by_label("Only not green")).to_be_checked()
    expect(other.get_by_role("checkbox", name="dev", exact=True)).not_to_be_checked()
    expect(other.locator('#matrix th[data-env="dev"]')).to_be_hidden()
    other.close()

    page.get_by_label("Only not green").uncheck()
    page.get_by_role("checkbox", name="dev", exact=True).check()
    expect(page).to_have_url(service.url + "/")
    assert visible_components(page) == everything


def test_a_failing_deployable_in_two_clicks(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    page.get_by_label("Only not green").click()  # 1
    failing = page.locator("#matrix tbody tr:not([hidden])", has=page.locator("td.k-failed"))
    first = failing.first
    expect(first).to_be_in_viewport()
    component = first.get_attribute("data-c")
    assert component is not None
    expect(page.locator(f'#matrix tr[data-c="{FAILING[0]}"]')).to_be_visible()
    first.get_by_role("link", name=component, exact=True).click()  # 2
    expect(page).to_have_url(f"{service.url}/ui/components/{component}")
    expect(page.get_by_role("heading", name=component, exact=True)).to_be_visible()
    failed_rows = page.locator("#current tbody tr.k-failed")
    expect(failed_rows.first).to_contain_text("failed")
    states = {
        r["Environment"]: r["State"]
        for r in service.get(f"/current?component={component}")["Records"]
        if r["Component"] == component
    }
    for row in failed_rows.all():
        environment = row.locator("th").inner_text().strip()
        expect(row).to_contain_text(states[environment])


def test_a_new_record_appears_without_reloading(service: Service, page: Page) -> None:
    page.goto(service.url + "/?q=api")
    page.evaluate("window.sameDocument = true")
    fetched = page.locator("#fetched").get_attribute("datetime")
    # The page refreshes itself: the time of the last fetch moves on.
    expect(page.locator("#fetched")).not_to_have_attribute("datetime", fetched or "")
    assert "payments-api" in visible_components(page)
    service.post(
        [
            deployment("payments-api", "prod-us", "rollback-started", now_minus(1)),
            deployment("brand-new-api", "staging", "deploy-started", now_minus(1)),
            deployment("not-matching", "dev", "deploy-failed", now_minus(1)),
            deployment("payments-api", "canary", "deploy-success", now_minus(1)),
        ]
    )
    # A new environment gets a column (in order, so the others move) and a place in the picker.
    expect(page.locator('#matrix th[data-env="canary"]')).to_be_visible()
    expect(page.get_by_role("checkbox", name="canary")).to_be_checked()
    assert matrix(page)["environments"][:2] == ["canary", "dev"]
    changed = cell(page, "payments-api", "prod-us")
    expect(changed).to_contain_text("rollback-started")
    expect(changed).to_have_class(re.compile(r"\bk-failed\b"))
    expect(changed).to_contain_text(re.compile(r"\d+ s ago"))
    new_row = page.locator('#matrix tr[data-c="brand-new-api"]')
    expect(new_row).to_be_visible()
    expect(cell(page, "brand-new-api", "staging")).to_have_class(re.compile("k-in-progress"))
    expect(cell(page, "payments-api", "canary")).to_contain_text("deploy-success")
    # The filter still applies to what arrived, and the page was never reloaded.
    expect(page.locator('#matrix tr[data-c="not-matching"]')).to_be_hidden()
    assert page.evaluate("window.sameDocument") is True
    expect(page).to_have_url(service.url + "/?q=api")
    expect(page.get_by_label("Filter components")).to_have_value("api")
    rows = [row["component"] for row in matrix(page)["rows"]]
    assert rows == sorted(rows)
    assert matrix(page)["rows"] and expected_matrix(service)["rows"].keys() == set(rows)


def test_a_banner_while_the_api_cannot_be_reached(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    banner = page.get_by_role("alert")
    expect(banner).to_be_hidden()
    before = matrix(page)
    page.route("**/current", lambda route: route.abort("connectionrefused"))
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Cannot reach the API")
    expect(banner).to_contain_text("Showing the data fetched at")
    expect(page.locator("body")).to_have_class(re.compile("stale"))
    assert without_ages(matrix(page)) == without_ages(before)  # the last data stays
    page.unroute("**/current")
    expect(banner).to_be_hidden()
    expect(page.locator("body")).not_to_have_class(re.compile("stale"))
    page.route(
        "**/current",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error":"storage_unavailable","message":"DynamoDB is unavailable"}',
        ),
    )
    expect(banner).to_contain_text("answered 503 (DynamoDB is unavailable)")
    page.unroute("**/current")
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
    service.post([deployment("xss-probe", "dev", evil, now_minus(1))])
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
    expect(probe.locator("small")).to_have_text(re.compile(r"^\d+ s ago$"))
    page.goto(service.url + "/ui/components/bidi-probe")
    states = page.locator(".state b")
    expect(states.first).to_have_text(spoof)
    assert all(b.evaluate(isolated) == "isolate" for b in states.all())


# A component's page


def history_states(page: Page) -> list[str]:
    texts = page.locator("#history tbody td:nth-child(3)").all_inner_texts()
    return [text.strip() for text in texts]


def test_the_component_page_and_its_pages(service: Service, page: Page, tmp_path: Path) -> None:
    page.goto(service.url + "/?q=history")
    page.get_by_role("link", name=HISTORY_COMPONENT, exact=True).click()
    expect(page).to_have_url(f"{service.url}/ui/components/{HISTORY_COMPONENT}")
    expect(page.get_by_role("heading", name=HISTORY_COMPONENT, exact=True)).to_be_visible()

    # Its current state per environment.
    current = service.get(f"/current?component={HISTORY_COMPONENT}")["Records"]
    rows = page.locator("#current tbody tr")
    expect(rows).to_have_count(len(current))
    for row, expected in zip(rows.all(), current, strict=True):
        expect(row.locator("th")).to_have_text(expected["Environment"])
        expect(row).to_contain_text(expected["State"])
        expect(row).to_contain_text(expected["Timestamp"])
        expect(row).to_contain_text(state_class(expected["State"]).replace("-", " "))

    # The timeline: a marker per record, one lane per environment, a title on each.
    markers = page.locator("#timeline use.marker")
    expect(markers).to_have_count(HISTORY_RECORDS)
    expect(page.locator("#timeline .lane-label")).to_have_text(["dev", "prod-eu", "prod-us"])
    expect(page.locator("#timeline use.mk-failed")).to_have_count(HISTORY_RECORDS // 4)
    screenshot(page, tmp_path, "component.png")

    # The history: newest first, 50 a page, through the API's cursor.
    newest_first = [
        r["State"] + "@" + r["Timestamp"]
        for r in service.get(f"/historical/{HISTORY_COMPONENT}?order=desc")["Records"]
    ]

    def page_rows() -> list[str]:
        times = page.locator("#history tbody td:nth-child(1)").all_inner_texts()
        return [s + "@" + t.strip() for s, t in zip(history_states(page), times, strict=True)]

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


# People, keyboards and narrow windows


def test_everything_works_from_the_keyboard(service: Service, page: Page) -> None:
    page.goto(service.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    def tab_to(locator: Any, limit: int = 12) -> None:
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
    first_environment = matrix(page)["environments"][0]
    expect(page.get_by_role("checkbox", name=first_environment, exact=True)).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator(f'#matrix th[data-env="{first_environment}"]')).to_be_hidden()
    page.keyboard.press("Space")
    first = page.locator("#matrix tbody tr:not([hidden]) th a").first
    name = first.inner_text()
    tab_to(first, limit=20)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{service.url}/ui/components/{name}")


def test_a_narrow_window(service: Service, browser: Browser) -> None:
    page = open_page(browser, width=390, height=844)
    try:
        for path in ("/", f"/ui/components/{HISTORY_COMPONENT}"):
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
        expect(page.locator("#matrix tbody th a").first).to_be_in_viewport()
    finally:
        close_page(page)


# Scale


def test_the_board_at_1000_components_by_10_environments(
    browser: Browser, launcher: Launcher
) -> None:
    """Page size, server and browser times at 1,000 x 10 (figures in the README)."""
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
    assert len(service.get("/current")["Records"]) == 10_000

    def timed(path: str, gzip: bool) -> tuple[float, int]:
        headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
        started = time.perf_counter()
        status, body = http_request(service.url + path, headers=headers)
        assert status == 200
        return time.perf_counter() - started, len(body)

    # The page's rendering alone (no DynamoDB read), in this process, from the same records.
    current_records = [
        Record(
            r["Component"],
            r["Environment"],
            r["State"],
            timestamps.canonical(timestamps.parse(r["Timestamp"])),
        )
        for r in service.get("/current")["Records"]
    ]
    settings = Settings()
    renders = []
    for _ in range(5):
        started = time.perf_counter()
        render_board(
            current_records,
            BoardFilters(),
            context={
                **dict.fromkeys(("title", "base", "css_url", "js_url", "nonce"), ""),
                **{"icons": ICONS, "labels": LABELS, "kinds": KIND_ORDER},
            },
            classify=Classifier(settings.state_rules),
            renderer=timestamps.Renderer(None),
            refresh_seconds=5,
            now_ns=time.time_ns(),
        )
        renders.append(time.perf_counter() - started)
    plain = [timed("/", gzip=False) for _ in range(5)]
    zipped = [timed("/", gzip=True) for _ in range(5)]
    current = [timed("/current", gzip=False) for _ in range(5)]
    page = open_page(browser)
    try:
        started = time.perf_counter()
        page.goto(service.url + "/", wait_until="load")
        loaded = time.perf_counter() - started
        expect(page.locator("#matrix tbody tr")).to_have_count(1000)
        refresh_ms = [
            page.evaluate(
                "async () => { const t = performance.now();"
                " await window.deploystatusBoard.refresh(); document.body.offsetHeight;"
                " return performance.now() - t; }"
            )
            for _ in range(3)
        ]
        filter_ms = page.evaluate(
            """() => { const input = document.querySelector('input[name=q]');
            const t = performance.now(); input.value = 'payments';
            input.dispatchEvent(new Event('input', {bubbles: true}));
            document.body.offsetHeight; return performance.now() - t; }"""
        )
        expect(page.get_by_role("alert")).to_be_hidden()
    finally:
        close_page(page)
    figures = {
        "page bytes": statistics.median(size for _, size in plain),
        "page bytes gzip": statistics.median(size for _, size in zipped),
        "GET / ms (median of 5, gzip)": 1000 * statistics.median(t for t, _ in zipped),
        "GET / ms (median of 5, identity)": 1000 * statistics.median(t for t, _ in plain),
        "GET /current ms (median of 5)": 1000 * statistics.median(t for t, _ in current),
        "GET /current bytes": current[0][1],
        "render_board ms (median of 5, in process)": 1000 * statistics.median(renders),
        "browser load ms": 1000 * loaded,
        "browser refresh ms (median of 3)": statistics.median(refresh_ms),
        "browser filter ms": filter_ms,
    }
    print("\nboard at 1,000 x 10:", json.dumps(figures, indent=1))
    # Generous bounds (a loaded CI machine), to catch a page that has become slow.
    assert figures["page bytes"] < 2_500_000
    assert figures["page bytes gzip"] < 300_000
    assert figures["GET / ms (median of 5, gzip)"] < 5_000
    assert figures["browser load ms"] < 15_000
    assert figures["browser refresh ms (median of 3)"] < 5_000
