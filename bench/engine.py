"""The engine's own ceiling: the DynamoDB calls the service makes, made straight to the same
engine with the same client (the service's own, `deploystatus.storage.open_client`), the
same calls (the store's own `write_plan` and queries), the same concurrency, no service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from deploystatus.config import Settings
from deploystatus.facts import add, first
from deploystatus.records import HistoryRange
from deploystatus.states import Classifier
from deploystatus.storage import open_client
from deploystatus.storage.dynamodb import Client, ConditionalCheckFailed
from deploystatus.storage.store import (  # the store's own calls, not copies of them
    CURRENT_SHARDS,
    current_query,
    facts_put,
    facts_reads,
    history_query,
    write_plan,
)

from .data import Sent


class Engine:
    def __init__(self, client: Client, table: str, max_concurrent_calls: int) -> None:
        self._client = client
        self.table = table
        # As the store does: a bound on calls in flight shared by every caller.
        self._slots = asyncio.Semaphore(max_concurrent_calls)
        self._classify = Classifier()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._slots:
            return await self._client.send_request(action=action, payload=payload)

    async def put(self, batch: Sequence[Sent]) -> None:
        """What `Store.put` sends for a batch (its own `write_plan`): history in concurrent
        ``BatchWriteItem`` calls while ``BatchGetItem`` reads the facts items, then each
        deployable's latest record and its facts as conditional ``PutItem``s, concurrently."""
        plan = write_plan(self.table, [sent.stored() for sent in batch])
        reads = facts_reads(self.table, list(plan.deployables))
        await asyncio.gather(
            *(self._batch_write(request) for request in plan.history),
            *(self.call("BatchGetItem", request) for request in reads),
        )
        puts = list(plan.current)
        for records in plan.deployables.values():
            facts = first(records[0], self._classify, "bench")
            for record in records[1:]:
                facts = add(facts, record, self._classify) or facts
            puts.append(facts_put(self.table, facts, None))
        await asyncio.gather(*(self._put_current(put) for put in puts))

    async def _batch_write(self, request: dict[str, Any]) -> None:
        for _ in range(100):  # bounded: a local engine leaves nothing unprocessed anyway
            response = await self.call("BatchWriteItem", request)
            unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
            if not unprocessed:
                return
            request = {"RequestItems": {self.table: unprocessed}}
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{len(unprocessed)} items left unprocessed")

    async def _put_current(self, put: dict[str, Any]) -> None:
        with contextlib.suppress(ConditionalCheckFailed):
            await self.call("PutItem", put)

    async def _query_pages(self, query: dict[str, Any]) -> int:
        """Items of every page of a Query, fetched one after the other."""
        items = 0
        for _ in range(1_000_000):
            page = await self.call("Query", query)
            items += len(page["Items"])
            last = page.get("LastEvaluatedKey")
            if not last:
                return items
            query = {**query, "ExclusiveStartKey": last}
        raise RuntimeError("too many pages")

    async def current_items(self) -> int:
        """What ``/current`` reads: every shard's current items, shards concurrently."""
        counts = await asyncio.gather(
            *(
                self._query_pages(current_query(self.table, shard))
                for shard in range(CURRENT_SHARDS)
            )
        )
        return sum(counts)

    async def history_items(self, component: str) -> int:
        """What ``/historical/{component}`` reads: one Query, page after page."""
        return await self._query_pages(history_query(self.table, HistoryRange(component)))


@asynccontextmanager
async def engine_client(endpoint_url: str, table: str) -> AsyncIterator[Engine]:
    """The service's default settings (pool and in-flight bound of 64) against ``table``."""
    settings = Settings(endpoint_url=endpoint_url, region="us-east-1", table=table)
    async with open_client(settings) as client:
        yield Engine(client, table, settings.max_concurrent_calls)
