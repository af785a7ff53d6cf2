"""Whether a queue takes a live chat now, on SQLite and PostgreSQL: its calendar (hours, a
German public holiday), agents online, all busy with an expected wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.actions import (
    create_calendar,
    create_sla_policy,
    set_agent_profile,
    set_queue_routing,
)
from routing.assign import set_presence
from routing.availability import availability
from tests.routing.test_chat_offers import agents, chat, queue
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.models import Ticket
from tickets.queues import create_queue
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {str(day): [["09:00", "17:00"]] for day in range(5)}


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN).astimezone(UTC)


async def ask(runtime, queue_id, now=None, **options) -> dict:
    async with runtime.read() as session:
        return await availability(session, queue_id, now or runtime.clock.now(), **options)


async def office_queue(runtime, members, *, subdivision=None) -> int:
    """A queue whose SLA policy runs on office hours (Monday to Friday 9 to 17, Berlin)."""
    queue_id = await queue(runtime, "Office", members)
    async with runtime.transaction() as tx:
        calendar = await create_calendar(
            tx, name="Office hours", weekly=OFFICE, country="DE", subdivision=subdivision
        )
        policy = await create_sla_policy(
            tx,
            name="Office",
            targets={"normal": {"first_response": 60}},
            calendar_id=calendar.id,
        )
        await set_queue_routing(tx, queue_id, sla_policy_id=policy.id)
    return queue_id


async def test_closed_outside_the_queues_hours_and_on_a_german_holiday(runtime):
    team = await agents(runtime, 1)
    office = await office_queue(runtime, team, subdivision="BY")
    # Wednesday 20:00 in Berlin: closed, opens Thursday at 9 (8:00 UTC in winter).
    evening = await ask(runtime, office, berlin(2026, 12, 2, 20, 0))
    assert evening == {
        "available": False,
        "reason": "closed",
        "expected_wait_seconds": None,
        "opens_at": berlin(2026, 12, 3, 9, 0).isoformat(),
    }
    assert evening["opens_at"] == "2026-12-03T08:00:00+00:00"
    # Christmas Day is a Friday, a public holiday; the 26th too (and a Saturday): Monday.
    christmas = await ask(runtime, office, berlin(2026, 12, 25, 10, 0))
    assert christmas["reason"] == "closed"
    assert christmas["opens_at"] == berlin(2026, 12, 28, 9, 0).isoformat()
    # Epiphany (6 January) is a holiday in Bavaria: the queue opens on the 7th.
    epiphany = await ask(runtime, office, berlin(2027, 1, 6, 11, 0))
    assert epiphany["reason"] == "closed"
    assert epiphany["opens_at"] == berlin(2027, 1, 7, 9, 0).isoformat()
    # Within its hours, with an agent online: open.
    open_now = await ask(runtime, office, berlin(2026, 12, 2, 10, 0))
    assert open_now == {
        "available": True,
        "reason": None,
        "expected_wait_seconds": None,
        "opens_at": None,
    }


async def test_a_queue_without_a_calendar_follows_the_default_one_else_is_always_open(runtime):
    team = await agents(runtime, 1)
    plain = await queue(runtime, "Plain", team)
    night = berlin(2026, 12, 2, 23, 30)
    assert (await ask(runtime, plain, night))["available"] is True  # round the clock
    assert (await ask(runtime, None, night))["available"] is True
    async with runtime.transaction() as tx:
        await create_calendar(tx, name="Desk", weekly=OFFICE, is_default=True)
    for queue_id in (plain, None):
        closed = await ask(runtime, queue_id, night)
        assert closed["reason"] == "closed"
        assert closed["opens_at"] == berlin(2026, 12, 3, 9, 0).isoformat()


async def test_no_agents_online_in_the_queue(runtime):
    away = await agents(runtime, 2, presence="away")
    [elsewhere] = await agents(runtime, 1, prefix="other")
    support = await queue(runtime, "Support", away)
    await queue(runtime, "Other", [elsewhere])
    answer = await ask(runtime, support)
    assert answer == {
        "available": False,
        "reason": "no_agents",
        "expected_wait_seconds": None,
        "opens_at": None,
    }
    assert (await ask(runtime, None))["available"] is True  # someone online in any queue
    async with runtime.transaction() as tx:
        empty = await create_queue(tx, name="Nobody")
        await set_presence(tx, away[0].id, "online")
    assert (await ask(runtime, empty.id))["reason"] == "no_agents"
    assert (await ask(runtime, support))["available"] is True


async def finished_chat(runtime, queue_id: int, visitor: str, minutes: int) -> None:
    """A chat in the queue whose messages span `minutes`, then solved."""
    base = {
        "channel": "chat",
        "conversation_id": visitor,
        "from": {"kind": "chat", "value": f"visitor:{visitor}"},
        "subject": "Chat: Hallo",
        "queue_id": queue_id,
    }
    first = await receive(
        runtime, InboundMessage.model_validate({**base, "external_id": f"{visitor}:1", "text": "a"})
    )
    runtime.clock.advance(timedelta(minutes=minutes))
    await receive(
        runtime, InboundMessage.model_validate({**base, "external_id": f"{visitor}:2", "text": "b"})
    )
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first.ticket_id)
        await update_ticket(tx, ticket, {"state": "solved"}, Actor())


async def test_busy_agents_give_an_expected_wait(runtime):
    runtime.clock = FrozenClock(berlin(2026, 12, 2, 10, 0))
    team = await agents(runtime, 2)
    async with runtime.transaction() as tx:
        for user in team:
            await set_agent_profile(tx, user.id, chat_capacity=1)
    support = await queue(runtime, "Support", team)
    # Nobody finished a chat yet: five minutes a chat is assumed.
    for visitor in ("v1", "v2"):
        await receive(runtime, chat(visitor, support))
    answer = await ask(runtime, support)
    assert answer == {
        "available": True,
        "reason": "busy",
        "expected_wait_seconds": 150,  # (0 waiting + this one) × 300 s / 2 agents online
        "opens_at": None,
    }
    await receive(runtime, chat("v3", support))  # waits: both are at their chat capacity
    assert (await ask(runtime, support))["expected_wait_seconds"] == 300  # 2 × 300 / 2
    # Finished chats of this queue give the average: 10 and 5 minutes, 450 s.
    other = await queue(runtime, "Other", [])
    await finished_chat(runtime, support, "done-1", 10)
    await finished_chat(runtime, support, "done-2", 5)
    await finished_chat(runtime, other, "done-3", 60)  # another queue's: not counted
    # (v3 still waits; done-1 and done-2 took no agent: both at capacity.)
    assert (await ask(runtime, support))["expected_wait_seconds"] == 450  # 2 × 450 / 2
    # The desk's default chat capacity where a profile sets none.
    async with runtime.transaction() as tx:
        await set_agent_profile(tx, team[0].id, chat_capacity=None)
    assert (await ask(runtime, support, chat_default_capacity=1))["reason"] == "busy"
    assert (await ask(runtime, support, chat_default_capacity=2))["reason"] is None
