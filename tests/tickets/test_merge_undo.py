"""Undoing a merge and a bulk change: what moved goes back, within the undo window only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.fixtures import inbound_mail
from tickets import bulk
from tickets.actions import Actor, TicketError
from tickets.fields import update_ticket
from tickets.inbox import receive
from tickets.merge import link_tickets, linked_tickets, merge_tickets, undo_merge
from tickets.models import Message, Ticket, TicketHistory
from tickets.undo_models import BulkChange, TicketMerge
from tresen.clock import FrozenClock

START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def _mail(runtime, n: int, sender: str, subject: str) -> int:
    who = {"kind": "email", "value": sender, "name": sender.split("@")[0].title()}
    received = await receive(
        runtime, inbound_mail(f"<undo-{n}@example.com>", subject=subject, **{"from": who})
    )
    return received.ticket_id


async def _messages(runtime, ticket_id: int) -> list[int]:
    async with runtime.read() as session:
        return list(await session.scalars(select(Message.id).where(Message.ticket_id == ticket_id)))


async def test_a_merge_is_undone_with_its_messages_tags_links_and_state(runtime, agent):
    runtime.clock = FrozenClock(START)
    a = await _mail(runtime, 1, "anna@example.com", "Lieferung fehlt")
    b = await _mail(runtime, 2, "anna@example.com", "Lieferung immer noch nicht da")
    c = await _mail(runtime, 3, "ben@example.com", "Andere Sache")
    b_messages = await _messages(runtime, b)
    actor = Actor(user_id=agent.id)
    async with runtime.transaction() as tx:
        source, target, other = [await tx.session.get(Ticket, i) for i in (b, a, c)]
        source.state = "pending"
        await update_ticket(tx, source, {"tags": ["lieferung"]}, actor)
        await link_tickets(tx, source, other, actor)
    async with runtime.transaction() as tx:
        source, target = await tx.session.get(Ticket, b), await tx.session.get(Ticket, a)
        await merge_tickets(tx, source, target, actor)
    assert await _messages(runtime, b) == []
    runtime.clock.advance(timedelta(minutes=29))
    async with runtime.transaction() as tx:
        record = await tx.session.scalar(select(TicketMerge).where(TicketMerge.source_id == b))
        await undo_merge(tx, record, actor)
    assert await _messages(runtime, b) == b_messages
    async with runtime.read() as session:
        source, target = await session.get(Ticket, b), await session.get(Ticket, a)
        assert (source.state, source.merged_into_id) == ("pending", None)
        assert source.tags == ["lieferung"] and target.tags == []
        fields = {
            (row.ticket_id, row.field)
            for row in await session.scalars(select(TicketHistory))
            if row.field in ("unmerged", "unmerged_from")
        }
        assert fields == {(a, "unmerged"), (b, "unmerged_from")}
    async with runtime.read() as session:
        assert [t.id for t in await linked_tickets(session, b)] == [c]
        assert await linked_tickets(session, a) == []
    # Once only.
    with pytest.raises(TicketError, match="undone already"):
        async with runtime.transaction() as tx:
            record = await tx.session.get(TicketMerge, record.id)
            await undo_merge(tx, record, actor)


async def test_a_merge_older_than_the_window_stays(runtime, agent):
    runtime.clock = FrozenClock(START)
    a = await _mail(runtime, 11, "anna@example.com", "Eins")
    b = await _mail(runtime, 12, "bert@example.com", "Zwei")
    actor = Actor(user_id=agent.id)
    async with runtime.transaction() as tx:
        await merge_tickets(
            tx, await tx.session.get(Ticket, b), await tx.session.get(Ticket, a), actor
        )
    runtime.clock.advance(timedelta(minutes=31))
    with pytest.raises(TicketError, match="30 minutes"):
        async with runtime.transaction() as tx:
            record = await tx.session.scalar(select(TicketMerge))
            await undo_merge(tx, record, actor)
    assert await _messages(runtime, b) == []


async def test_a_bulk_change_is_undone_where_nobody_changed_it_since(runtime, agent):
    runtime.clock = FrozenClock(START)
    ids = [await _mail(runtime, 20 + n, f"k{n}@example.com", f"Frage {n}") for n in range(3)]
    actor = Actor(user_id=agent.id)
    async with runtime.read() as session:
        tickets = [await session.get(Ticket, i) for i in ids]
        planned = bulk.plan(tickets, {"state": "pending", "priority": "high"}, "VIP")
    assert all(
        ("state", "new", "pending") in row.changes and ("tags", None, "vip") in row.changes
        for row in planned
    )
    assert bulk.summary(planned)[0] == ("state", "new", "pending", 3)
    async with runtime.transaction() as tx:
        tickets = [await tx.session.get(Ticket, i) for i in ids]
        record, _ = await bulk.apply(
            tx, tickets, {"state": "pending", "priority": "high"}, actor, add_tag="VIP"
        )
    # Someone changes one ticket's priority afterwards: the undo leaves that alone.
    async with runtime.transaction() as tx:
        await update_ticket(tx, await tx.session.get(Ticket, ids[0]), {"priority": "urgent"}, actor)
    async with runtime.transaction() as tx:
        result = await bulk.undo(tx, await tx.session.get(BulkChange, record.id), actor)
    assert result.tickets == 3
    async with runtime.read() as session:
        rows = [await session.get(Ticket, i) for i in ids]
    assert [(t.state, t.priority, t.tags) for t in rows] == [
        ("new", "urgent", []),
        ("new", "normal", []),
        ("new", "normal", []),
    ]
    assert result.kept == [(rows[0].number, "priority")]
    with pytest.raises(TicketError, match="undone already"):
        async with runtime.transaction() as tx:
            await bulk.undo(tx, await tx.session.get(BulkChange, record.id), actor)


async def test_a_bulk_merge_is_undone_at_once(runtime, agent):
    runtime.clock = FrozenClock(START)
    ids = [await _mail(runtime, 30 + n, "anna@example.com", f"Thema {n}") for n in range(3)]
    before = {i: await _messages(runtime, i) for i in ids}
    actor = Actor(user_id=agent.id)
    async with runtime.transaction() as tx:
        tickets = [await tx.session.get(Ticket, i) for i in ids]
        record, target = await bulk.apply(tx, tickets, {}, actor, merge=True)
    assert target.id == ids[0]
    runtime.clock.advance(timedelta(minutes=5))
    async with runtime.transaction() as tx:
        result = await bulk.undo(tx, await tx.session.get(BulkChange, record.id), actor)
    assert result.tickets == 2
    assert {i: await _messages(runtime, i) for i in ids} == before
    async with runtime.read() as session:
        assert [(await session.get(Ticket, i)).merged_into_id for i in ids] == [None] * 3
