"""The engine's own ceiling: the DynamoDB calls the service makes, made straight to the same
engine with the same client (the service's own, `deploystatus.dynamodb.open_client`),
the same items (built by the store's own helpers), the same concurrency, no service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from deploystatus.config import Settings
from deploystatus.dynamodb import Client, ConditionalCheckFailed, open_client
from deploystatus.store import (
    BATCH_SIZE,
    CURRENT_SHARDS,
    _current_item,  # the store's item format, not a copy of it
    _history_key,
)

from .data import Sent


class Engine:
    def __init__(self, client: Client, table: str, max_concurrent_calls: int) -> None:
        self._client = client
        self.table = table
        # As the store does: a bound on calls in flight shared by every caller.
        self._slots = asyncio.Semaphore(max_concurrent_calls)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with self._slots:
            return await self._client.send_request(action=action, payload=payload)

    async def put(self, batch: Sequence[Sent]) -> None:
        """What `Store.put` sends for a batch: history in concurrent ``BatchWriteItem`` calls,
        then each deployable's latest as a conditional ``PutItem``, concurrently."""
        history: dict[tuple[str, str], dict[str, Any]] = {}
        latest: dict[tuple[str, str], Sent] = {}
        for sent in batch:
            key = _history_key(sent.stored())
            history[(key["PK"]["S"], key["SK"]["S"])] = key
            deployable = (sent.component, sent.environment)
            known = latest.get(deployable)
            if known is None or (sent.nanos, sent.state) > (known.nanos, known.state):
                latest[deployable] = sent
        requests = [{"PutRequest": {"Item": item}} for item in history.values()]
        await asyncio.gather(
            *(
                self._batch_write(requests[start : start + BATCH_SIZE])
                for start in range(0, len(requests), BATCH_SIZE)
            )
        )
        await asyncio.gather(*(self._put_current(sent) for sent in latest.values()))

    async def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for _ in range(100):  # bounded: a local engine leaves nothing unprocessed anyway
            response = await self.call("BatchWriteItem", {"RequestItems": {self.table: requests}})
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{len(requests)} items left unprocessed")

    async def _put_current(self, sent: Sent) -> None:
        item = _current_item(sent.stored())
        with contextlib.suppress(ConditionalCheckFailed):
            await self.call(
                "PutItem",
                {
                    "TableName": self.table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(PK) OR Latest < :latest",
                    "ExpressionAttributeValues": {":latest": item["Latest"]},
                },
            )

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
                self._query_pages(
                    {
                        "TableName": self.table,
                        "KeyConditionExpression": "PK = :pk",
                        "ExpressionAttributeValues": {":pk": {"S": f"CURRENT#{shard}"}},
                        "ProjectionExpression": "SK, Latest",
                        "ConsistentRead": True,
                    }
                )
                for shard in range(CURRENT_SHARDS)
            )
        )
        return sum(counts)

    async def history_items(self, component: str) -> int:
        """What ``/historical/{component}`` reads: one Query, page after page."""
        return await self._query_pages(
            {
                "TableName": self.table,
                "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "H#" + component}},
                "ProjectionExpression": "SK",
                "ConsistentRead": True,
            }
        )


@asynccontextmanager
async def engine_client(endpoint_url: str, table: str) -> AsyncIterator[Engine]:
    """The service's default settings (pool and in-flight bound of 64) against ``table``."""
    settings = Settings(endpoint_url=endpoint_url, region="us-east-1", table=table)
    async with open_client(settings) as client:
        yield Engine(client, table, settings.max_concurrent_calls)
