"""The board's defences against other sites, shown in a real browser: headless Chromium
(tests/support/browsers.py) against ``deploystatus dev`` with authentication on, and the
other site's pages served by a page server of the test's own on another loopback origin.

The other site is tried twice: on 127.0.0.1, another port (the same site as the service
but another origin: Chromium says ``Sec-Fetch-Site: same-site``, and the ``SameSite=Strict``
cookie goes along), and on 127.0.0.2 (another site: ``cross-site``, the cookie stays home).
The board accepts sign-in and sign-out posts from its own origin only, so both are refused.
Each test also shows the same thing succeed where it should (from the board's own pages, at
the top level, from an answer that does not forbid it), so that a refusal cannot pass for a
browser that does nothing.

- Login CSRF: another site's page posts its own valid token to the sign-in form.
- Logout CSRF: another site's page posts to sign-out while the victim is signed in.
- Clickjacking: another site's page frames the board and the sign-in page.
- The policy in practice: the board's own pages raise no violation of their policy as they
  are used (test_browser.py shows the policy refusing markup that got past escaping).

Not here: the cookie's ``Secure`` flag behind a trusted TLS proxy. Showing it in a browser
needs TLS between the browser and a proxy that sets ``X-Forwarded-Proto``, and Chromium
treats plain-http loopback as a secure context (it sends ``Secure`` cookies to
http://127.0.0.1), so a browser here cannot show the cookie withheld from plain http. The
HTTP-level tests in test_board_sign_in.py cover the flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Frame, Page, Response, Route, expect

from deploystatus.tokens import READ, WRITE, ApiToken, hash_token, new_token
from deploystatus.web.auth import SESSION_COOKIE, SIGN_IN_PATH
from tests.support.browsers import (
    ForeignSite,
    Service,
    auto_post,
    csp_violations,
    make_markup_live,
    now_minus,
    require_chromium,
    start_service,
)
from tests.support.factories import deployment
from tests.support.processes import Launcher, clean_environment

require_chromium()

VICTIM = new_token()  # the person's read token
ATTACKER = new_token()  # a valid read token of the attacker's own
WRITER = new_token()  # the test's, to post records
TOKENS = ";".join(
    ApiToken(name, hash_token(token), frozenset(scopes)).entry()
    for name, token, scopes in (
        ("victim", VICTIM, {READ}),
        ("attacker", ATTACKER, {READ}),
        ("writer", WRITER, {WRITE}),
    )
)
COMPONENT = "checkout-api"
PROBE = "xss-probe"
# A state that would run as markup, twice: an inline script and an inline handler.
EVIL = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service with authentication on and a few records, one of them a hostile state."""
    launcher = Launcher(tmp_path_factory.mktemp("board-guarded"), clean_environment())
    try:
        service = start_service(launcher, token=WRITER, DEPLOYSTATUS_TOKENS=TOKENS)
        service.post(
            [
                deployment(COMPONENT, environment, state, now_minus(seconds))
                for environment, state, seconds in (
                    ("dev", "deploy-success", 900),
                    ("prod-eu", "deploy-started", 600),
                    ("prod-eu", "deploy-failed", 300),
                    ("prod-us", "deploy-success", 120),
                )
            ]
            + [deployment(PROBE, "dev", EVIL, now_minus(60))]
        )
        yield service
    finally:
        launcher.close()


# The other site, and what Chromium tells the service about where a request comes from.
SITES = {"127.0.0.1": "same-site", "127.0.0.2": "cross-site"}


@pytest.fixture(scope="module", params=list(SITES), ids=list(SITES.values()))
def site(request: pytest.FixtureRequest) -> Iterator[ForeignSite]:
    with ForeignSite(request.param) as foreign:
        yield foreign


def session_cookie(page: Page, service: Service) -> str | None:
    """The board's cookie as the browser holds it for the service, if it holds one."""
    cookies = page.context.cookies(service.url)
    return next((c.get("value") for c in cookies if c.get("name") == SESSION_COOKIE), None)


def posted(service: Service, path: str) -> Callable[[Response], bool]:
    """A predicate for `Page.expect_response`: the answer to a post to ``path``."""
    url = service.url + path

    def matches(response: Response) -> bool:
        return response.url == url and response.request.method == "POST"

    return matches


def fetch_site(response: Response) -> str | None:
    """The ``Sec-Fetch-Site`` the browser sent with the request of ``response``."""
    return response.request.all_headers().get("sec-fetch-site")


def arrive(page: Page, service: Service) -> None:
    """Until the other site's post has taken the page to the service and that page loaded."""
    page.wait_for_url(re.compile("^" + re.escape(service.url + "/")))
    page.wait_for_load_state()


def expect_board(page: Page, service: Service) -> None:
    expect(page).to_have_url(service.url + "/")
    expect(page.get_by_role("heading", name="Deployment status")).to_be_visible()
    expect(page.locator(f'#matrix tr[data-c="{COMPONENT}"]')).to_be_visible()


def expect_sign_in_page(page: Page, service: Service) -> None:
    expect(page).to_have_url(re.compile(re.escape(service.url + SIGN_IN_PATH) + r"(\?.*)?$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#matrix")).to_have_count(0)


def sign_in(page: Page, service: Service, token: str) -> None:
    """Sign in as a person does: on the board's own sign-in page."""
    page.goto(service.url + SIGN_IN_PATH)
    page.get_by_label("A token with the read scope").fill(token)
    with page.expect_response(posted(service, SIGN_IN_PATH)) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 303
    assert fetch_site(answer.value) == "same-origin"
    expect_board(page, service)
    assert session_cookie(page, service)


# Login CSRF


def test_another_site_cannot_sign_a_browser_in(
    guarded: Service, site: ForeignSite, page: Page
) -> None:
    attack = site.serve("/login", auto_post(guarded.url + SIGN_IN_PATH, token=ATTACKER, next="/"))
    with page.expect_response(posted(guarded, SIGN_IN_PATH)) as answer:
        page.goto(attack)
    arrive(page, guarded)
    # The browser is not signed in with the attacker's token: no cookie, no board.
    assert session_cookie(page, guarded) is None
    expect(page.get_by_role("alert")).to_contain_text("came from another site")
    page.goto(guarded.url + "/")
    expect_sign_in_page(page, guarded)
    assert session_cookie(page, guarded) is None
    # The service refused the post, as the browser said where it came from.
    assert answer.value.status == 403
    assert fetch_site(answer.value) == SITES[site.host]

    # The control: the same token on the board's own sign-in page signs in.
    sign_in(page, guarded, ATTACKER)


# Logout CSRF


def test_another_site_cannot_sign_a_browser_out(
    guarded: Service, site: ForeignSite, page: Page
) -> None:
    sign_in(page, guarded, VICTIM)
    cookie = session_cookie(page, guarded)
    attack = site.serve("/logout", auto_post(guarded.url + "/ui/sign-out"))
    with page.expect_response(posted(guarded, "/ui/sign-out")) as answer:
        page.goto(attack)
    arrive(page, guarded)
    # The victim is still signed in: the same cookie, and the board opens.
    assert session_cookie(page, guarded) == cookie
    expect(page.get_by_role("alert")).to_contain_text("came from another site")
    page.goto(guarded.url + "/")
    expect_board(page, guarded)
    assert answer.value.status == 403
    assert fetch_site(answer.value) == SITES[site.host]

    # The control: the board's own sign-out button signs out.
    with page.expect_response(posted(guarded, "/ui/sign-out")) as answer:
        page.get_by_role("button", name="Sign out").click()
    assert (answer.value.status, fetch_site(answer.value)) == (303, "same-origin")
    expect_sign_in_page(page, guarded)
    assert session_cookie(page, guarded) is None
    page.goto(guarded.url + "/")
    expect_sign_in_page(page, guarded)


# Clickjacking


def frame(page: Page, name: str) -> Frame:
    found = page.frame(name=name)
    assert found is not None, name
    return found


def framed(page: Page, site: ForeignSite, service: Service) -> None:
    """Open another site's page that frames the board and the sign-in page; assert that
    neither loaded in its frame, while an answer of the service that does not forbid
    framing (``/healthz``) does."""
    page.goto(  # "load": once every frame has loaded, or failed to
        site.serve(
            "/frames",
            "<!doctype html><title>Click to win</title>"
            f'<iframe name="board" src="{service.url}/" width="800" height="400"></iframe>'
            f'<iframe name="sign-in" src="{service.url}{SIGN_IN_PATH}"></iframe>'
            f'<iframe name="health" src="{service.url}/healthz"></iframe>',
        )
    )
    expect(frame(page, "health").locator("body")).to_contain_text("ok")
    for name, heading in (("board", "Deployment status"), ("sign-in", "Sign in")):
        shown = frame(page, name)
        # Nothing of the service's page in the frame, which holds another document.
        assert shown.locator("a.brand, #matrix, input[name=token]").count() == 0, name
        assert heading not in shown.evaluate("document.body.innerText"), name
        assert not shown.url.startswith(service.url), (name, shown.url)


def without_policy(route: Route) -> None:
    """The service's answer without its Content-Security-Policy, as a browser that knows
    no frame-ancestors reads it."""
    answer = route.fetch()
    dropped = {"content-security-policy", "content-encoding", "content-length"}
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in dropped}
    route.fulfill(response=answer, headers=headers)


def test_another_site_cannot_frame_the_board(
    guarded: Service, site: ForeignSite, page: Page
) -> None:
    sign_in(page, guarded, VICTIM)
    violations = csp_violations(page)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    framed(page, site, guarded)
    # Chromium says why, for each: the pages' frame-ancestors directive.
    assert len([v for v in violations if "frame-ancestors 'none'" in v]) >= 2, violations

    # Where frame-ancestors is not known, X-Frame-Options keeps them out on its own.
    pages = (guarded.url + "/", guarded.url + SIGN_IN_PATH)
    page.route(lambda url: url in pages, without_policy)
    console.clear()
    framed(page, site, guarded)
    assert len([text for text in console if "'X-Frame-Options' to 'deny'" in text]) >= 2, console
    page.unroute_all()

    # The same board at the top level opens as always.
    page.goto(guarded.url + "/")
    expect_board(page, guarded)


# The policy in practice


def test_the_pages_raise_no_policy_violation_of_their_own(guarded: Service, page: Page) -> None:
    violations = csp_violations(page)
    sign_in(page, guarded, VICTIM)  # the sign-in page, then the board
    # Filtering asks for a new view, and the refresh fetches data: no policy violation.
    page.get_by_label("Filter components").fill("checkout")
    page.get_by_role("checkbox", name="dev", exact=True).uncheck()
    expect(page.locator('#matrix th[data-env="dev"]')).to_be_hidden()
    fetched = page.locator("#fetched").get_attribute("datetime")
    expect(page.locator("#fetched")).not_to_have_attribute("datetime", fetched or "")  # refreshed
    page.get_by_role("link", name=COMPONENT, exact=True).click()
    expect(page.get_by_role("heading", name=COMPONENT, exact=True)).to_be_visible()
    expect(page.locator("#timeline g.deployment")).to_have_count(1)  # prod-eu
    expect(page.locator("#timeline > use.marker")).to_have_count(2)
    page.goto(guarded.url + "/ui/components/no-such-component")  # one of no record
    expect(page.get_by_text("No record of no-such-component has been stored.")).to_be_visible()
    page.goto(guarded.url + "/ui/components/NOT-VALID")  # the error page
    expect(page.get_by_role("heading", name="Component NOT-VALID")).to_be_visible()
    page.goto(guarded.url + SIGN_IN_PATH)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert violations == []

    # The watch hears violations when there are some, as events and on the console.
    page.goto(f"{guarded.url}/ui/components/{PROBE}")
    assert make_markup_live(page.locator("#current .state b").first)
    assert any(v.startswith("event: script-src-elem") for v in violations), violations
    assert any(v.startswith("console: ") for v in violations), violations
    assert page.evaluate("window.pwned") is None
