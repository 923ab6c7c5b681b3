"""``deploystatus webhooks ...``: the service's webhook subscriptions, over its admin API
(``/admin/webhooks``, an ``admin`` token), like any other client.

The secret that signs a subscription's deliveries is in the answer that creates it and
nowhere else: ``create`` prints it once, no other command can.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from ._client import (
    DEFAULT_URL,
    ClientError,
    Response,
    Service,
    error_code,
    error_text,
    send_with_retries,
)
from ._help import examples
from ._output import console, shortened, visible
from ._target import confirm
from .remote import PANEL, TokenOption, UrlOption

Output = Literal["table", "json"]
Format = Literal["json", "slack"]


class EventClass(StrEnum):
    """What a webhook may be limited to: the ``Class`` of the new state (docs/api.md)."""

    FAILED = "failed"
    IN_PROGRESS = "in-progress"
    SUCCESS = "success"
    OTHER = "other"


OutputOption = Annotated[
    Output,
    typer.Option("--output", "-o", help="table: for people; json: the API's body, for scripts."),
]
IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The webhook's id (wh_...), as list shows it.")
]
_URL_CELLS = 40  # a target in list's table: enough for the host, never a Slack URL's key
_ERROR_CELLS = 60


def _path(identifier: str, action: str = "") -> str:
    return "/admin/webhooks/" + urllib.parse.quote(identifier, safe="") + action


def _failure(response: Response, identifier: str | None = None) -> ClientError:
    if identifier is not None and error_code(response) == "webhook_not_found":
        return ClientError(f"no webhook {identifier!r} (list shows them)")
    return ClientError(f"{response.status}: {error_text(response)}")


def _send(
    service: Service,
    method: str,
    path: str,
    document: object = None,
    *,
    expect: int = 200,
    attempts: int,
    identifier: str | None = None,
    options: dict[str, str | None] | None = None,
) -> bytes:
    """The body of the ``expect`` answer, or the command ends with the service's message
    (``identifier``: the webhook a 404 is about)."""
    body = None if document is None else json.dumps(document).encode()
    response = send_with_retries(service, method, path, body, attempts=attempts, options=options)
    if response.status != expect:
        raise _failure(response, identifier)
    return response.body


def _instant(text: str | None) -> str:
    """An instant to the second: the service writes nine fractional digits."""
    return "-" if text is None else text[:19] + "Z"


def _filter(view: dict[str, Any]) -> str:
    parts = []
    if view["Component"]:
        parts.append(f"component={view['Component']}*")
    if view["Environments"]:
        parts.append("env=" + ",".join(view["Environments"]))
    if view["Classes"]:
        parts.append("class=" + ",".join(view["Classes"]))
    return " ".join(parts) or "every event"


def _state(view: dict[str, Any]) -> str:
    if view["Paused"]:
        reason = view["Reason"]
        if not reason:
            return "paused"
        # The service's reasons say "paused by ..." already.
        return reason if reason.startswith("paused") else f"paused: {reason}"
    failing = view["Failing"]
    if failing is not None:
        return f"failing since {_instant(failing['Since'])}, attempts {failing['Attempts']}"
    return "active"


def _style(view: dict[str, Any]) -> str:
    return "yellow" if view["Paused"] else "bold red" if view["Failing"] else "green"


def _print_table(titles: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns under a header, as the record tables are (commands/_output.py).
    Cells are rich markup: escape what the service gave."""
    table = Table(
        box=None, show_edge=False, pad_edge=False, header_style="bold", padding=(0, 2, 0, 0)
    )
    for title in titles:
        table.add_column(title, no_wrap=title not in ("STATE", "ERROR"), overflow="fold")
    for row in rows:
        table.add_row(*row)
    out = console()
    with out.capture() as captured:
        out.print(table)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


def _print_view(view: dict[str, Any]) -> None:
    """One webhook, a field a line, named as in ``-o json``."""
    lines = [
        ("Id", view["Id"]),
        ("Url", view["Url"]),
        ("Format", view["Format"]),
        ("Filter", _filter(view)),
        ("Created", _instant(view["Created"])),
        ("State", _state(view)),
        ("Delivered", view["Delivered"] or "nothing yet"),
    ]
    failing = view["Failing"]
    if failing is not None:
        lines.append(("NextAttempt", _instant(failing["NextAttempt"])))
        lines.append(("Error", failing["Error"] or "-"))
    for name, value in lines:
        print(f"{name + ':':<13}{visible(str(value))}")


# Commands


def create(
    url_: Annotated[
        str,
        typer.Argument(metavar="URL", help="Where deliveries go: an http or https URL."),
    ],
    format_: Annotated[
        Format,
        typer.Option(
            "--format", "-f", help="json: the service's event document; slack: a Slack message."
        ),
    ] = "json",
    component: Annotated[
        str | None,
        typer.Option(
            "--component",
            "-c",
            metavar="PREFIX",
            show_default=False,
            help="Only components starting with PREFIX.",
        ),
    ] = None,
    environment: Annotated[
        list[str] | None,
        typer.Option(
            "--environment",
            "-e",
            metavar="ENV",
            show_default=False,
            help="Only this environment; repeat for several.",
        ),
    ] = None,
    class_: Annotated[
        list[EventClass] | None,
        typer.Option(
            "--class",
            metavar="CLASS",
            show_default=False,
            help="Only changes to a state of this class: failed, in-progress, success or "
            "other; repeat for several.",
        ),
    ] = None,
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Subscribe URL to the service's events; prints the webhook's id and secret.

    Each change of a deployable's state that the filters let through (all of them, when
    none is given) is POSTed to URL, signed with the secret. The secret is shown only now:
    keep it where the receiver verifies signatures. Not retried: a second attempt could
    make a second webhook.
    """
    document: dict[str, object] = {"Url": url_, "Format": format_}
    if component:
        document["Component"] = component
    if environment:
        document["Environments"] = environment
    if class_:
        document["Classes"] = [chosen.value for chosen in class_]
    body = _send(Service(url, token), "POST", "/admin/webhooks", document, expect=201, attempts=1)
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
        return
    view: dict[str, Any] = json.loads(body)
    print(f"created {view['Id']}: {view['Format']}, {_filter(view)}, to {visible(view['Url'])}")
    print(f"secret {view['Secret']}")
    print(
        "deploystatus: the secret is shown only now: keep it where the receiver verifies "
        "deliveries' signatures.",
        file=sys.stderr,
    )


def list_webhooks(
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Every webhook: its format, target, filter and state.

    The state is active, paused (and why), or failing since when, with the attempts so far.
    """
    body = _send(Service(url, token), "GET", "/admin/webhooks", attempts=3)
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
        return
    views: list[dict[str, Any]] = json.loads(body)["Webhooks"]
    if not views:
        print("deploystatus: no webhook yet (webhooks create makes one)", file=sys.stderr)
        return
    rows = [
        [
            escape(view["Id"]),
            escape(view["Format"]),
            escape(shortened(view["Url"], _URL_CELLS)),
            escape(visible(_filter(view))),
            f"[{_style(view)}]{escape(visible(_state(view)))}[/]",
        ]
        for view in views
    ]
    _print_table(["ID", "FORMAT", "URL", "FILTER", "STATE"], rows)


def show(
    identifier: IdArgument,
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """One webhook in full: target, filter, state, the last event delivered.

    While its deliveries fail, also when the next attempt is and the last error.
    """
    body = _send(Service(url, token), "GET", _path(identifier), attempts=3, identifier=identifier)
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
    else:
        _print_view(json.loads(body))


def _set_paused(action: str, identifier: str, output: Output, url: str, token: str | None) -> None:
    # Safe to resend: pausing a paused webhook changes nothing.
    body = _send(
        Service(url, token), "POST", _path(identifier, f"/{action}"), attempts=3,
        identifier=identifier,
    )  # fmt: skip
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
        return
    view: dict[str, Any] = json.loads(body)
    if view["Paused"]:
        print(f"paused {view['Id']}: nothing is delivered until it is resumed")
    else:
        where = view["Delivered"] or "its creation"
        print(f"resumed {view['Id']}: deliveries go on after {where}")


def pause(
    identifier: IdArgument,
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Stop delivering to a webhook until it is resumed.

    Events that happen meanwhile are not lost: resume delivers them.
    """
    _set_paused("pause", identifier, output, url, token)


def resume(
    identifier: IdArgument,
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Deliver to a paused webhook again, from the first event it has not received.

    Also for a webhook the service paused after its deliveries failed for too long.
    """
    _set_paused("resume", identifier, output, url, token)


def delete(
    identifier: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a webhook: nothing more is delivered to it, and its secret is gone.

    Asks first on a terminal; elsewhere it needs --yes.
    """
    confirm(
        f"Delete webhook {identifier} at {url}? Nothing more is delivered to it.",
        yes=yes,
        refusal="webhooks delete removes a webhook; pass --yes to confirm",
    )
    response = send_with_retries(Service(url, token), "DELETE", _path(identifier), None, attempts=3)
    if response.status == 404 and error_code(response) == "webhook_not_found":
        # Also what a retry after a deletion that went through answers.
        raise ClientError(
            f"no webhook {identifier!r}: nothing was deleted (already deleted, or never created)"
        )
    if response.status != 204:
        raise _failure(response)
    print(f"deleted {identifier}")


def deliveries(
    identifier: IdArgument,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="Attempts to show."),
    ] = 20,
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A webhook's latest delivery attempts, newest first.

    Each: when, the event's position (for redeliver), the attempt's number (0: a
    redelivery), the receiver's HTTP status, the latency and the error.
    """
    body = _send(
        Service(url, token), "GET", _path(identifier, "/deliveries"), attempts=3,
        identifier=identifier, options={"limit": str(limit)},
    )  # fmt: skip
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
        return
    attempts: list[dict[str, Any]] = json.loads(body)["Deliveries"]
    if not attempts:
        print(f"deploystatus: nothing delivered to {identifier} yet", file=sys.stderr)
        return
    rows = [
        [
            _instant(attempt["At"]),
            escape(attempt["Position"]),
            str(attempt["Attempt"]),
            "-" if attempt["Status"] is None else str(attempt["Status"]),
            f"{attempt['LatencyMs']:.0f}",
            escape(shortened(attempt["Error"] or "-", _ERROR_CELLS)),
        ]
        for attempt in attempts
    ]
    _print_table(["AT", "POSITION", "ATTEMPT", "STATUS", "MS", "ERROR"], rows)


def redeliver(
    identifier: IdArgument,
    position: Annotated[
        str,
        typer.Argument(metavar="POSITION", help="The event's position, as deliveries shows it."),
    ],
    output: OutputOption = "table",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Send one event to a webhook again, now, whatever it received before.

    The attempt is logged as attempt 0. Exits 1 when the receiver did not take it (no
    answer, or not a 2xx). Not retried: each attempt is a delivery.
    """
    body = _send(
        Service(url, token), "POST", _path(identifier, "/redeliver"), {"Position": position},
        attempts=1, identifier=identifier,
    )  # fmt: skip
    outcome: dict[str, Any] = json.loads(body)
    status = outcome["Status"]
    event = outcome["Event"]
    what = f"{event['Component']} {event['Environment']} {event['Record']['State']!r}"
    took = f"{status if status is not None else 'no answer'} in {outcome['LatencyMs']:.0f} ms"
    if output == "json":
        sys.stdout.write(body.decode() + "\n")
    elif status is not None and 200 <= status < 300:
        print(f"redelivered {what} to {identifier}: {took}")
    if status is None or not 200 <= status < 300:
        error = f": {outcome['Error']}" if outcome["Error"] else ""
        raise ClientError(f"redelivery of {what} to {identifier} failed: {took}{error}")


_CREATE_EXAMPLES = (
    "deploystatus webhooks create https://hooks.slack.com/services/... --format slack "
    "--environment prod --class failed\n\n"
    "deploystatus webhooks create https://ci.example.com/deploy-events --component payments"
)
_EXAMPLES = {
    "list": "deploystatus webhooks list\n\ndeploystatus webhooks list -o json",
    "show": "deploystatus webhooks show wh_5f3a9c0d1e2b4a67",
    "pause": "deploystatus webhooks pause wh_5f3a9c0d1e2b4a67",
    "resume": "deploystatus webhooks resume wh_5f3a9c0d1e2b4a67",
    "delete": "deploystatus webhooks delete wh_5f3a9c0d1e2b4a67 --yes",
    "deliveries": "deploystatus webhooks deliveries wh_5f3a9c0d1e2b4a67 -n 5",
    "redeliver": "deploystatus webhooks redeliver wh_5f3a9c0d1e2b4a67 "
    "1722348401123456789-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


def register(app: typer.Typer) -> None:
    hooks = typer.Typer(
        help="Webhooks: the service POSTs its events to a URL (an admin token).",
        no_args_is_help=True,
    )
    hooks.command(epilog=examples(_CREATE_EXAMPLES))(create)
    hooks.command("list", epilog=examples(_EXAMPLES["list"]))(list_webhooks)
    for command in (show, pause, resume, delete, deliveries, redeliver):
        hooks.command(epilog=examples(_EXAMPLES[command.__name__]))(command)
    app.add_typer(hooks, name="webhooks", rich_help_panel=PANEL)
