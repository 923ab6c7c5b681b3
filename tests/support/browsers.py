"""What the board's browser tests share: headless Chromium (Debian's ``chromium``, driven by
Playwright, which never downloads a browser here), the service as a real process
(``deploystatus dev`` on free loopback ports) and its pages opened in fresh browser contexts.

The fixtures that use these (``browser``, ``page``) are in tests/board/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from deploystatus.commands.engines import free_port
from tests.support.processes import Cli, Launcher, http_request, wait_ready

CHROMIUM = os.environ.get("DEPLOYSTATUS_CHROMIUM") or shutil.which("chromium") or ""

REFRESH_SECONDS = 1  # the board's refresh interval in these tests
WAIT_MS = 15_000  # the longest any step may take to show (several refreshes)
expect.set_options(timeout=WAIT_MS)


def require_chromium() -> None:
    """Skip the calling test module (call it at import) where no Chromium can be found."""
    if not CHROMIUM or not Path(CHROMIUM).is_file():
        pytest.skip(
            "Chromium is not installed (looked for $DEPLOYSTATUS_CHROMIUM, then chromium on "
            "PATH): `make test` installs it with `apt-get install chromium` when run as root "
            "on Debian; elsewhere install it, or point DEPLOYSTATUS_CHROMIUM at a Chromium "
            "binary",
            allow_module_level=True,
        )


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
        env=launcher.env(DEPLOYSTATUS_BOARD_REFRESH_SECONDS=str(REFRESH_SECONDS), **env),
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
