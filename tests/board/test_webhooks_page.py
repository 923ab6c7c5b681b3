"""The board's webhooks page: every webhook with its state and its latest delivery
attempts, for anyone who may read the board; a target by its host only (the rest of a URL
can be its key); every value escaped."""

from __future__ import annotations

import time

import httpx2
import pytest

from deploystatus.commands.engines import LocalEngine
from deploystatus.tokens import parse_tokens
from tests.support.factories import deployment
from tests.support.live import LiveServer, WriteStats, fresh_table, post_until_ok
from tests.support.tokens import Tokens, bearer

pytestmark = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)


def test_a_reader_sees_each_webhook_its_state_and_its_deliveries(engine: LocalEngine) -> None:
    tokens = Tokens()
    with (
        fresh_table(
            engine.url,
            tokens=parse_tokens(tokens.setting),
            events_poll_seconds=0.05,
            events_hold_seconds=0.2,
        ) as settings,
        LiveServer(settings) as server,
        httpx2.Client(base_url=server.url, trust_env=False, headers=bearer(tokens.admin)) as admin,
    ):
        # Loopback, not allowed here: each attempt is refused and logged, with the reason.
        created = admin.post(
            "/admin/webhooks",
            json={"Url": "http://127.0.0.1:9/services/T0/B0/key", "Environments": ["prod"]},
        ).json()
        with httpx2.Client(
            base_url=server.url, trust_env=False, headers=bearer(tokens.both)
        ) as writer:
            post_until_ok(
                writer,
                [deployment("api", "prod", "deploy-failed", "2024-07-30T14:00:00Z")],
                stats=WriteStats(),
                deadline=time.monotonic() + 30,
            )
            deadline = time.monotonic() + 10
            while not admin.get(f"/admin/webhooks/{created['Id']}/deliveries").json()["Deliveries"]:
                assert time.monotonic() < deadline, "no attempt logged"
                time.sleep(0.1)
        with httpx2.Client(
            base_url=server.url, trust_env=False, headers=bearer(tokens.read)
        ) as reader:
            page = reader.get("/ui/webhooks")
    assert page.status_code == 200
    assert created["Id"] in page.text
    assert "in prod" in page.text
    assert "is loopback: not allowed as a webhook target" in page.text
    assert "http://127.0.0.1:9<" in page.text and "/services/" not in page.text
    assert "Failing" in page.text
    assert created["Secret"] not in page.text
