"""The ``token create`` command: a new random token and the server's entry for its hash."""

from __future__ import annotations

import argparse
import sys

from deploystatus.tokens import NAME_RULE, SCOPES, ApiToken, hash_token, new_token


def cmd_token_create(args: argparse.Namespace) -> int:
    token = new_token()
    digest = hash_token(token)
    name = args.name or f"token-{digest.hex()[:8]}"
    entry = ApiToken(name=name, sha256=digest, scopes=frozenset(args.scope)).entry()
    # stdout: two lines a script can use; stderr: what to do with them.
    print(f"DEPLOYSTATUS_TOKEN={token}")
    print(f"DEPLOYSTATUS_TOKENS={entry}")
    print(
        "deploystatus: the first line is the client's secret, shown only now: store it where "
        "the client reads DEPLOYSTATUS_TOKEN.\n"
        "deploystatus: the second is for the server: add the entry to DEPLOYSTATUS_TOKENS "
        "(entries separated by ';'); it holds only the token's hash.",
        file=sys.stderr,
    )
    return 0


def _name(value: str) -> str:
    if not NAME_RULE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="API tokens: create one")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="print a new random token and the DEPLOYSTATUS_TOKENS entry of its hash"
    )
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=SCOPES,
        help="what the token may do; repeat for several (read: GET routes, write: POST "
        "/records, metrics: /metrics, admin: /admin/ routes, such as removing a record)",
    )
    create.add_argument("--name", type=_name, help="who holds it (default: token-<hash prefix>)")
    create.set_defaults(run=cmd_token_create)
