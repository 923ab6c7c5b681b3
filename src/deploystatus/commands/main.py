"""The ``deploystatus`` command: its groups of subcommands, ``--version``, and the one place
where a failure becomes an exit status and one line on stderr."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Annotated

import typer
from pydantic import AliasChoices, ValidationError

from deploystatus.config import Settings

from . import facts, generate, migrate, remote, service, table, tokens, webhooks
from ._client import ClientError

HELP = """\
Deployment status: run the service, look after its table, post and read records.

Each command's --help has its options and examples; docs/cli.md has them all.
"""


def _show_version(value: bool) -> None:
    if value:
        print(f"deploystatus {version('deploystatus')}")
        raise typer.Exit()


def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_show_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    pass  # the group's options only: HELP describes it


def build() -> typer.Typer:
    """The command; groups appear in ``--help`` in the order they are registered."""
    app = typer.Typer(
        name="deploystatus",
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    service.register(app)
    table.register(app)
    generate.register(app)
    migrate.register(app)
    facts.register(app)
    tokens.register(app)
    remote.register(app)
    webhooks.register(app)
    return app


def _settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting, naming its variable; never the value (it may be a
    secret pasted in the wrong place)."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["loc"]:
            field = str(problem["loc"][0])
            known = Settings.model_fields.get(field)
            alias = known.validation_alias if known is not None else None
            variable = (
                str(alias.choices[1])
                if isinstance(alias, AliasChoices)
                else f"DEPLOYSTATUS_{field.upper()}"
            )
            if not message.startswith(variable):
                message = f"{variable}: {message}"
        lines.append(f"deploystatus: invalid setting: {message}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    # Until a server takes over signals, SIGTERM unwinds like Ctrl-C: engines get stopped.
    signal.signal(signal.SIGTERM, service.exit_on_signal)
    try:
        build()(args=list(argv) if argv is not None else None, prog_name="deploystatus")
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            return exit.code or 0
        print(exit.code, file=sys.stderr)  # a command's one-line reason
        return 1
    except ClientError as exc:
        print(f"deploystatus: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print("\n".join(_settings_problems(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
