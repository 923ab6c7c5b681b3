"""Realistic sample data, written through the same store the API writes through.

Each deployment is a ``deploy-started`` record followed seconds to minutes later by
``deploy-success`` or ``deploy-failed``; deployments fall at random over a time window and
on random deployables. The same ``--seed`` and ``--end`` give the same records.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from deploystatus import timestamps
from deploystatus.config import Settings
from deploystatus.errors import StorageError
from deploystatus.records import Details, Record
from deploystatus.states import state_class
from deploystatus.storage import Store, open_client

from ._help import examples
from ._target import confirm_remote
from .table import PANEL, RemoteOption

_SERVICES = (
    "payments", "checkout", "auth", "search", "catalog", "orders", "billing", "inventory",
    "shipping", "profile", "notifications", "reviews", "pricing", "ledger", "gateway",
    "reports", "media", "sessions", "wallet", "loyalty", "fraud", "tax", "cart", "recs",
)  # fmt: skip
_KINDS = ("api", "web", "worker", "db-migrate", "consumer", "cron", "edge.proxy", "grpc")
ENVIRONMENTS = (
    "dev", "staging", "prod-eu", "prod-us", "qa", "perf", "prod-all", "eu-west-two",
    "us-east-one", "sandbox", "canary", "preprod",
)  # fmt: skip
_BATCH = 1000  # the API's default per-request limit: the same batches a writer would send
_NS = 1_000_000_000


def component_names(count: int) -> list[str]:
    names = [f"{service}-{kind}" for kind in _KINDS for service in _SERVICES]
    if count <= len(names):
        return names[:count]
    return names + [f"{names[i % len(names)]}-{i // len(names)}" for i in range(len(names), count)]


_ACTORS = ("ci-bot", "jdoe", "asmith", "mlee", "release-train")


@dataclass(frozen=True)
class Plan:
    components: int = 20
    environments: int = 4
    records: int = 2000
    failure_rate: float = 0.1
    days: float = 7.0
    seed: int | None = None
    end_ns: int = 0  # 0: now
    details: bool = True  # a version, an actor and a run link on every record


def plan_records(plan: Plan) -> list[Record]:
    """The records of ``plan``, oldest first. A deployment still running at the end of the
    window has only its ``deploy-started`` record, as a real one would."""
    rng = random.Random(plan.seed)
    end = plan.end_ns or time.time_ns()
    window = int(plan.days * 86_400 * _NS)
    deployables = [
        (component, environment)
        for component in component_names(plan.components)
        for environment in ENVIRONMENTS[: plan.environments]
    ]
    starts: dict[tuple[str, str], list[int]] = {deployable: [] for deployable in deployables}
    for _ in range((plan.records + 1) // 2):
        # Millisecond precision, as deploy tools usually report.
        started = end - rng.randrange(1, window // 1_000_000) * 1_000_000
        starts[rng.choice(deployables)].append(started)
    # Details come from a generator of their own, so the records are those of the same plan
    # without them.
    details_rng = random.Random(plan.seed)
    records: list[Record] = []
    for (component, environment), times in starts.items():
        if not times:
            continue  # few records over many deployables: this one never deployed
        times.sort()
        for number, (started, following) in enumerate(zip(times, [*times[1:], None], strict=True)):
            details = None
            if plan.details:
                run = details_rng.randrange(1_000_000, 10_000_000)
                details = Details(
                    version=f"1.{number // 10}.{number % 10}",
                    actor=details_rng.choice(_ACTORS),
                    link=f"https://ci.example.com/{component}/runs/{run}",
                )
            records.append(
                Record(
                    component,
                    environment,
                    "deploy-started",
                    timestamps.canonical(started),
                    details,
                )
            )
            # A deployable deploys one thing at a time: each finishes before the next starts.
            finished = started + rng.randrange(5_000, 900_000) * 1_000_000
            if following is not None:
                finished = min(finished, following - 1_000_000)
            outcome = "deploy-failed" if rng.random() < plan.failure_rate else "deploy-success"
            if started < finished <= end:
                records.append(
                    Record(component, environment, outcome, timestamps.canonical(finished), details)
                )
    records.sort(key=lambda record: record.timestamp)
    return records


async def write_records(
    store: Store,
    records: list[Record],
    *,
    concurrency: int = 4,
    advance: Callable[[int], None] = lambda count: None,
) -> None:
    batches = [records[start : start + _BATCH] for start in range(0, len(records), _BATCH)]
    slots = asyncio.Semaphore(concurrency)

    async def write(batch: list[Record]) -> None:
        async with slots:
            await store.put(batch)
            advance(len(batch))

    async with asyncio.TaskGroup() as group:
        for batch in batches:
            group.create_task(write(batch))


def _summary(current: Sequence[Record], limit: int = 40) -> Table:
    classes = Counter(state_class(record.state) for record in current)
    counts = ", ".join(f"{count} {name}" for name, count in sorted(classes.items()))
    table = Table(
        title=f"Current state: {len(current)} deployables ({counts})",
        title_justify="left",
        header_style="bold",
    )
    for column in ("Component", "Environment", "State", "Since (UTC)"):
        table.add_column(column)
    styles = {"success": "green", "failed": "bold red", "in-progress": "yellow", "other": ""}
    for record in current[:limit]:
        style = styles[state_class(record.state)] or "default"
        table.add_row(
            record.component,
            record.environment,
            f"[{style}]{escape(record.state)}[/]",
            record.timestamp[:19].replace("T", " "),
        )
    if len(current) > limit:
        table.caption = f"... and {len(current) - limit} more: deploystatus current"
    return table


async def _generate(settings: Settings, plan: Plan, console: Console) -> None:
    records = plan_records(plan)
    async with open_client(settings) as client:
        store = Store.from_settings(client, settings)
        started = time.monotonic()
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("writing records", total=len(records))
            await write_records(store, records, advance=lambda count: progress.advance(task, count))
        elapsed = time.monotonic() - started
        console.print(
            f"wrote {len(records)} records in {elapsed:.1f} s "
            f"({len(records) / max(elapsed, 1e-9):,.0f} records/s) to {settings.table}"
        )
        console.print(_summary(await store.current()))


def generate(
    records: Annotated[
        int, typer.Option("--records", "-n", min=1, metavar="N", help="About this many records.")
    ] = 2000,
    components: Annotated[
        int, typer.Option("--components", min=1, metavar="N", help="Components.")
    ] = 20,
    environments: Annotated[
        int,
        typer.Option(
            "--environments",
            min=1,
            max=len(ENVIRONMENTS),
            metavar="N",
            help=f"Environments, 1-{len(ENVIRONMENTS)}.",
        ),
    ] = 4,
    failure_rate: Annotated[
        float,
        typer.Option(
            "--failure-rate",
            min=0.0,
            max=1.0,
            metavar="RATE",
            help="Share of deployments that fail.",
        ),
    ] = 0.1,
    days: Annotated[
        float,
        typer.Option("--days", min=0.0, metavar="DAYS", help="Time window ending at --end."),
    ] = 7.0,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            metavar="TIME",
            show_default=False,
            help="End of the window, RFC 3339. Default: now.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="Same seed and --end, same records."),
    ] = None,
    remote: RemoteOption = False,
) -> None:
    """Fill the table with realistic sample deployments, through the store the API uses.

    Each deployment is deploy-started, then deploy-success or deploy-failed seconds to
    minutes later. Shows progress, then the rate and a summary of the current state.
    """
    plan = Plan(
        components=components,
        environments=environments,
        records=records,
        failure_rate=failure_rate,
        days=days,
        seed=seed,
        end_ns=timestamps.parse(end) if end else 0,
    )
    settings = Settings()
    confirm_remote(settings, "write sample records to", remote=remote)
    try:
        asyncio.run(_generate(settings, plan, Console()))
    except (StorageError, BaseExceptionGroup) as exc:
        error = _storage_error(exc)
        if error is None:
            raise
        where = settings.endpoint_url or "AWS"
        raise SystemExit(
            f"deploystatus: cannot write to table {settings.table} at {where}: {error}"
        ) from exc


def _storage_error(exc: BaseException) -> StorageError | None:
    """The storage failure behind ``exc``, also from inside the task group's exception group."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _storage_error(inner)
            if found is not None:
                return found
    return None


_EXAMPLES = """\
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4566 deploystatus generate --records 5000

deploystatus generate --components 60 --environments 8 --seed 1 --end 2024-07-30T00:00:00Z
"""


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL, epilog=examples(_EXAMPLES))(generate)
