"""Live chats offered to agents, on SQLite and PostgreSQL: chat capacity, offers accepted,
declined, expired (with a moved clock) and passed on, transfers, the worker."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from routing import offers
from routing.actions import set_agent_profile, set_queue_routing
from routing.assign import set_presence
from routing.models import ChatOffer
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.models import Ticket, TicketHistory
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage
from tresen.runtime import ActionError, Runtime

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def clocked(runtime):
    runtime.clock = FrozenClock(START)
    return runtime


def chat(visitor: str, queue_id: int | None, text: str = "Hallo, wo bleibt meine Bestellung?"):
    return InboundMessage.model_validate(
        {
            "channel": "chat",
            "external_id": f"{visitor}:c1",
            "conversation_id": visitor,
            "from": {"kind": "chat", "value": f"visitor:{visitor}", "name": "Vera Visitor"},
            "subject": "Chat: " + text[:60],
            "text": text,
            "queue_id": queue_id,
        }
    )


def mail(number: int, queue_id: int | None):
    return InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": f"<m{number}@example.com>",
            "from": {"kind": "email", "value": f"kunde{number}@example.com"},
            "subject": f"Frage {number}",
            "text": "Bitte melden Sie sich.",
            "queue_id": queue_id,
        }
    )


async def agents(runtime, count: int, *, prefix: str = "agent", presence: str = "online"):
    users = [
        await create_user(
            runtime, email=f"{prefix}{n}@example.com", name=f"{prefix} {n}", role="agent"
        )
        for n in range(count)
    ]
    async with runtime.transaction() as tx:
        for user in users:
            await set_presence(tx, user.id, presence)
    return users


async def queue(runtime, name: str, members, mode: str = "round_robin") -> int:
    async with runtime.transaction() as tx:
        made = await create_queue(tx, name=name)
        await set_queue_routing(
            tx, made.id, mode=mode, members=[{"user_id": u.id, "role": "agent"} for u in members]
        )
        return made.id


async def assignee(runtime, ticket_id: int) -> int | None:
    async with runtime.read() as session:
        return (await session.get(Ticket, ticket_id)).assignee_id


async def offers_of(runtime, ticket_id: int) -> list[tuple[int, str]]:
    async with runtime.read() as session:
        rows = await session.execute(
            select(ChatOffer.agent_id, ChatOffer.state)
            .where(ChatOffer.ticket_id == ticket_id)
            .order_by(ChatOffer.id)
        )
        return [tuple(row) for row in rows]


async def events_until(queue, event_type: str, count: int = 1) -> list:
    """Events published up to the `count`th of `event_type` (through NOTIFY on PostgreSQL)."""
    seen, matching = [], 0
    while matching < count:
        event = await asyncio.wait_for(queue.get(), 10)
        seen.append(event)
        matching += event.type == event_type
    return seen


async def test_a_chat_is_assigned_offered_and_accepted_only_by_its_agent(clocked):
    runtime = clocked
    first, second = await agents(runtime, 2)
    support = await queue(runtime, "Support", [first, second])
    async with runtime.bus.subscribe() as events:
        received = await receive(runtime, chat("v1", support))
        published = await events_until(events, "chat.offered")
    ticket_id = received.ticket_id
    offered = [e for e in published if e.type == "chat.offered"][0]
    expires = (START + timedelta(seconds=30)).isoformat()
    assert offered.data == {"ticket_id": ticket_id, "agent_id": first.id, "expires_at": expires}
    assert await assignee(runtime, ticket_id) == first.id  # in their Chats view at once
    async with runtime.read() as session:
        [pending] = await offers.pending_offers(session, first.id)
        assert pending.ticket_id == ticket_id and pending.expires_at == START + timedelta(
            seconds=30
        )
        assert await offers.pending_offers(session, second.id) == []
        assert await offers.active_chats(session, first.id) == []  # not until accepted

    with pytest.raises(ActionError) as refused:
        async with runtime.transaction() as tx:
            await offers.accept_offer(tx, ticket_id, second)
    assert refused.value.forbidden
    async with runtime.bus.subscribe() as events:
        async with runtime.transaction() as tx:
            await offers.accept_offer(tx, ticket_id, first)
        answered = (await events_until(events, "chat.offer_answered"))[-1]
    assert answered.data == {"ticket_id": ticket_id, "agent_id": first.id, "state": "accepted"}
    assert await offers_of(runtime, ticket_id) == [(first.id, "accepted")]
    async with runtime.read() as session:
        assert await offers.pending_offers(session, first.id) == []
        [mine] = await offers.active_chats(session, first.id)
        assert mine.ticket_id == ticket_id and mine.offer_state == "accepted"
    # Accepted, it never expires.
    runtime.clock.advance(timedelta(minutes=5))
    assert await offers.expire_offers(runtime) == 0
    with pytest.raises(ActionError) as again:
        async with runtime.transaction() as tx:
            await offers.accept_offer(tx, ticket_id, first.id)
    assert again.value.conflict


async def test_an_expired_offer_goes_to_the_next_agent_then_the_chat_waits_unassigned(clocked):
    runtime = clocked
    first, second = await agents(runtime, 2)
    support = await queue(runtime, "Support", [first, second])
    ticket_id = (await receive(runtime, chat("v1", support))).ticket_id
    assert await assignee(runtime, ticket_id) == first.id

    runtime.clock.advance(timedelta(seconds=29))
    assert await offers.expire_offers(runtime) == 0  # still within its 30 seconds
    runtime.clock.advance(timedelta(seconds=2))
    assert await offers.expire_offers(runtime) == 1
    assert await assignee(runtime, ticket_id) == second.id
    assert await offers_of(runtime, ticket_id) == [(first.id, "expired"), (second.id, "offered")]
    async with runtime.read() as session:
        [pending] = await offers.pending_offers(session, second.id)
        assert pending.expires_at == runtime.clock.now() + timedelta(seconds=30)

    # The second lets it expire too: the first is not asked again; nobody is left.
    runtime.clock.advance(timedelta(seconds=31))
    assert await offers.expire_offers(runtime) == 1
    assert await assignee(runtime, ticket_id) is None
    assert await offers_of(runtime, ticket_id) == [(first.id, "expired"), (second.id, "expired")]
    async with runtime.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket.queue_id == support and ticket.state == "new"  # waits in its queue
        history = await session.scalars(
            select(TicketHistory.new_value).where(
                TicketHistory.ticket_id == ticket_id, TicketHistory.field == "assignee_id"
            )
        )
        assert list(history) == [str(first.id), str(second.id), None]
    # It is not offered to them again however much room they have; a colleague who joins
    # the queue gets it.
    assert await offers.offer_waiting(runtime) == 0
    [third] = await agents(runtime, 1, prefix="late")
    async with runtime.transaction() as tx:
        members = [{"user_id": u.id, "role": "agent"} for u in (first, second, third)]
        await set_queue_routing(tx, support, members=members)
    assert await offers.offer_waiting(runtime) == 1
    assert await assignee(runtime, ticket_id) == third.id
    assert (await offers_of(runtime, ticket_id))[-1] == (third.id, "offered")


async def test_a_declined_chat_goes_on_and_a_reassigned_one_is_not_passed_on(clocked):
    runtime = clocked
    first, second, third = await agents(runtime, 3)
    support = await queue(runtime, "Support", [first, second], mode="least_loaded")
    ticket_id = (await receive(runtime, chat("v1", support))).ticket_id
    taker = await assignee(runtime, ticket_id)
    other = second if taker == first.id else first
    with pytest.raises(ActionError):  # only the offered agent answers
        async with runtime.transaction() as tx:
            await offers.decline_offer(tx, ticket_id, other)
    async with runtime.transaction() as tx:
        assert await offers.decline_offer(tx, ticket_id, taker) == other.id
    assert await offers_of(runtime, ticket_id) == [(taker, "declined"), (other.id, "offered")]
    async with runtime.transaction() as tx:
        assert await offers.decline_offer(tx, ticket_id, other) is None
    assert await assignee(runtime, ticket_id) is None

    # A chat given to someone else by hand while offered is not passed on when it runs out.
    runtime.clock.advance(timedelta(minutes=1))
    second_chat = (await receive(runtime, chat("v2", support))).ticket_id
    offered_to = await assignee(runtime, second_chat)
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, second_chat)
        await update_ticket(tx, ticket, {"assignee_id": third.id}, Actor(user_id=third.id))
        await offers.before_commit(tx)  # the commit hook (tresen.rooms.COMMIT_HOOKS)
    assert await offers_of(runtime, second_chat) == [(offered_to, "withdrawn")]
    async with runtime.read() as session:
        assert await offers.pending_offers(session, offered_to) == []
    runtime.clock.advance(timedelta(seconds=31))
    assert await offers.expire_offers(runtime) == 0
    assert await assignee(runtime, second_chat) == third.id
    with pytest.raises(ActionError):
        async with runtime.transaction() as tx:
            await offers.accept_offer(tx, second_chat, offered_to)


async def test_chat_capacity_holds_chats_back_but_not_email(clocked):
    runtime = clocked
    [only] = await agents(runtime, 1)
    async with runtime.transaction() as tx:
        await set_agent_profile(tx, only.id, capacity=1, chat_capacity=1)
    support = await queue(runtime, "Support", [only], mode="least_loaded")
    first = (await receive(runtime, chat("v1", support))).ticket_id
    second = (await receive(runtime, chat("v2", support))).ticket_id
    assert await assignee(runtime, first) == only.id
    assert await assignee(runtime, second) is None  # at chat capacity: it waits
    email = (await receive(runtime, mail(1, support))).ticket_id
    assert await assignee(runtime, email) == only.id  # chats do not count against tickets
    assert await assignee(runtime, (await receive(runtime, mail(2, support))).ticket_id) is None
    # Without a chat capacity of their own the desk's default (set to 2 here) holds.
    async with runtime.transaction() as tx:
        await set_agent_profile(tx, only.id, capacity=1, chat_capacity=None)
    runtime.settings = replace(runtime.settings, chat_default_capacity=2)
    more = [(await receive(runtime, chat(f"w{n}", support))).ticket_id for n in range(2)]
    assert [await assignee(runtime, t) for t in more] == [only.id, None]
    # The profile keeps its chat capacity when a change leaves it out (the admin form).
    async with runtime.transaction() as tx:
        await set_agent_profile(tx, only.id, chat_capacity=2)
        row = await set_agent_profile(tx, only.id, capacity=4)
        assert row.chat_capacity == 2 and row.capacity == 4
    # A chat ends: the oldest waiting chat is offered to the agent who now has room.
    assert await offers.offer_waiting(runtime) == 0  # two chats of two
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first)
        await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=only.id))
    assert await offers.offer_waiting(runtime) == 1
    assert await assignee(runtime, second) == only.id
    assert await assignee(runtime, more[1]) is None
    assert await offers.offer_waiting(runtime) == 0


async def test_transfer_to_an_agent_and_to_a_queue(clocked):
    runtime = clocked
    first, second = await agents(runtime, 2)
    [billing_agent] = await agents(runtime, 1, prefix="billing")
    support = await queue(runtime, "Support", [first])
    billing = await queue(runtime, "Billing", [first, billing_agent])
    ticket_id = (await receive(runtime, chat("v1", support))).ticket_id
    async with runtime.transaction() as tx:
        await offers.accept_offer(tx, ticket_id, first)

    async with runtime.transaction() as tx:
        assert await offers.transfer_chat(tx, ticket_id, first, to_agent_id=second.id) == second.id
    assert await assignee(runtime, ticket_id) == second.id
    assert await offers_of(runtime, ticket_id) == [(first.id, "accepted"), (second.id, "offered")]
    async with runtime.read() as session:
        by = await session.scalar(
            select(TicketHistory.actor_user_id).where(
                TicketHistory.ticket_id == ticket_id, TicketHistory.new_value == str(second.id)
            )
        )
        assert by == first.id  # through the tickets room: history names who did it

    # To a queue: its routing picks someone, not the agent who has it now.
    async with runtime.transaction() as tx:
        await offers.accept_offer(tx, ticket_id, second)
    async with runtime.transaction() as tx:
        await offers.transfer_chat(tx, ticket_id, second, to_queue_id=billing)
    async with runtime.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket.queue_id == billing
        assert ticket.assignee_id in (first.id, billing_agent.id)
    assert (await offers_of(runtime, ticket_id))[-1] == (ticket.assignee_id, "offered")

    # A queue where only the current agent is free: it waits there, unassigned.
    holder = ticket.assignee_id
    with pytest.raises(ActionError):
        async with runtime.transaction() as tx:
            await offers.transfer_chat(tx, ticket_id, holder)  # neither agent nor queue
    solo = await queue(runtime, "Solo", [first if holder == first.id else billing_agent])
    async with runtime.transaction() as tx:
        assert await offers.transfer_chat(tx, ticket_id, holder, to_queue_id=solo) is None
    assert await assignee(runtime, ticket_id) is None
    assert (await offers_of(runtime, ticket_id))[-1] == (holder, "withdrawn")
    # An e-mail ticket is no chat to transfer.
    email = (await receive(runtime, mail(1, support))).ticket_id
    with pytest.raises(ActionError, match="not a live chat"):
        async with runtime.transaction() as tx:
            await offers.transfer_chat(tx, email, first, to_agent_id=second.id)


async def test_two_workers_pass_each_expired_chat_on_once(clocked, settings):
    runtime = clocked
    team = await agents(runtime, 4)
    support = await queue(runtime, "Support", team)
    tickets = [(await receive(runtime, chat(f"v{n}", support))).ticket_id for n in range(8)]
    runtime.clock.advance(timedelta(seconds=31))
    other = Runtime.create(settings, clock=runtime.clock)
    await other.start()
    try:
        counts = await asyncio.gather(
            offers.expire_offers(runtime, limit=3),
            offers.expire_offers(other, limit=3),
            offers.expire_offers(runtime, limit=3),
            offers.expire_offers(other, limit=3),
        )
    finally:
        await other.close()
    assert sum(counts) == 8
    for ticket_id in tickets:
        made = await offers_of(runtime, ticket_id)
        assert [state for _agent, state in made] == ["expired", "offered"], made
        assert made[0][0] != made[1][0]


async def test_the_worker_passes_on_an_offer_when_it_runs_out(clocked):
    runtime = clocked
    first, second = await agents(runtime, 2)
    support = await queue(runtime, "Support", [first, second])
    ticket_id = (await receive(runtime, chat("v1", support))).ticket_id
    worker = asyncio.create_task(offers.run(runtime))
    try:
        await asyncio.sleep(0.3)
        assert await assignee(runtime, ticket_id) == first.id
        runtime.clock.advance(timedelta(seconds=30))
        for _ in range(100):
            if await assignee(runtime, ticket_id) == second.id:
                break
            await asyncio.sleep(0.05)
        assert await assignee(runtime, ticket_id) == second.id
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


async def test_two_workers_offer_each_waiting_chat_once_within_capacity(clocked, settings):
    runtime = clocked
    team = await agents(runtime, 3, presence="offline")
    support = await queue(runtime, "Support", team, mode="least_loaded")
    tickets = [(await receive(runtime, chat(f"v{n}", support))).ticket_id for n in range(7)]
    assert [await assignee(runtime, t) for t in tickets] == [None] * 7  # nobody online
    async with runtime.transaction() as tx:
        for user in team:
            await set_agent_profile(tx, user.id, chat_capacity=2)
            await set_presence(tx, user.id, "online")
    other = Runtime.create(settings, clock=runtime.clock)
    await other.start()
    try:
        counts = await asyncio.gather(
            offers.offer_waiting(runtime), offers.offer_waiting(other), offers.offer_waiting(other)
        )
    finally:
        await other.close()
    assert sum(counts) == 6
    taken = [await assignee(runtime, t) for t in tickets]
    assert taken[6] is None  # the youngest waits: six places for seven chats
    assert sorted(taken[:6]) == sorted([u.id for u in team] * 2)
    for ticket_id in tickets[:6]:
        assert [state for _agent, state in await offers_of(runtime, ticket_id)] == ["offered"]


async def test_the_api_sets_and_keeps_an_agents_chat_capacity(client, runtime, admin_headers):
    [user] = await agents(runtime, 1)
    path = f"/api/v1/routing/agents/{user.id}"
    answer = await client.put(path, headers=admin_headers, json={"capacity": 5, "chat_capacity": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": user.id, "capacity": 5, "chat_capacity": 2, "skills": []}
    kept = await client.put(path, headers=admin_headers, json={"capacity": 6})
    assert kept.json()["chat_capacity"] == 2
    cleared = await client.put(path, headers=admin_headers, json={"chat_capacity": None})
    assert cleared.json()["chat_capacity"] is None  # the desk's default again
    refused = await client.put(path, headers=admin_headers, json={"chat_capacity": -1})
    assert refused.status_code == 422
