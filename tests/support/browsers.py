"""What the board's browser tests share: headless Chromium (Debian's ``chromium``, driven by
Playwright, which never downloads a browser here), the service as a real process
(``deploystatus dev`` on free loopback ports) and its pages opened in fresh browser contexts.

The fixtures that use these (``browser``, ``page``) are in tests/board/conftest.py.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from deploystatus.commands.engines import free_port
from tests.support.processes import Cli, Launcher, http_request, wait_ready

CHROMIUM = os.environ.get("DEPLOYSTATUS_CHROMIUM") or shutil.which("chromium") or ""

REFRESH_SECONDS = 1  # the board's refresh interval in these tests
WAIT_MS = 15_000  # the longest any step may take to show (several refreshes)
expect.set_options(timeout=WAIT_MS)


MISSING_CHROMIUM = (
    "Chromium is not installed (looked for $DEPLOYSTATUS_CHROMIUM, then chromium on PATH): "
    "`make test` installs it with `apt-get install chromium` when run as root on Debian; "
    "elsewhere install it, or point DEPLOYSTATUS_CHROMIUM at a Chromium binary"
)


def chromium_missing() -> bool:
    return not CHROMIUM or not Path(CHROMIUM).is_file()


def require_chromium() -> None:
    """Skip the calling test module (call it at import) where no Chromium can be found, except
    in CI (``CI=true``): there its tests fail instead, in the ``browser`` fixture
    (`check_chromium`), and the rest of the run goes on."""
    if chromium_missing() and os.environ.get("CI") != "true":
        pytest.skip(MISSING_CHROMIUM, allow_module_level=True)


def check_chromium() -> None:
    """Where no Chromium can be found, skip the test, or fail it in CI (``CI=true``): browser
    tests that silently never run check nothing."""
    if not chromium_missing():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{MISSING_CHROMIUM} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(MISSING_CHROMIUM)


def now_minus(seconds: float) -> str:
    instant = datetime.now(UTC) - timedelta(seconds=seconds)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Service:
    url: str
    cli: Cli
    # The bearer token its API calls present (one with the write scope), when it needs one.
    token: str | None = None

    def _headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}

    def post(self, records: list[dict[str, str]]) -> None:
        for start in range(0, len(records), 1000):
            body = json.dumps({"Records": records[start : start + 1000]}).encode()
            status, answer = http_request(self.url + "/records", body, self._headers())
            assert (status, answer) == (200, b"Ok"), answer[:500]

    def get(self, path: str) -> Any:
        status, answer = http_request(self.url + path, headers=self._headers())
        assert status == 200, answer[:500]
        return json.loads(answer)


def start_service(
    launcher: Launcher, engine: str = "dynalite", *, token: str | None = None, **env: str
) -> Service:
    """``deploystatus dev`` on free ports; ``env`` are more variables (``DEPLOYSTATUS_TOKENS``),
    ``token`` the one `Service.post` and `Service.get` present."""
    port, db_port = free_port(), free_port()
    cli = launcher.start(
        "dev",
        "--engine", engine,
        "--port", str(port),
        "--db-port", str(db_port),
        "--data-dir", str(launcher.directory / f"data-{port}"),
        env=launcher.env(**{"DEPLOYSTATUS_BOARD_REFRESH_SECONDS": str(REFRESH_SECONDS), **env}),
    )  # fmt: skip
    wait_ready(cli, port)
    return Service(f"http://127.0.0.1:{port}", cli, token)


# Uncaught JavaScript errors of each open page: a test fails on any.
PAGE_ERRORS: dict[Page, list[str]] = {}


def open_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    """A page in a browser context of its own (its own cookies); close it with `close_page`."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    errors = PAGE_ERRORS.setdefault(page, [])
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def close_page(page: Page) -> None:
    page.context.close()
    assert PAGE_ERRORS.pop(page, []) == []


# Content-Security-Policy in practice


def csp_violations(page: Page) -> list[str]:
    """From now on, what the Content-Security-Policy of any document ``page`` loads refuses:
    its ``securitypolicyviolation`` events and the console's reports of them. Call it before
    the page loads what it watches."""
    seen: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(f"console: {message.text}")

    page.on("console", heard)
    page.expose_function("reportViolation", lambda text: seen.append(f"event: {text}"))
    page.add_init_script(
        """document.addEventListener("securitypolicyviolation", (event) =>
          window.reportViolation(`${event.violatedDirective} ${event.blockedURI}`));"""
    )
    return seen


# Markup made live from an element's text, as a page that forgot to escape would: inline
# scripts and handlers in it run unless the policy refuses them. The answer is the directives
# the page's policy reported refusing, once the script and the image's error handler are both
# refused (or after a few seconds).
_MAKE_MARKUP_LIVE = """(element) => new Promise((resolve) => {
  const refused = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    refused.push(event.violatedDirective);
    if (refused.length === 2) resolve(refused);
  });
  element.replaceChildren(document.createRange().createContextualFragment(element.textContent));
  setTimeout(() => resolve(refused), 5000);
})"""


def make_markup_live(element: Locator) -> list[str]:
    """Turn the text of ``element`` into live markup (a ``<script>`` in it is run, an
    ``onerror`` handler too), as an injection that got past escaping would; the directives
    the page's Content-Security-Policy refused, sorted."""
    refused: list[str] = element.evaluate(_MAKE_MARKUP_LIVE)
    return sorted(refused)


# Another origin


class _Pages(ThreadingHTTPServer):
    pages: dict[str, str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that hung up
            super().handle_error(request, client_address)


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.server, _Pages)
        page = self.server.pages.get(self.path.partition("?")[0])
        body = (page if page is not None else "not found").encode()
        self.send_response(200 if page is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests look at what the browser did


class ForeignSite:
    """Pages of an origin other than the service's, as another site would serve them: HTML
    strings (`serve`), answered by a thread on a free port of the loopback address ``host``.
    On 127.0.0.1 it is the service's site on another port (same-site, cross-origin: browsers
    send ``Sec-Fetch-Site: same-site``); on 127.0.0.2, another site (``cross-site``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server = _Pages((host, 0), _PageHandler)
        self._server.pages = {}
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"foreign-site-{host}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    def serve(self, path: str, page: str) -> str:
        """Serve ``page`` at ``path`` from now on; its URL."""
        self._server.pages[path] = page
        return self.url + path

    def __enter__(self) -> ForeignSite:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def auto_post(action: str, **fields: str) -> str:
    """A page that posts a form to ``action`` (another origin's URL) as soon as it loads,
    as a page that wants a visitor's browser to post there does."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return (
        "<!doctype html><title>You won a prize</title>"
        f'<form method="post" action="{html.escape(action)}">{inputs}</form>'
        "<script>document.forms[0].submit();</script>"
    )
