"""``deploystatus webhooks ...`` end to end: the command's entry point (``main``, in this
process, and ``python -m deploystatus`` where a terminal or its absence matters) against the
real app served by uvicorn on a real engine, with authentication on, delivering to an HTTP
receiver on loopback that records what it gets."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from deploystatus.commands.engines import LocalEngine
from deploystatus.commands.main import main
from deploystatus.feed._signing import EVENT_ID_HEADER, verify
from deploystatus.tokens import parse_tokens
from tests.support.live import LiveServer, fresh_table
from tests.support.processes import Launcher, http_request, wait_until
from tests.support.tokens import Tokens

# Each test waits for deliveries: one engine is enough to test the command line.
pytestmark = pytest.mark.parametrize("engine", ["dynalite"], indirect=True)

# The dispatcher learns of new, paused and resumed subscriptions every 2 s (refresh_seconds,
# not a setting): the first delivery to a new webhook can take that long.
DELIVERED_WITHIN = 10.0
REFRESH = 2.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers 500 on /broken, 200 elsewhere."""

    port: int = 0
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.path == path]

    def wait(self, path: str, count: int) -> list[Received]:
        wait_until(lambda: len(self.at(path)) >= count, DELIVERED_WITHIN, f"{count} at {path}")
        return self.at(path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.got.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(500 if self.path == "/broken" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output is the CLI's

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass(frozen=True)
class Service:
    url: str
    tokens: Tokens


@pytest.fixture
def service(engine: LocalEngine) -> Iterator[Service]:
    tokens = Tokens()
    with (
        fresh_table(
            engine.url,
            tokens=parse_tokens(tokens.setting),
            webhook_allow_private="127.0.0.0/8",
            events_poll_seconds=0.05,
            events_hold_seconds=0.2,
        ) as settings,
        LiveServer(settings) as server,
    ):
        yield Service(server.url, tokens)


@pytest.fixture(autouse=True)
def no_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell's own service and token must not stand in for the ones a test passes."""
    monkeypatch.delenv("DEPLOYSTATUS_URL", raising=False)
    monkeypatch.delenv("DEPLOYSTATUS_TOKEN", raising=False)


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``deploystatus ARGS`` through its entry point; its status, stdout and stderr."""
    capsys.readouterr()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        status = main(list(args))
    finally:
        signal.signal(signal.SIGTERM, handler)  # main() takes SIGTERM over for engines
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err)


def admin(service: Service, *args: str) -> tuple[str, ...]:
    return ("webhooks", *args, "--url", service.url, "--token", service.tokens.admin)


def create(
    capsys: pytest.CaptureFixture[str], service: Service, url: str, *options: str
) -> tuple[str, str]:
    """A new webhook's id and secret, read from what ``create`` prints."""
    run = cli(capsys, *admin(service, "create", url, *options))
    assert run.status == 0, run.err
    first, second = run.out.splitlines()
    identifier = re.fullmatch(r"created (wh_[0-9a-f]{16}): .*", first)
    secret = re.fullmatch(r"secret (whsec_[A-Za-z0-9_-]{43})", second)
    assert identifier and secret, run.out
    assert run.err == (
        "deploystatus: the secret is shown only now: keep it where the receiver verifies "
        "deliveries' signatures.\n"
    )
    return identifier[1], secret[1]


def post(service: Service, component: str, environment: str, state: str) -> None:
    # Microseconds: each record of a test is newer than the one before, so each changes the
    # current state (a record that does not is no event).
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    record = {"Component": component, "Environment": environment, "State": state}
    record["Timestamp"] = now
    body = json.dumps({"Records": [record]}).encode()
    headers = {"Authorization": f"Bearer {service.tokens.write}"}
    assert http_request(f"{service.url}/records", data=body, headers=headers) == (200, b"Ok")


# Deliveries


def test_a_json_webhook_gets_signed_events_and_its_deliveries_can_be_read_and_resent(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, secret = create(capsys, service, receiver.url("/hook"))
    post(service, "payments-api", "prod-eu", "deploy-success")

    (delivery,) = receiver.wait("/hook", 1)
    assert verify(secret, delivery.headers, delivery.body)
    assert not verify(secret.replace("whsec_", "whsec_x"), delivery.headers, delivery.body)
    event = delivery.document()
    assert (event["Component"], event["Environment"]) == ("payments-api", "prod-eu")
    assert event["Record"]["State"] == "deploy-success"
    assert delivery.headers[EVENT_ID_HEADER] == event["Id"]

    # What was delivered, newest first: the table, and the API's body.
    wait_until(
        lambda: (
            '"Deliveries": []'
            not in cli(capsys, *admin(service, "deliveries", identifier, "-o", "json")).out
        ),
        5,
        "the delivery logged",
    )
    table = cli(capsys, *admin(service, "deliveries", identifier))
    assert table.status == 0, table.err
    header, row = table.out.splitlines()
    assert header.split() == ["AT", "POSITION", "ATTEMPT", "STATUS", "MS", "ERROR"]
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ  {event['Position']}  1 +200 +\d+ +-", row
    ), row
    (logged,) = cli(capsys, *admin(service, "deliveries", identifier, "-o", "json")).json()[
        "Deliveries"
    ]
    assert logged["EventId"] == event["Id"]
    assert (logged["Attempt"], logged["Status"], logged["Error"]) == (1, 200, None)

    # Sent again on demand: the same event, freshly signed; logged as attempt 0.
    again = cli(capsys, *admin(service, "redeliver", identifier, event["Position"]))
    assert again.status == 0, again.err
    assert re.fullmatch(
        rf"redelivered payments-api prod-eu 'deploy-success' to {identifier}: 200 in \d+ ms\n",
        again.out,
    ), again.out
    first, second = receiver.at("/hook")
    assert second.body == first.body
    assert verify(secret, second.headers, second.body)
    newest = cli(capsys, *admin(service, "deliveries", identifier, "--limit", "1")).out
    assert newest.splitlines()[1].split()[1:4] == [event["Position"], "0", "200"]

    # The secret was shown once; nothing else prints it.
    shown = cli(capsys, *admin(service, "show", identifier)).out
    listed = cli(capsys, *admin(service, "list", "-o", "json")).out
    assert secret not in shown + listed
    assert shown.splitlines()[-1] == f"Delivered:   {event['Position']}"


def test_a_slack_webhook_for_failures_in_prod_gets_only_those_as_messages(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    create(
        capsys, service, receiver.url("/slack"),
        "--format", "slack", "--environment", "prod", "--class", "failed",
    )  # fmt: skip
    # In the log's order, which deliveries keep: the two the filter refuses come first.
    post(service, "payments-api", "dev", "deploy-failed")
    post(service, "payments-api", "prod", "deploy-success")
    post(service, "payments-api", "prod", "deploy-failed")

    (message,) = receiver.wait("/slack", 1)
    text = message.document()["text"]
    assert "*payments-api* in *prod*" in text
    assert "deploy-success (success) → deploy-failed (failed)" in text
    time.sleep(0.5)  # nothing else comes
    assert len(receiver.at("/slack")) == 1


def test_a_paused_webhook_gets_nothing_until_resumed_then_what_it_missed(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, _ = create(capsys, service, receiver.url("/hook"))
    post(service, "api", "prod", "deploy-started")
    receiver.wait("/hook", 1)

    paused = cli(capsys, *admin(service, "pause", identifier))
    assert (paused.status, paused.err) == (0, "")
    assert paused.out == f"paused {identifier}: nothing is delivered until it is resumed\n"
    time.sleep(REFRESH + 0.5)  # until the dispatcher has seen the pause
    post(service, "api", "prod", "deploy-success")
    time.sleep(1.0)
    assert len(receiver.at("/hook")) == 1

    resumed = cli(capsys, *admin(service, "resume", identifier))
    assert resumed.status == 0, resumed.err
    assert resumed.out.startswith(f"resumed {identifier}: deliveries go on after ")
    _, second = receiver.wait("/hook", 2)
    assert second.document()["Record"]["State"] == "deploy-success"


def test_a_failing_webhook_says_since_when_and_why_and_a_failed_redelivery_exits_1(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, _ = create(capsys, service, receiver.url("/broken"))
    post(service, "api", "prod", "deploy-failed")
    attempt = receiver.wait("/broken", 1)[0]  # and again, with backoff

    def failing() -> bool:
        view = cli(capsys, *admin(service, "show", identifier, "-o", "json")).json()
        return view["Failing"] is not None

    wait_until(failing, 5, "the failure recorded")
    listed = cli(capsys, *admin(service, "list")).out.splitlines()[1]
    assert re.search(
        r"  failing since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, attempts [1-9]\d*$", listed
    ), listed
    shown = cli(capsys, *admin(service, "show", identifier)).out
    assert re.search(r"^State: +failing since .*, attempts \d+$", shown, re.M), shown
    assert re.search(r"^NextAttempt: +\d{4}-", shown, re.M), shown
    assert "\nError:       HTTP 500\n" in shown

    position = attempt.document()["Position"]
    again = cli(capsys, *admin(service, "redeliver", identifier, position))
    assert (again.status, again.out) == (1, "")
    assert re.fullmatch(
        rf"deploystatus: redelivery of api prod 'deploy-failed' to {identifier} failed: "
        r"500 in \d+ ms: .*\n",
        again.err,
    ), again.err


# A pause or a deletion marks (or removes) the subscription's cursor, which its deliverer
# reads every round: it stops at once, but for a window already in flight.


def test_nothing_is_delivered_once_pause_has_answered(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, _ = create(capsys, service, receiver.url("/hook"))
    post(service, "api", "prod", "deploy-started")
    receiver.wait("/hook", 1)
    assert cli(capsys, *admin(service, "pause", identifier)).status == 0
    post(service, "api", "prod", "deploy-success")
    time.sleep(1.0)
    assert len(receiver.at("/hook")) == 1


def test_nothing_is_delivered_once_delete_has_answered(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, _ = create(capsys, service, receiver.url("/hook"))
    post(service, "api", "prod", "deploy-started")
    post(service, "api", "prod", "deploy-success")
    receiver.wait("/hook", 2)
    assert cli(capsys, *admin(service, "delete", identifier, "--yes")).status == 0
    time.sleep(REFRESH + 1.0)
    assert len(receiver.at("/hook")) == 2


# Administration


def test_list_show_pause_resume_and_delete_print_what_they_did(
    capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    assert cli(capsys, *admin(service, "list")) == Run(
        0, "", "deploystatus: no webhook yet (webhooks create makes one)\n"
    )
    long_url = receiver.url("/services/T0000000/B0000000/" + "x" * 24)
    first, _ = create(capsys, service, receiver.url("/all"))
    second, _ = create(
        capsys, service, long_url,
        "-f", "slack", "-c", "payments", "-e", "prod", "-e", "prod-eu",
        "--class", "failed", "--class", "success",
    )  # fmt: skip
    cli(capsys, *admin(service, "pause", second))

    listed = cli(capsys, *admin(service, "list"))
    assert listed.status == 0, listed.err
    short = long_url[:39] + "…"  # 40 columns: the host and the path's start, never its key
    rows = [line.split("  ") for line in listed.out.splitlines()]
    assert [[cell.strip() for cell in row if cell.strip()] for row in rows] == [
        ["ID", "FORMAT", "URL", "FILTER", "STATE"],
        [first, "json", receiver.url("/all"), "every event", "active"],
        [
            second, "slack", short,
            "component=payments* env=prod,prod-eu class=failed,success",
            "paused by an administrator",
        ],
    ]  # fmt: skip
    views = cli(capsys, *admin(service, "list", "-o", "json")).json()["Webhooks"]
    assert [view["Id"] for view in views] == [first, second]
    assert views[1]["Url"] == long_url  # whole, for scripts

    shown = cli(capsys, *admin(service, "show", second))
    assert shown.status == 0, shown.err
    created = views[1]["Created"][:19] + "Z"
    assert shown.out == (
        f"Id:          {second}\n"
        f"Url:         {long_url}\n"
        "Format:      slack\n"
        "Filter:      component=payments* env=prod,prod-eu class=failed,success\n"
        f"Created:     {created}\n"
        "State:       paused by an administrator\n"
        "Delivered:   nothing yet\n"
    )
    view = cli(capsys, *admin(service, "show", second, "-o", "json")).json()
    assert view == {**views[1], "Paused": True, "Reason": "paused by an administrator"}

    resumed = cli(capsys, *admin(service, "resume", second, "-o", "json"))
    assert (resumed.json()["Paused"], resumed.json()["Reason"]) == (False, None)
    assert cli(capsys, *admin(service, "resume", second)).out == (
        f"resumed {second}: deliveries go on after its creation\n"
    )

    deleted = cli(capsys, *admin(service, "delete", second, "--yes"))
    assert deleted == Run(0, f"deleted {second}\n", "")
    assert [v["Id"] for v in cli(capsys, *admin(service, "list", "-o", "json")).json()[
        "Webhooks"
    ]] == [first]  # fmt: skip


def test_an_unknown_webhook_is_named_and_nothing_changes(
    capsys: pytest.CaptureFixture[str], service: Service
) -> None:
    for command in ("show", "pause", "resume", "deliveries"):
        run = cli(capsys, *admin(service, command, "wh_0000000000000000"))
        assert run == Run(
            1, "", "deploystatus: no webhook 'wh_0000000000000000' (list shows them)\n"
        )
    run = cli(capsys, *admin(service, "delete", "wh_0000000000000000", "--yes"))
    assert run == Run(
        1,
        "",
        "deploystatus: no webhook 'wh_0000000000000000': nothing was deleted "
        "(already deleted, or never created)\n",
    )


def test_delete_asks_first_and_off_a_terminal_needs_yes(
    launcher: Launcher, capsys: pytest.CaptureFixture[str], service: Service, receiver: Receiver
) -> None:
    identifier, _ = create(capsys, service, receiver.url("/hook"))
    args = admin(service, "delete", identifier)

    refused = launcher.run(*args)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "deploystatus: webhooks delete removes a webhook; pass --yes to confirm\n"
    )
    question = f"Delete webhook {identifier} at {service.url}? Nothing more is delivered to it."
    assert launcher.on_a_terminal(*args, answer="no") == (
        1,
        f"{question} Type 'yes': deploystatus: nothing changed\n",
    )
    assert len(cli(capsys, *admin(service, "list", "-o", "json")).json()["Webhooks"]) == 1

    assert launcher.on_a_terminal(*args, answer="yes") == (
        0,
        f"{question} Type 'yes': deleted {identifier}\n",
    )
    assert cli(capsys, *admin(service, "list", "-o", "json")).json() == {"Webhooks": []}


def test_without_an_admin_token_every_command_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], service: Service, engine: LocalEngine
) -> None:
    commands = [
        ("create", "https://example.com/hook"), ("list",), ("show", "wh_0000000000000000"),
        ("pause", "wh_0000000000000000"), ("resume", "wh_0000000000000000"),
        ("delete", "wh_0000000000000000", "--yes"), ("deliveries", "wh_0000000000000000"),
        ("redeliver", "wh_0000000000000000", "1722348401123456789-" + "0" * 32),
    ]  # fmt: skip
    lacks = "deploystatus: 403: the bearer token lacks the 'admin' scope this request needs\n"
    missing = (
        "deploystatus: 401: the service needs a token: pass --token or set DEPLOYSTATUS_TOKEN "
        "(deploystatus token create makes one)\n"
    )
    for command in commands:
        for token in (service.tokens.read, service.tokens.write):
            with_it = cli(capsys, "webhooks", *command, "--url", service.url, "--token", token)
            assert with_it == Run(1, "", lacks), command
        assert cli(capsys, "webhooks", *command, "--url", service.url) == Run(1, "", missing)

    # With authentication off, no token can be admin: the service says how to turn it on.
    with (
        fresh_table(engine.url, webhook_allow_private="127.0.0.0/8") as settings,
        LiveServer(settings) as open_service,
    ):
        run = cli(capsys, "webhooks", "list", "--url", open_service.url)
    assert run.status == 1
    assert run.err.startswith(
        "deploystatus: 403: webhooks need an admin token, and authentication is off"
    )


def test_create_refuses_what_the_service_refuses_with_its_message(
    capsys: pytest.CaptureFixture[str], service: Service
) -> None:
    run = cli(capsys, *admin(service, "create", "ftp://example.com/hook"))
    assert (run.status, run.out) == (1, "")
    assert run.err.startswith("deploystatus: 400: Url: "), run.err
    run = cli(capsys, *admin(service, "create", "https://example.com/", "-e", "Prod"))
    assert run == Run(1, "", "deploystatus: 400: Environments: a list of at most 50 names\n")
    assert cli(capsys, *admin(service, "list", "-o", "json")).json() == {"Webhooks": []}


def test_a_component_prefix_may_end_where_a_name_may_not(
    capsys: pytest.CaptureFixture[str], service: Service
) -> None:
    run = cli(capsys, *admin(service, "create", "https://example.com/hook", "-c", "payments-"))
    assert run.status == 0, run.err
    view = cli(capsys, *admin(service, "list", "-o", "json")).json()["Webhooks"][0]
    assert view["Component"] == "payments-"
