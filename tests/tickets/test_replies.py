"""Staff replies and notes: one action (`tickets.actions.reply`) for the console and the API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.fixtures import csrf_of, inbound_mail, sign_in
from tickets.actions import Actor, TicketError, reply
from tickets.inbox import receive
from tickets.macros import create_macro
from tickets.models import Message, OutboxMessage, Ticket
from tresen.accounts import create_user


async def _count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_a_macro_is_used_only_by_whom_it_belongs_to_and_may_change_alone(runtime, agent):
    received = await receive(runtime, inbound_mail("<reply-1@example.com>"))
    colleague = await create_user(
        runtime, email="ben@example.com", name="Ben", role="agent", password="ben-password"
    )
    async with runtime.transaction() as tx:
        own = await create_macro(tx, name="Bens Gruß", body="Gruß, Ben", owner_id=colleague.id)
        shared = await create_macro(
            tx, name="Warten", body="", actions={"state": "pending", "add_tags": ["wartet"]}
        )
        retired = await create_macro(tx, name="Alt", body="alt")
        retired.active = False
    messages = await _count(runtime, Message)
    for refused in (own.id, retired.id, 999_999):
        with pytest.raises(TicketError, match="does not exist"):
            async with runtime.transaction() as tx:
                ticket = await tx.session.get(Ticket, received.ticket_id)
                await reply(tx, ticket, Actor(user_id=agent.id), text="Hallo", macro_id=refused)
    assert await _count(runtime, Message) == messages

    # A macro alone (no text, no files) changes the ticket and writes no message.
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, received.ticket_id)
        done = await reply(tx, ticket, Actor(user_id=agent.id), macro_id=shared.id)
    assert done.message is None and set(done.changed) == {"state", "tags"}
    assert await _count(runtime, Message) == messages
    async with runtime.read() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        assert (ticket.state, ticket.tags) == ("pending", ["wartet"])


async def test_a_note_goes_nowhere_even_when_an_address_is_chosen(runtime, agent):
    received = await receive(runtime, inbound_mail("<reply-2@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, received.ticket_id)
        done = await reply(
            tx,
            ticket,
            Actor(user_id=agent.id),
            text="Nur für uns",
            internal=True,
            channel="email",
            recipient="kim@example.com",
        )
    assert done.message.internal and done.message.recipient is None
    assert await _count(runtime, OutboxMessage) == 0
    with pytest.raises(TicketError, match="identities"):
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, received.ticket_id)
            await reply(
                tx, ticket, Actor(user_id=agent.id), text="Hallo", recipient="fremd@example.com"
            )
    assert await _count(runtime, OutboxMessage) == 0


async def test_the_console_refuses_another_agents_macro(client, runtime, agent):
    received = await receive(runtime, inbound_mail("<reply-3@example.com>"))
    colleague = await create_user(
        runtime, email="ben@example.com", name="Ben", role="agent", password="ben-password"
    )
    async with runtime.transaction() as tx:
        own = await create_macro(tx, name="Bens Gruß", body="Gruß, Ben", owner_id=colleague.id)
    await sign_in(client)
    page = await client.get(f"/tickets/{received.ticket_id}")
    sent = await client.post(
        f"/tickets/{received.ticket_id}/messages",
        data={"text": "Hallo", "macro_id": str(own.id), "csrf_token": csrf_of(page.text)},
    )
    assert sent.status_code == 422 and f"macro {own.id} does not exist" in sent.text
    note = await client.post(
        f"/tickets/{received.ticket_id}/messages",
        data={"text": "Intern", "internal": "on", "csrf_token": csrf_of(page.text)},
    )
    assert note.status_code == 303
    assert await _count(runtime, OutboxMessage) == 0
