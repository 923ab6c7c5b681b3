"""Client commands for pipelines and people: ``post``, ``current``, ``history`` and
``remove-record`` talk to a running service over HTTP (``--url`` or ``DEPLOYSTATUS_URL``),
like any other client; filters are the API's query options, sent as they are."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer

from ._ci import READ, record_details
from ._client import (
    DEFAULT_URL,
    ClientError,
    Service,
    error_code,
    error_text,
    get,
    send_with_retries,
)
from ._help import examples
from ._output import Column, Output, age, field, print_records, shortened
from ._target import confirm

PANEL = "Client: post and read records"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url", "-u", envvar="DEPLOYSTATUS_URL", metavar="URL",
        help="The service, as a URL or host:port.",
    ),
]  # fmt: skip
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", "-t", envvar="DEPLOYSTATUS_TOKEN", metavar="TOKEN", show_default=False,
        help="Bearer token, when the service has authentication on.",
    ),
]  # fmt: skip
# current's and history's -o tsv: a header of these names, in lower case.
_TSV: list[Column] = [
    ("COMPONENT", field("Component")),
    ("ENVIRONMENT", field("Environment")),
    ("STATE", field("State")),
    ("TIMESTAMP", field("Timestamp")),
    ("VERSION", lambda record: str(record.get("Version", ""))),
    ("ACTOR", lambda record: str(record.get("Actor", ""))),
]
OutputOption = Annotated[
    Output,
    typer.Option(
        "--output", "-o",
        help="table: aligned columns, for people; json: the API's body; tsv: a header "
        f"({', '.join(title.lower() for title, _ in _TSV)}), then one record a line.",
    ),
]  # fmt: skip
JsonOption = Annotated[bool, typer.Option("--json", hidden=True, help="= --output json")]
RetriesOption = Annotated[
    int, typer.Option("--retries", min=1, metavar="N", help="Attempts in all.")
]
ComponentOption = Annotated[
    str, typer.Option("--component", "-c", metavar="NAME", help="The component, e.g. abc.def.")
]
EnvironmentOption = Annotated[
    str, typer.Option("--environment", "-e", metavar="ENV", help="The environment, e.g. prod-eu.")
]
StateOption = Annotated[
    str, typer.Option("--state", "-s", metavar="STATE", help="The state, e.g. deploy-success.")
]

_SHORT = 10  # a table's version and actor, in columns (whole in -o tsv and -o json)


def _short(name: str) -> Column:
    """A detail in a table: ``-`` when the record has none, an ellipsis when it is long."""

    def value(record: dict[str, Any]) -> str:
        return shortened(str(record.get(name) or "-"), _SHORT)

    return name.upper(), value


def _detail_option(flag: str, metavar: str, what: str) -> Any:
    return typer.Option(flag, metavar=metavar, show_default=False, help=what)


def _format(output: Output, json_flag: bool) -> Output:
    return "json" if json_flag else output


def post(
    component: ComponentOption,
    environment: EnvironmentOption,
    state: StateOption,
    timestamp: Annotated[
        str | None,
        typer.Option(
            "--timestamp",
            metavar="TIME",
            show_default=False,
            help="When the state was reached, RFC 3339 (2024-07-30T14:06:41Z). Default: now.",
        ),
    ] = None,
    version: Annotated[
        str | None,
        _detail_option("--version", "VERSION", "What is deployed: a release, image tag, chart."),
    ] = None,
    revision: Annotated[
        str | None, _detail_option("--revision", "SHA", "The VCS revision (commit).")
    ] = None,
    actor: Annotated[str | None, _detail_option("--actor", "NAME", "Who or what deployed.")] = None,
    link: Annotated[
        str | None, _detail_option("--link", "URL", "The run or its logs (http/https).")
    ] = None,
    message: Annotated[str | None, _detail_option("--message", "TEXT", "A short message.")] = None,
    commit_time: Annotated[
        str | None,
        _detail_option("--commit-time", "TIME", "When the revision was committed (RFC 3339)."),
    ] = None,
    no_ci: Annotated[
        bool, typer.Option("--no-ci", help="Do not fill details from a CI's environment.")
    ] = False,
    retries: RetriesOption = 8,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Post one record; retried until the service has stored it.

    Connection failures and 429/502/503/504 answers are retried with backoff (one line on
    stderr each): resending is safe, the service stores a record once. Exits 0 once stored,
    1 with one line on stderr otherwise.

    In CI the details are filled from the environment, options winning (--no-ci: not at all).
    """
    timestamp = timestamp or datetime.now(UTC).isoformat().replace("+00:00", "Z")
    record = {
        "Component": component,
        "Environment": environment,
        "State": state,
        "Timestamp": timestamp,
    }
    given = {
        "Version": version,
        "Revision": revision,
        "Actor": actor,
        "Link": link,
        "Message": message,
        "CommitTimestamp": commit_time,
    }
    record.update(record_details(given, {} if no_ci else os.environ))
    body = json.dumps({"Records": [record]}).encode()
    response = send_with_retries(Service(url, token), "POST", "/records", body, attempts=retries)
    if response.status != 200:
        raise ClientError(f"{response.status}: {error_text(response)}")
    print(f"posted {component} {environment} {state} {timestamp}")


def current(
    environment: Annotated[
        str | None,
        typer.Option("--environment", "-e", metavar="ENV", help="Only this environment."),
    ] = None,
    component: Annotated[
        str | None,
        typer.Option(
            "--component", "-c", metavar="PREFIX", help="Only components starting with PREFIX."
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state", "-s", metavar="STATE", help="Only deployables whose state is exactly STATE."
        ),
    ] = None,
    output: OutputOption = "table",
    json_flag: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """The current state of every deployable: its latest record, by the record's time.

    The table shows each state's version, actor and age (long ones shortened); -o tsv gives
    them whole with the exact timestamps, -o json every detail and derived fact.
    """
    output = _format(output, json_flag)
    options = {"environment": environment, "component": component, "state": state}
    body = get(Service(url, token), "/current", {**options, "details": "true"})
    records: list[dict[str, Any]] = json.loads(body)["Records"]
    table: list[Column] = [
        ("COMPONENT", field("Component")),
        ("ENVIRONMENT", field("Environment")),
        ("STATE", field("State")),
        _short("Version"),
        _short("Actor"),
        ("AGE", lambda record: age(str(record["Timestamp"]))),
    ]
    print_records(records, output, body, table=table, tsv=_TSV)
    if output == "table" and not records:
        filtered = any(value is not None for value in options.values())
        print(
            "deploystatus: no deployable " + ("matches" if filtered else "has a record yet"),
            file=sys.stderr,
        )


def history(
    component: Annotated[str, typer.Argument(metavar="COMPONENT", help="The component.")],
    environment: Annotated[
        str | None,
        typer.Option("--environment", "-e", metavar="ENV", help="Only this environment."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="Records at or after TIME (RFC 3339)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TIME", help="Records at or before TIME (RFC 3339)."),
    ] = None,
    order: Annotated[
        Literal["desc", "asc"],
        typer.Option("--order", help="desc: newest first; asc: oldest first."),
    ] = "desc",
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="Records per page."),
    ] = 20,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor", metavar="CURSOR", help="The page after the one that printed this cursor."
        ),
    ] = None,
    every_page: Annotated[
        bool, typer.Option("--all", "-a", help="Every page, to the first record.")
    ] = False,
    output: OutputOption = "table",
    json_flag: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """The history of one component, a page at a time, newest first.

    When there are more records, a line on stderr gives the --cursor of the next page. With
    --all, every page is read (1,000 records a request); -o json then prints each page's
    body on its own line.
    """
    output = _format(output, json_flag)
    service = Service(url, token)
    path = "/historical/" + urllib.parse.quote(component, safe="")
    options: dict[str, str | None] = {
        "environment": environment,
        "since": since,
        "until": until,
        "order": order,
        "limit": "1000" if every_page else str(limit),
        "cursor": cursor,
        "details": "true",
    }
    records: list[dict[str, Any]] = []
    bodies: list[bytes] = []
    while True:
        body = get(service, path, options)
        page = json.loads(body)
        records += page["Records"]
        bodies.append(body)
        options["cursor"] = page.get("NextCursor")
        if not every_page or options["cursor"] is None:
            break
    table: list[Column] = [
        ("TIMESTAMP", field("Timestamp")),
        ("ENVIRONMENT", field("Environment")),
        ("STATE", field("State")),
        _short("Version"),
        _short("Actor"),
    ]
    print_records(records, output, b"\n".join(bodies), table=table, tsv=_TSV)
    if output == "table" and not records:
        print(f"deploystatus: no record of {component} matches", file=sys.stderr)
    if options["cursor"] is not None and output != "json":
        print(
            f"deploystatus: more records: --cursor {options['cursor']} for the next page, "
            "--all for every page",
            file=sys.stderr,
        )


def _shown(record: dict[str, Any]) -> str:
    """A record on one line; the state quoted, with what is invisible on a terminal escaped."""
    deployable = f"{record['Component']} {record['Environment']}"
    return f"{deployable} {record['State']!r} at {record['Timestamp']}"


def remove_record(
    component: ComponentOption,
    environment: EnvironmentOption,
    state: StateOption,
    timestamp: Annotated[
        str,
        typer.Option(
            "--timestamp", metavar="TIME", help="The record's instant, RFC 3339 (any offset)."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    retries: RetriesOption = 3,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Remove one wrong record from the history (an admin token); current state follows.

    Asks first on a terminal; elsewhere it needs --yes. Safe to run again: a record already
    removed is reported, and nothing changes.
    """
    record = {
        "Component": component,
        "Environment": environment,
        "State": state,
        "Timestamp": timestamp,
    }
    named = _shown(record)
    confirm(
        f"Remove {named} from the history at {url}?",
        yes=yes,
        refusal="remove-record deletes a record from the history; pass --yes to confirm",
    )
    # Safe to resend: once removed, the record is a 404 and nothing changes.
    response = send_with_retries(
        Service(url, token),
        "POST",
        "/admin/remove-record",
        json.dumps(record).encode(),
        attempts=retries,
    )
    if response.status == 404 and error_code(response) == "record_not_found":
        raise ClientError(
            f"no record {named}: nothing was removed (already removed, or never stored)"
        )
    if response.status != 200:
        raise ClientError(f"{response.status}: {error_text(response)}")
    removal: dict[str, Any] = json.loads(response.body)
    now: dict[str, Any] | None = removal["Current"]
    if not removal["WasCurrent"]:
        after = "the current state is unchanged"
    elif now is None:
        after = "it was the current state; no record of the deployable is left"
    else:
        after = f"it was the current state; now current: {now['State']!r} at {now['Timestamp']}"
    print(f"removed {_shown(removal['Removed'])}; {after}")


_POST_EXAMPLES = """\
deploystatus post -c payments-api -e prod-eu -s deploy-started

deploystatus post -c payments-api -e prod-eu -s deploy-success --timestamp 2024-07-30T14:06:41Z

deploystatus post -c payments-api -e prod-eu -s deploy-success --version 1.4.2 --actor jdoe

From CI: DEPLOYSTATUS_URL=https://status.example.com DEPLOYSTATUS_TOKEN=... deploystatus post ...
"""
_CURRENT_EXAMPLES = """\
deploystatus current -e prod-eu

deploystatus current -c payments- -s deploy-failed

watch -n 5 deploystatus current -e prod-eu

deploystatus current -o tsv | awk -F'\\t' '$3 ~ /fail/'
"""
_HISTORY_EXAMPLES = """\
deploystatus history payments-api

deploystatus history payments-api -e prod-eu -n 5

deploystatus history payments-api --since 2024-07-30T00:00:00Z --order asc --all -o tsv
"""
_REMOVE_EXAMPLES = """\
deploystatus remove-record -c abc.def -e prod-all -s deploy-success --timestamp 9999-12-30T23:59:59Z
"""


def register(app: typer.Typer) -> None:
    command = app.command
    post_epilog = "[bold]In CI[/]\n\n" + "\n\n".join(READ) + "\n\n" + examples(_POST_EXAMPLES)
    command(rich_help_panel=PANEL, epilog=post_epilog)(post)
    command(rich_help_panel=PANEL, epilog=examples(_CURRENT_EXAMPLES))(current)
    command(rich_help_panel=PANEL, epilog=examples(_HISTORY_EXAMPLES))(history)
    command("remove-record", rich_help_panel=PANEL, epilog=examples(_REMOVE_EXAMPLES))(
        remove_record
    )
