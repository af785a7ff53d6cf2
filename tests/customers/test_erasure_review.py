"""Erasure, as the review found it: one pending request however often it is asked for, the
consoles told of every decision, and a compaction that fails after the erasure committed
costs nothing but the compaction."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from customers import erasure
from customers.actions import create_customer
from customers.models import Customer, DataRequest


async def _kim(runtime) -> int:
    async with runtime.transaction() as tx:
        kim = await create_customer(tx, name="Kim", identities=[("email", "kim@example.com")])
        return kim.id


async def _pending(runtime, customer_id: int) -> int:
    async with runtime.read() as session:
        return await session.scalar(
            select(func.count(DataRequest.id)).where(
                DataRequest.customer_id == customer_id, DataRequest.status == "pending"
            )
        )


async def _updated(events, customer_id: int) -> None:
    """Wait for customer.updated of this record (on PostgreSQL it comes through NOTIFY)."""
    while True:
        event = await asyncio.wait_for(events.get(), 10)
        if event.type == "customer.updated" and event.data["customer_id"] == customer_id:
            return


async def test_a_request_sent_twice_at_once_is_one_pending_request(runtime):
    kim = await _kim(runtime)

    async def ask() -> int:
        async with runtime.transaction() as tx:
            return (await erasure.request_erasure(tx, kim, source="portal")).id

    first, second = await asyncio.gather(ask(), ask())
    assert first == second and await _pending(runtime, kim) == 1
    # The database itself refuses a second pending request of the record.
    with pytest.raises(IntegrityError):
        async with runtime.transaction() as tx:
            tx.session.add(
                DataRequest(
                    customer_id=kim,
                    kind="erasure",
                    status="pending",
                    source="api",
                    requested_at=tx.now(),
                )
            )
    # A withdrawn one does not count: asked again, there is a new pending request.
    async with runtime.transaction() as tx:
        assert await erasure.withdraw_request(tx, kim)
    async with runtime.transaction() as tx:
        third = (await erasure.request_erasure(tx, kim, source="portal")).id
    assert third != first and await _pending(runtime, kim) == 1


async def test_rejecting_a_request_tells_the_consoles(runtime, agent):
    kim = await _kim(runtime)
    async with runtime.transaction() as tx:
        request = await erasure.request_erasure(tx, kim, source="portal")
    async with runtime.bus.subscribe() as events:
        async with runtime.transaction() as tx:
            await erasure.reject_request(tx, request.id, actor_user_id=agent.id)
        await _updated(events, kim)


async def test_deleting_a_record_tells_the_consoles(runtime):
    kim = await _kim(runtime)
    async with runtime.bus.subscribe() as events:
        await erasure.erase(runtime, kim, source="console", actor_user_id=None, mode="delete")
        await _updated(events, kim)
    async with runtime.read() as session:
        assert await session.get(Customer, kim) is None


async def test_a_failed_compaction_after_the_erasure_is_no_error(
    client, runtime, admin_headers, monkeypatch, caplog
):
    async def busy(runtime) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(erasure, "compact_storage", busy)
    kim = await _kim(runtime)
    answer = await client.post(f"/api/v1/customers/{kim}/erasure", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["mode"] == "anonymize"
    async with runtime.read() as session:
        assert (await session.get(Customer, kim)).erased_at is not None
    assert "compacting the database after an erasure failed" in caplog.text
