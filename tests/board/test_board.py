"""The status board's pages over HTTP, without a browser (tests/board/test_browser.py has
one): what the server renders for each URL, on both engines; and the pieces it is built
from."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from deploystatus.board.component import BAR_MIN_WIDTH, build_timeline, duration
from deploystatus.board.views import ago, run_link, short_version
from deploystatus.config import Settings
from deploystatus.records import Record
from deploystatus.states import (
    DEFAULT_RULES,
    Classifier,
    format_rules,
    parse_rules,
    state_class,
)
from deploystatus.timestamps import Renderer, canonical, parse
from tests.support.factories import deployment, post_ok

HTML = "text/html; charset=utf-8"
T0 = parse("2024-07-30T14:00:00Z")
MINUTE = 60 * 1_000_000_000


def at(minutes: float) -> str:
    return canonical(T0 + int(minutes * MINUTE))


class Matrix(HTMLParser):
    """The board's matrix as text: its columns, and rows of (component, [(class, state,
    title)])."""

    def __init__(self) -> None:
        super().__init__()
        self.environments: list[str] = []
        self.emphasised: list[str] = []
        self.rows: list[tuple[str, list[tuple[str, str, str]]]] = []
        self._in: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self._in.append(tag)
        if tag == "th" and "data-env" in attributes:
            self.environments.append(attributes["data-env"] or "")
            if attributes.get("class") == "emph":
                self.emphasised.append(attributes["data-env"] or "")
        elif tag == "tr" and "data-c" in attributes:
            self.rows.append((attributes["data-c"] or "", []))
        elif tag == "td" and self.rows:
            self._cell = [attributes.get("class") or "", "", attributes.get("title") or ""]

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()
        if tag == "td" and self._cell is not None:
            self.rows[-1][1].append((self._cell[0], self._cell[1], self._cell[2]))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._in and self._in[-1] == "b":
            self._cell[1] += data

    @property
    def components(self) -> list[str]:
        return [component for component, _ in self.rows]


def board(client: TestClient, query: str = "") -> Matrix:
    response = client.get("/" + query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == HTML
    assert response.headers["cache-control"] == "no-store"
    parsed = Matrix()
    parsed.feed(response.text)
    return parsed


RECORDS = [
    deployment("payments-api", "dev", "deploy-success", at(0)),
    deployment("payments-api", "prod", "deploy-failed", at(1)),
    deployment("search-api", "dev", "deploy-started", at(2)),  # long ago: stuck
    deployment("search-api", "qa", "v1.2.3", at(3)),
    deployment("zeta", "prod", "Ok", at(4)),
]


def test_an_empty_board(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No deployment has been recorded yet." in response.text
    assert board(client).rows == []
    assert "<title>Deployment status · deploystatus</title>" in response.text


def test_the_board_shows_every_deployable(client: TestClient) -> None:
    post_ok(client, RECORDS)
    matrix = board(client)
    assert matrix.environments == ["dev", "prod", "qa"]
    assert matrix.rows == [
        (
            "payments-api",
            [
                ("k-success", "deploy-success", "2024-07-30T14:00:00Z"),
                ("k-failed", "deploy-failed", "2024-07-30T14:01:00Z"),
                ("", "", ""),
            ],
        ),
        (
            "search-api",
            [
                ("k-in-progress stuck", "deploy-started", "2024-07-30T14:02:00Z"),
                ("", "", ""),
                ("k-other", "v1.2.3", "2024-07-30T14:03:00Z"),
            ],
        ),
        ("zeta", [("", "", ""), ("k-success", "Ok", "2024-07-30T14:04:00Z"), ("", "", "")]),
    ]
    text = client.get("/").text
    # Colour is not the only signal: an icon named by its class, and the state's text.
    assert re.search(
        r'<td class="k-failed" title="2024-07-30T14:01:00Z" data-k="[0-9a-f]+">'
        r"<b>deploy-failed</b> <small",
        text,
    )
    assert 'href="/ui/components/payments-api"' in text
    for count, facet, label in [
        (1, "failed", "failed"),
        (1, "stuck", "stuck"),
        (0, "in-progress", "in progress"),
        (1, "other", "other"),
        (2, "success", "success"),
    ]:
        assert f'data-count="{facet}">{count}</span> {label}</a>' in text, label
    # The tab says how many deployables fail, and so does its icon.
    assert "<title>(1 failing) Deployment status · deploystatus</title>" in text
    assert re.search(r'<link rel="icon" id="favicon" href="data:image/svg\+xml,[^"]*%3E1%3C', text)


def test_timestamps_on_the_board_are_in_the_servers_zone(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(timezone="Europe/London")
    post_ok(client, RECORDS[:1])
    assert board(client).rows[0][1][0][2] == "2024-07-30T15:00:00+01:00"


@pytest.mark.parametrize(
    ("query", "shown", "columns"),
    [
        ("", ["payments-api", "search-api", "zeta"], ["dev", "prod", "qa"]),
        ("?q=api", ["payments-api", "search-api"], ["dev", "prod", "qa"]),
        ("?q=SEARCH", ["search-api"], ["dev", "prod", "qa"]),
        ("?q=nothing", [], ["dev", "prod", "qa"]),
        ("?notgreen=1", ["payments-api", "search-api"], ["dev", "prod", "qa"]),
        ("?env=dev&env=qa", ["search-api", "payments-api", "zeta"], ["dev", "qa"]),
        # Only what is not green: the other cells and columns go too.
        ("?env=dev&notgreen=1", ["search-api"], ["dev"]),
        ("?env=prod&notgreen=1&q=pay", ["payments-api"], ["prod"]),
        ("?env=", ["payments-api", "search-api", "zeta"], []),
        ("?env=nope&notgreen=on", [], []),
        # The counts are filters.
        ("?show=failed", ["payments-api"], ["prod"]),
        ("?show=stuck", ["search-api"], ["dev"]),
        ("?show=other", ["search-api"], ["qa"]),
        ("?show=success", ["payments-api", "zeta"], ["dev", "prod"]),
        ("?show=in-progress", [], []),
        ("?show=bogus", ["payments-api", "search-api", "zeta"], ["dev", "prod", "qa"]),
    ],
)
def test_the_url_says_what_is_shown(
    client: TestClient, query: str, shown: list[str], columns: list[str]
) -> None:
    post_ok(client, RECORDS)
    matrix = board(client, query)
    assert matrix.components == shown
    assert matrix.environments == columns
    if ("show=" in query and "bogus" not in query) or "notgreen" in query:
        assert all(
            cell[0] != "k-success" or "success" in query
            for _, cells in matrix.rows
            for cell in cells
        )
    text = client.get("/" + query).text
    assert (
        f'Showing <span id="shown">{len(shown)}</span> of <span id="matched">{len(shown)}' in text
    )
    assert '<span id="total">3</span> components in all' in text


def test_the_form_reflects_the_url(client: TestClient) -> None:
    post_ok(client, RECORDS)
    text = client.get("/?q=pay&env=dev&notgreen=1&sort=name").text
    assert 'name="q" value="pay"' in text
    assert 'name="notgreen" value="1" checked' in text
    assert 'name="env" value="dev" checked' in text
    assert 'name="env" value="prod">' in text
    assert '<option value="name" selected>' in text
    # A facet in use is marked, and its link shows everything again.
    text = client.get("/?show=failed").text
    assert '<a href="?" data-show="failed" aria-current="true">' in text
    assert '<a href="?show=stuck" data-show="stuck">' in text
    assert '<input type="hidden" name="show" value="failed">' in text  # kept without script


def test_problems_first_and_by_name(client: TestClient) -> None:
    now = time.time_ns()

    def ago_(seconds: int) -> str:
        return canonical(now - seconds * 1_000_000_000)

    post_ok(
        client,
        [
            deployment("a-ok", "prod", "deploy-success", ago_(60)),
            deployment("b-running", "prod", "deploy-started", ago_(30)),
            deployment("c-failed-long-ago", "prod", "deploy-failed", ago_(7200)),
            deployment("d-failed-lately", "dev", "deploy-failed", ago_(120)),
            deployment("d-failed-lately", "prod", "deploy-success", ago_(60)),
            deployment("e-stuck", "prod", "deploy-started", ago_(3 * 3600)),
            deployment("f-other", "prod", "v1.2", ago_(10)),
        ],
    )
    problems = ["d-failed-lately", "c-failed-long-ago", "e-stuck", "b-running", "a-ok", "f-other"]
    assert board(client).components == problems
    assert board(client, "?sort=problems").components == problems
    assert board(client, "?sort=name").components == sorted(problems)
    # Only what is in a shown environment counts: without dev, d is only a success.
    assert board(client, "?env=prod").components == [
        "c-failed-long-ago", "e-stuck", "b-running", "a-ok", "d-failed-lately", "f-other"
    ]  # fmt: skip


def test_environment_order_and_emphasis(make_client: Callable[..., TestClient]) -> None:
    client = make_client(board_environments="dev, staging,prod-*", board_emphasis="prod-*")
    names = ["prod-us", "dev", "zz", "staging", "prod-eu", "alpha"]
    post_ok(client, [deployment("svc", name, "Ok", at(i)) for i, name in enumerate(names)])
    matrix = board(client)
    assert matrix.environments == ["dev", "staging", "prod-eu", "prod-us", "alpha", "zz"]
    assert matrix.emphasised == ["prod-eu", "prod-us"]
    text = client.get("/").text
    assert '<span class="sr"> (key environment)</span>' in text
    picker = re.findall(r'name="env" value="([^"]+)"', text)
    assert picker == matrix.environments
    assert board(make_client(), "").environments == sorted(names)  # alphabetical by default


def test_a_cell_tells_what_failed_since_when_and_the_last_good_version(
    client: TestClient,
) -> None:
    now = time.time_ns()
    link = "https://ci.example.com/acme/pay/runs/42?attempt=1&x=<y>"
    post_ok(
        client,
        [
            deployment("pay", "prod", "deploy-success", canonical(now - 7200 * 10**9))
            | {"Version": "1.4.2"},
            deployment("pay", "prod", "deploy-failed", canonical(now - 3000 * 10**9))
            | {"Version": "9fceb02d0ae598e95dc970b74767f19372d61af8", "Actor": "jdoe"},
            deployment("pay", "prod", "deploy-failed", canonical(now - 600 * 10**9))
            | {"Version": "2024.07.30-1432-9fceb02", "Actor": "j<doe>", "Link": link},
            deployment("pay", "dev", "deploy-started", canonical(now - 2 * 3600 * 10**9)),
        ],
    )
    text = client.get("/").text
    cell = re.search(r'<td class="k-failed"(.*?)</td>', text, re.S)
    assert cell is not None
    failed = cell.group(0)
    assert '<span class="ver" title="2024.07.30-1432-9fceb02">2024.07.30-…</span>' in failed
    assert re.search(r'failing for <time data-t="\d+" data-f="for">50 min</time>', failed)
    assert '<small class="last">last success <span class="ver" title="1.4.2">1.4.2</span>' in failed
    assert re.search(r"<time data-t=\"\d+\">2 h ago</time></small>", failed)
    assert "by <bdi>j&lt;doe&gt;</bdi>" in failed
    assert (
        '<a class="run" href="https://ci.example.com/acme/pay/runs/42?attempt=1&amp;x=&lt;y&gt;"'
        ' rel="noopener noreferrer" target="_blank">run<span class="sr"> of pay in prod</span></a>'
    ) in failed
    stuck = re.search(r'<td class="k-in-progress stuck"(.*?)</td>', text, re.S)
    assert stuck is not None and re.search(r"stuck for <time[^>]*>2 h</time>", stuck.group(0))
    # The recent changes: newest transition first, each a link to its deployable.
    recent = text.split('id="recent"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'<a href="([^"]+)">', recent) == [
        "/ui/components/pay?environment=prod",
        "/ui/components/pay?environment=dev",
    ]


def test_run_links_are_http_only() -> None:
    assert run_link("https://ci.example/run/1") == "https://ci.example/run/1"
    assert run_link("HTTP://ci.example/run/1") == "HTTP://ci.example/run/1"
    for link in ("javascript:alert(1)", "data:text/html,x", "//evil", "https://a b", "", None):
        assert run_link(link) is None, link


def test_short_versions() -> None:
    assert short_version("1.4.3") == "1.4.3"
    assert short_version("9fceb02d0ae598e95dc970b74767f19372d61af8") == "9fceb02"
    assert short_version("v2024.07.30-1432") == "v2024.07.30…"
    assert short_version("123456789012") == "1234567"  # twelve hex digits: a SHA


def test_one_page_of_rows_and_more_on_asking(client: TestClient) -> None:
    post_ok(client, [deployment(f"svc-{i:03d}", "dev", "Ok", at(i)) for i in range(40)])
    post_ok(client, [deployment("svc-039", "prod", "deploy-failed", at(200))])
    first = board(client)
    assert len(first.rows) == 20 and first.components[0] == "svc-039"
    text = client.get("/").text
    assert 'Showing <span id="shown">20</span> of <span id="matched">40</span>' in text
    assert '<a id="more" href="?rows=40">Show more components</a>' in text
    assert "(20 not shown)" in text
    assert len(board(client, "?rows=40").rows) == 40
    assert 'id="more-line" class="more" hidden' in client.get("/?rows=40").text
    assert len(board(client, "?rows=0").rows) == 20  # nonsense means the default


def data(client: TestClient, query: str = "", known: str | None = None) -> dict[str, Any]:
    sep = "&" if query else ""
    response = client.get(f"/ui/board.json?{query}{sep}known={known or ''}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = response.json()
    return answer


def test_a_refresh_sends_only_what_changed(client: TestClient) -> None:
    post_ok(client, RECORDS)
    page = client.get("/").text
    match = re.search(r'"version":"([0-9a-f]+)"', page)
    assert match is not None
    known = match.group(1)
    # Nothing changed: nothing but the version.
    assert data(client, known=known) == {"v": known, "same": True}
    post_ok(client, [deployment("zeta", "prod", "deploy-failed", at(10))])
    answer = data(client, known=known)
    assert answer["v"] != known and answer["head"] is None
    rows = dict(answer["rows"])
    assert [component for component, _ in answer["rows"]] == ["zeta", "payments-api", "search-api"]
    assert rows["payments-api"] is None and rows["search-api"] is None  # the browser has them
    assert rows["zeta"].startswith('<tr data-c="zeta">') and "deploy-failed" in rows["zeta"]
    assert answer["counts"] == {"failed": 2, "stuck": 1, "in-progress": 0, "other": 1, "success": 1}
    assert answer["title"] == "(2 failing) Deployment status"
    assert answer["favicon"].startswith("data:image/svg+xml,")
    assert answer["recent"] is not None and "zeta · prod" in answer["recent"]
    # A view the process does not know (another replica's, or long ago): everything.
    full = data(client, known="0123")
    assert all(html for _, html in full["rows"]) and full["head"].startswith("<tr>")
    # The filters apply as on the page; an unknown filter value is the default.
    assert [c for c, _ in data(client, "show=failed&sort=name")["rows"]] == ["payments-api", "zeta"]
    assert data(client, "q=zet")["query"] == "q=zet"


def test_the_refresh_answers_a_problem_when_the_storage_fails(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(table=f"missing-{uuid.uuid4().hex[:12]}", dynamodb_retry_seconds=0.2)
    response = client.get("/ui/board.json")
    assert response.status_code in (500, 503)
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) >= {"error", "message"}


def test_state_text_is_escaped(client: TestClient) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    post_ok(client, [deployment("abc", "dev", evil, at(0))])
    text = client.get("/").text
    assert "<script>alert" not in text and "<img src=x" not in text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    )
    assert board(client).rows[0][1][0][1] == evil
    page = client.get("/ui/components/abc").text
    assert "<script>alert" not in page and "<img src=x" not in page


def test_the_board_is_gzipped_for_clients_that_take_it(client: TestClient) -> None:
    post_ok(client, [deployment(f"c{i:03d}", "dev", "Ok", at(i)) for i in range(40)])
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert 'data-c="c019"' in zipped.text  # decoded by the client
    assert len(plain.content) > 3 * int(zipped.headers["content-length"])


def test_head_and_methods(client: TestClient) -> None:
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405
    assert client.head("/ui/components/abc").status_code == 404


def test_static_files(client: TestClient) -> None:
    text = client.get("/").text
    for name, media_type in [("board.js", "text/javascript"), ("board.css", "text/css")]:
        match = re.search(rf'"(/ui/static/{re.escape(name)}\?v=[0-9a-f]{{12}})"', text)
        assert match, name
        response = client.get(match.group(1))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert "max-age" in response.headers["cache-control"]
    for path in (
        "/ui/static/nope.js",
        "/ui/static/..%2Fboard.py",
        "/ui/static/%2e%2e%2f__init__.py",
        "/ui/static/",
    ):
        assert client.get(path).status_code == 404, path


def test_the_board_says_so_when_the_storage_fails(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(table=f"missing-{uuid.uuid4().hex[:12]}", dynamodb_retry_seconds=0.2)
    response = client.get("/")
    assert response.status_code in (500, 503)
    assert response.headers["content-type"] == HTML
    assert '<div id="banner" class="banner" role="alert">The storage' in response.text
    page = client.get("/ui/components/abc")
    assert page.status_code in (500, 503)
    assert 'role="alert"' in page.text and "Traceback" not in page.text


def test_configured_state_classes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(state_classes="success=deploy-success,v1;failed=oops")
    post_ok(client, RECORDS)
    cells = {(row[0], cell[1]): cell[0] for row in board(client).rows for cell in row[1] if cell[1]}
    assert cells == {
        ("payments-api", "deploy-success"): "k-success",
        ("payments-api", "deploy-failed"): "k-other",
        ("search-api", "deploy-started"): "k-other",
        ("search-api", "v1.2.3"): "k-success",
        ("zeta", "Ok"): "k-other",
    }


def test_invalid_state_classes_stop_the_service_at_start() -> None:
    for text, reason in [
        ("green=ok", "unknown state class 'green'"),
        ("success", "is not CLASS=KEYWORD"),
        ("success=", "has no keywords"),
        ("success=ok;success=fine", "given twice"),
        ("other=x", "unknown state class 'other'"),
        (";", "no rules"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(reason)):
            Settings(state_classes=text)
    assert Settings(state_classes=" ").state_rules == DEFAULT_RULES
    assert Settings().state_rules == DEFAULT_RULES


# The component page


def history(client: TestClient, count: int, component: str = "svc") -> list[dict[str, str]]:
    records = [
        deployment(component, ("dev", "prod", "qa")[i % 3], f"state-{i:03d}", at(i))
        for i in range(count)
    ]
    post_ok(client, records)
    return records


def rows_of(text: str, table: str) -> list[list[str]]:
    body = text.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]
    cells = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)
    return [[re.sub(r"<[^>]+>", "", cell) for cell in cells.findall(row)] for row in rows]


def older_link(text: str) -> str | None:
    match = re.search(r'<a id="older" rel="next" href="([^"]+)"', text)
    return None if match is None else match.group(1).replace("&amp;", "&")


def test_the_component_page(client: TestClient) -> None:
    records = history(client, 120)
    post_ok(client, [deployment("svc-other", "dev", "Ok", at(500))])  # another component
    response = client.get("/ui/components/svc")
    assert response.status_code == 200
    text = response.text
    current = rows_of(text, "current")
    assert [(row[0], row[1], row[7][:23]) for row in current] == [
        ("dev", "state-117", "2024-07-30 15:57:00 UTC"),
        ("prod", "state-118", "2024-07-30 15:58:00 UTC"),
        ("qa", "state-119", "2024-07-30 15:59:00 UTC"),
    ]
    assert all(row[7].endswith(" ago") for row in current)
    # Each time to the second, its instant for the browser's zone, the exact value on hover.
    assert (
        '<time datetime="2024-07-30T15:59:00Z" title="2024-07-30T15:59:00Z" data-t="1722355140000"'
        ' data-z="1">2024-07-30 15:59:00 UTC</time>'
    ) in text
    # The timeline: one marker per record of the last 200 (here all 120, none a deployment
    # from start to outcome), a lane per environment, shapes by class.
    svg = text.split('<svg id="timeline"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('<use class="marker') == 120
    assert '<g class="deployment' not in svg
    assert re.findall(r'class="lane-label"[^>]*>([^<]+)<', svg) == ["dev", "prod", "qa"]
    assert (
        '<title data-parts="[&#34;qa: state-119 at &#34;, &#34;&#34;]" data-times="1722355140000">'
        "qa: state-119 at 2024-07-30 15:59:00 UTC</title>"
    ) in svg
    # History: newest first, 50 a page, following the cursor to the end.
    seen: list[str] = []
    path: str | None = "/ui/components/svc"
    pages = 0
    while path is not None:
        page = client.get(path if path.startswith("/") else "/ui/components/svc" + path)
        assert page.status_code == 200
        rows = rows_of(page.text, "history")
        seen += [row[2] for row in rows]
        path = older_link(page.text)
        pages += 1
        assert ('id="newest"' in page.text) == (pages > 1)
        assert len(rows) == (50 if path else 20)
    assert seen == [r["State"] for r in records][::-1]
    assert pages == 3
    assert "No older records." in page.text


def test_the_component_page_by_environment_and_page_size(client: TestClient) -> None:
    records = history(client, 30)
    text = client.get("/ui/components/svc?environment=qa&limit=4").text
    assert [row[2] for row in rows_of(text, "history")] == [
        r["State"] for r in records if r["Environment"] == "qa"
    ][::-1][:4]
    link = older_link(text)
    assert link is not None and "environment=qa&limit=4&cursor=" in link
    second = client.get("/ui/components/svc" + link).text
    assert [row[2] for row in rows_of(second, "history")] == [
        r["State"] for r in records if r["Environment"] == "qa"
    ][::-1][4:8]
    assert '<a href="?environment=qa" aria-current="true">qa</a>' in text


def test_component_page_errors(client: TestClient) -> None:
    history(client, 60)
    for path, status, words in [
        ("/ui/components/NOPE", 400, "must match"),
        ("/ui/components/nothing-here", 404, "No record of"),
        ("/ui/components/svc?environment=Prod", 400, "environment"),
        ("/ui/components/svc?limit=0", 400, "limit"),
        ("/ui/components/svc?cursor=abc", 400, "cursor"),
    ]:
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == HTML
        assert words in response.text, path
    link = older_link(client.get("/ui/components/svc").text)
    assert link is not None
    cursor = link.split("cursor=")[1]
    # A cursor of another environment's history is not this page's.
    response = client.get(f"/ui/components/svc?environment=qa&cursor={quote(cursor)}")
    assert response.status_code == 400 and "different query" in response.text
    # The API's own cursors are the same: a page's cursor pages the API, newest first.
    api = client.get(f"/historical/svc?order=desc&limit=50&cursor={quote(cursor)}")
    assert api.status_code == 200 and len(api.json()["Records"]) == 10


# The pieces


def test_rules() -> None:
    assert parse_rules(format_rules(DEFAULT_RULES)) == DEFAULT_RULES
    rules = parse_rules(" success = Deployed , OK ; failed=boom ")
    assert rules == (("success", ("deployed", "ok")), ("failed", ("boom",)))
    assert state_class("BOOM-deployed", rules) == "success"  # the first class that matches
    classify = Classifier(rules)
    assert [classify(s) for s in ("ok", "boom", "deploy-failed", "OK")] == [
        "success",
        "failed",
        "other",
        "success",
    ]
    assert Classifier()("rollback-succeeded") == "failed"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s ago"),
        (59.9, "59 s ago"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (3600, "1 h ago"),
        (47 * 3600 + 3599, "47 h ago"),
        (48 * 3600, "2 d ago"),
        (400 * 86400, "400 d ago"),
        (-5, "in 5 s"),
        (-7200, "in 2 h"),
    ],
)
def test_ages(seconds: float, text: str) -> None:
    assert ago(seconds) == text


def test_timeline() -> None:
    renderer = Renderer(None)
    assert build_timeline([], classify=Classifier(), renderer=renderer) is None
    one = build_timeline(
        [Record("a", "dev", "Ok", at(0))], classify=Classifier(), renderer=renderer
    )
    assert one is not None and one.markers[0].x == one.left + (one.width - one.left - one.right) / 2
    records = [
        Record("a", "prod", "deploy-failed", at(120)),
        Record("a", "dev", "v1.2.3", at(60)),
        Record("a", "dev", "Ok", at(0)),
    ]
    timeline = build_timeline(records, classify=Classifier(), renderer=renderer)
    assert timeline is not None
    assert [lane for _, lane in timeline.lanes] == ["dev", "prod"]
    assert timeline.bars == []
    assert [(m.kind, m.x) for m in timeline.markers] == [
        ("success", timeline.left),
        ("other", (timeline.left + timeline.width - timeline.right) / 2),
        ("failed", timeline.width - timeline.right),
    ]
    assert [label for _, label, _ in timeline.ticks] == [
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
    ]
    assert timeline.markers[2].title.text == "prod: deploy-failed at 2024-07-30 16:00:00 UTC"


def test_a_deployment_is_a_bar_from_its_start_to_its_outcome() -> None:
    renderer = Renderer(None)
    records = [  # any order
        Record("a", "dev", "deploy-success", at(3)),
        Record("a", "dev", "deploy-started", at(0)),
        Record("a", "prod", "deploy-started", at(10)),
        Record("a", "prod", "deploy-failed", at(75)),
        Record("a", "dev", "Ok", at(20)),  # a success with no start: a marker
        Record("a", "dev", "deploy-started", at(30)),  # followed by another start: a marker
        Record("a", "dev", "deploy-started", at(40)),
        Record("a", "dev", "v1.2", at(50)),  # not an outcome: both markers
        Record("a", "qa", "deploy-started", at(100)),  # qa's newest: still running
        Record("a", "prod", "deploy-started", at(119.99)),  # a few ms before its outcome
        Record("a", "prod", "deploy-success", at(120)),
    ]
    timeline = build_timeline(records, classify=Classifier(), renderer=renderer)
    assert timeline is not None
    bars = [(b.kind, b.running, b.title.text) for b in timeline.bars]
    assert bars == [
        (
            "success",
            False,
            "dev: deploy-started 2024-07-30 14:00:00 UTC \u2192 deploy-success"
            " 2024-07-30 14:03:00 UTC (3 min)",
        ),
        (
            "failed",
            False,
            "prod: deploy-started 2024-07-30 14:10:00 UTC \u2192 deploy-failed"
            " 2024-07-30 15:15:00 UTC (1 h 5 min)",
        ),
        (
            "success",
            False,
            "prod: deploy-started 2024-07-30 15:59:59 UTC \u2192 deploy-success"
            " 2024-07-30 16:00:00 UTC (0 s)",
        ),
        ("in-progress", True, "qa: deploy-started 2024-07-30 15:40:00 UTC, still running"),
    ]
    short = timeline.bars[2]
    assert short.x2 - short.x1 == BAR_MIN_WIDTH  # still visible
    assert timeline.bars[3].x2 == timeline.width - timeline.right
    assert [(m.kind, m.title.text[:20]) for m in timeline.markers] == [
        ("success", "dev: Ok at 2024-07-3"),
        ("in-progress", "dev: deploy-started "),
        ("in-progress", "dev: deploy-started "),
        ("other", "dev: v1.2 at 2024-07"),
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (187, "3 min 7 s"), (180, "3 min"), (7500, "2 h 5 min"),
     (7200, "2 h"), (3 * 86_400 + 4 * 3600, "3 d 4 h")],
)  # fmt: skip
def test_durations(seconds: int, text: str) -> None:
    assert duration(seconds) == text
