"""Webhook subscriptions, their cursors and their delivery logs, in the service's table.

    subscription  PK = "HOOKS"             SK = id     Url, Fmt, Filter (JSON), Secret,
                                                        Created, Paused, Reason
    cursor        PK = "HOOKCUR"           SK = id     Pos, Owner, Lease, Attempts, Since,
                                                        Next, Error, Rev, Paused
    delivery      PK = "HOOKLOG#" + id     SK = attempt time "#" position "#" attempt
                                                        Ev, Status, Ms, Error, Owner, Expires

A cursor is written only on condition that its ``Rev`` is the one read: a process that lost
its lease (another took the subscription over) fails its next write and stops. A cursor is
made with its subscription and deleted with it; pausing marks both, so the process that
delivers a subscription learns it at its next read of the cursor.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, cast

from deploystatus.events import EventFilter
from deploystatus.states import StateClass
from deploystatus.subscriptions import Cursor, Delivery, Subscription

from .dynamodb import ConditionalCheckFailed
from .store import BATCH_SIZE, Store

Item = dict[str, Any]
_LOG_DAYS = 7


def _filter_text(wanted: EventFilter) -> str:
    return json.dumps(
        {
            "Component": wanted.component_prefix,
            "Environments": sorted(wanted.environments),
            "Classes": sorted(wanted.classes),
        },
        separators=(",", ":"),
    )


def _filter_of(text: str) -> EventFilter:
    stored = json.loads(text)
    return EventFilter(
        stored["Component"],
        frozenset(stored["Environments"]),
        cast(frozenset[StateClass], frozenset(stored["Classes"])),
    )


def _subscription_of(item: Item) -> Subscription:
    return Subscription(
        id=item["SK"]["S"],
        url=item["Url"]["S"],
        format=item["Fmt"]["S"],
        wanted=_filter_of(item["Filter"]["S"]),
        secret=item["Secret"]["S"],
        created_ns=int(item["Created"]["N"]),
        paused=item["Paused"]["BOOL"],
        reason=item["Reason"]["S"] if "Reason" in item else None,
    )


def _cursor_of(item: Item) -> Cursor:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def number(name: str, default: int = 0) -> int:
        return int(item[name]["N"]) if name in item else default

    return Cursor(
        position=text("Pos"),
        owner=text("Owner"),
        lease_until_ns=number("Lease"),
        attempts=number("Attempts"),
        failing_since_ns=number("Since") if "Since" in item else None,
        next_ns=number("Next"),
        last_error=text("Error"),
        revision=number("Rev"),
        paused=item["Paused"]["BOOL"] if "Paused" in item else False,
    )


class Hooks:
    """The webhooks' items; calls go through the store's bound on calls in flight."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._table = store.table

    async def _call(self, action: str, payload: Item) -> dict[str, Any]:
        return await self._store.call(action, payload)

    # Subscriptions

    async def create(self, subscription: Subscription) -> None:
        item: Item = {
            "PK": {"S": "HOOKS"},
            "SK": {"S": subscription.id},
            "Url": {"S": subscription.url},
            "Fmt": {"S": subscription.format},
            "Filter": {"S": _filter_text(subscription.wanted)},
            "Secret": {"S": subscription.secret},
            "Created": {"N": str(subscription.created_ns)},
            "Paused": {"BOOL": subscription.paused},
        }
        await self._call(
            "PutItem",
            {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(PK)",
            },
        )
        await self.save_cursor(
            subscription.id, Cursor(position=None, paused=subscription.paused), None
        )

    async def subscriptions(self) -> list[Subscription]:
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "HOOKS"}},
            "ConsistentRead": True,
        }
        found: list[Subscription] = []
        while True:
            page = await self._call("Query", query)
            found.extend(_subscription_of(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    async def subscription(self, identifier: str) -> Subscription | None:
        response = await self._call(
            "GetItem",
            {
                "TableName": self._table,
                "Key": {"PK": {"S": "HOOKS"}, "SK": {"S": identifier}},
                "ConsistentRead": True,
            },
        )
        item = response.get("Item")
        return None if item is None else _subscription_of(item)

    async def set_paused(self, identifier: str, paused: bool, reason: str | None) -> bool:
        """Pause or resume; False if there is no such subscription."""
        values: Item = {":paused": {"BOOL": paused}}
        update = "SET Paused = :paused"
        if reason is None:
            update += " REMOVE Reason"
        else:
            update += ", Reason = :reason"
            values[":reason"] = {"S": reason}
        try:
            await self._call(
                "UpdateItem",
                {
                    "TableName": self._table,
                    "Key": {"PK": {"S": "HOOKS"}, "SK": {"S": identifier}},
                    "UpdateExpression": update,
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": values,
                },
            )
        except ConditionalCheckFailed:
            return False
        # The cursor too, with a new revision: its holder's next write fails, and its next
        # read stops it.
        with contextlib.suppress(ConditionalCheckFailed):
            await self._call(
                "UpdateItem",
                {
                    "TableName": self._table,
                    "Key": {"PK": {"S": "HOOKCUR"}, "SK": {"S": identifier}},
                    "UpdateExpression": "SET Paused = :paused, Rev = Rev + :one",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": {
                        ":paused": {"BOOL": paused},
                        ":one": {"N": "1"},
                    },
                },
            )
        return True

    async def delete(self, identifier: str) -> bool:
        try:
            await self._call(
                "DeleteItem",
                {
                    "TableName": self._table,
                    "Key": {"PK": {"S": "HOOKS"}, "SK": {"S": identifier}},
                    "ConditionExpression": "attribute_exists(PK)",
                },
            )
        except ConditionalCheckFailed:
            return False
        await self._call(
            "DeleteItem",
            {"TableName": self._table, "Key": {"PK": {"S": "HOOKCUR"}, "SK": {"S": identifier}}},
        )
        return True

    # Cursors

    async def cursor(self, identifier: str) -> Cursor | None:
        response = await self._call(
            "GetItem",
            {
                "TableName": self._table,
                "Key": {"PK": {"S": "HOOKCUR"}, "SK": {"S": identifier}},
                "ConsistentRead": True,
            },
        )
        item = response.get("Item")
        return None if item is None else _cursor_of(item)

    async def save_cursor(self, identifier: str, cursor: Cursor, read: Cursor | None) -> bool:
        """Write ``cursor`` (its revision the next) if the item is still ``read`` (None:
        there is none); False if another process wrote it meanwhile."""
        item: Item = {
            "PK": {"S": "HOOKCUR"},
            "SK": {"S": identifier},
            "Lease": {"N": str(cursor.lease_until_ns)},
            "Attempts": {"N": str(cursor.attempts)},
            "Next": {"N": str(cursor.next_ns)},
            "Rev": {"N": str(cursor.revision)},
            "Paused": {"BOOL": cursor.paused},
        }
        for name, value in (
            ("Pos", cursor.position),
            ("Owner", cursor.owner),
            ("Error", cursor.last_error),
        ):
            if value is not None:
                item[name] = {"S": value}
        if cursor.failing_since_ns is not None:
            item["Since"] = {"N": str(cursor.failing_since_ns)}
        put: Item = {"TableName": self._table, "Item": item}
        if read is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "Rev = :rev"
            put["ExpressionAttributeValues"] = {":rev": {"N": str(read.revision)}}
        try:
            await self._call("PutItem", put)
        except ConditionalCheckFailed:
            return False
        return True

    # The delivery log

    async def log(self, identifier: str, deliveries: list[Delivery]) -> None:
        requests = [
            {"PutRequest": {"Item": self._delivery_item(identifier, d)}} for d in deliveries
        ]
        for start in range(0, len(requests), BATCH_SIZE):
            await self._store.batch_write(
                {"RequestItems": {self._table: requests[start : start + BATCH_SIZE]}}
            )

    @staticmethod
    def _delivery_item(identifier: str, delivery: Delivery) -> Item:
        item: Item = {
            "PK": {"S": "HOOKLOG#" + identifier},
            "SK": {"S": f"{delivery.at_ns:019d}#{delivery.position}#{delivery.attempt}"},
            "Ev": {"S": delivery.event_id},
            "Ms": {"N": f"{delivery.latency_ms:.1f}"},
            "Owner": {"S": delivery.owner},
            "Expires": {"N": str(delivery.at_ns // 1_000_000_000 + _LOG_DAYS * 86_400)},
        }
        if delivery.status is not None:
            item["Status"] = {"N": str(delivery.status)}
        if delivery.error is not None:
            item["Error"] = {"S": delivery.error}
        return item

    async def deliveries(self, identifier: str, limit: int) -> list[Delivery]:
        """The newest ``limit`` attempts, newest first."""
        page = await self._call(
            "Query",
            {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "HOOKLOG#" + identifier}},
                "ScanIndexForward": False,
                "Limit": limit,
            },
        )
        found = []
        for item in page["Items"]:
            at, position, attempt = item["SK"]["S"].split("#")
            found.append(
                Delivery(
                    at_ns=int(at),
                    event_id=item["Ev"]["S"],
                    position=position,
                    attempt=int(attempt),
                    status=int(item["Status"]["N"]) if "Status" in item else None,
                    latency_ms=float(item["Ms"]["N"]),
                    error=item["Error"]["S"] if "Error" in item else None,
                    owner=item["Owner"]["S"],
                )
            )
        return found
