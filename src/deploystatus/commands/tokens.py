"""The ``token create`` command: a new random token and the server's entry for its hash."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from deploystatus.tokens import (
    ADMIN,
    METRICS,
    NAME_RULE,
    READ,
    WRITE,
    ApiToken,
    hash_token,
    new_token,
)

from ._help import examples
from .table import PANEL


class Scope(StrEnum):
    READ = READ
    WRITE = WRITE
    METRICS = METRICS
    ADMIN = ADMIN


def _name(value: str | None) -> str | None:
    if value is not None and not NAME_RULE.fullmatch(value):
        raise typer.BadParameter(
            "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def create(
    scope: Annotated[
        list[Scope],
        typer.Option(
            "--scope",
            "-s",
            help="What the token may do; repeat for several. read: GET routes; write: POST "
            "/records; metrics: /metrics; admin: /admin/ routes, such as removing a record.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            metavar="NAME",
            callback=_name,
            show_default=False,
            help="Who holds it, as the logs will name it. Default: token-<hash prefix>.",
        ),
    ] = None,
) -> None:
    """Print a new random token and the DEPLOYSTATUS_TOKENS entry of its hash.

    stdout has two lines a script can use: the client's secret (shown only now) and the
    server's entry; stderr says what to do with them.
    """
    token = new_token()
    digest = hash_token(token)
    holder = name or f"token-{digest.hex()[:8]}"
    scopes = frozenset(chosen.value for chosen in scope)
    entry = ApiToken(name=holder, sha256=digest, scopes=scopes).entry()
    print(f"DEPLOYSTATUS_TOKEN={token}")
    print(f"DEPLOYSTATUS_TOKENS={entry}")
    print(
        "deploystatus: the first line is the client's secret, shown only now: store it where "
        "the client reads DEPLOYSTATUS_TOKEN.\n"
        "deploystatus: the second is for the server: add the entry to DEPLOYSTATUS_TOKENS "
        "(entries separated by ';'); it holds only the token's hash.",
        file=sys.stderr,
    )


_EXAMPLES = """\
deploystatus token create --name ci-deployer --scope write

deploystatus token create --name alice --scope admin --scope read
"""


def register(app: typer.Typer) -> None:
    token = typer.Typer(help="API tokens: create one.", no_args_is_help=True)
    token.command(epilog=examples(_EXAMPLES))(create)
    app.add_typer(token, name="token", rich_help_panel=PANEL)
