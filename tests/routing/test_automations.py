"""Time-based automations: with a controllable clock, each ticket is acted on once per
automation and condition episode, and each run is written on the ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from routing.automation_models import Automation
from routing.automations import AUTOMATION_FIELDS, TIME_FIELDS, check
from routing.triggers import AutomationError, save
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.models import Message, TicketHistory
from tickets.queries import get_ticket
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def clocked(runtime):
    runtime.clock = FrozenClock(START)
    return runtime


def mail(external_id: str, subject: str) -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": "kim@example.com"},
            "subject": subject,
            "text": "Please help.",
        }
    )


async def make(runtime, name, conditions, actions) -> int:
    async with runtime.transaction() as tx:
        row = await save(
            tx,
            Automation,
            None,
            {"name": name, "conditions": conditions, "actions": actions},
            fields=AUTOMATION_FIELDS,
            numbers=TIME_FIELDS,
        )
        return row.id


async def set_state(runtime, ticket_id, state, user_id):
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, ticket_id)
        await update_ticket(tx, ticket, {"state": state}, Actor(user_id=user_id))


async def runs_on(runtime, ticket_id) -> list[str]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(TicketHistory.old_value)
                .where(TicketHistory.ticket_id == ticket_id, TicketHistory.field == "automation")
                .order_by(TicketHistory.id)
            )
        )


PENDING_A_WEEK = [
    {"field": "state", "operator": "is", "value": "pending"},
    {"field": "hours_in_state", "operator": "at_least", "value": 168},
]


async def test_pending_for_a_week_reminds_once_per_episode_then_closes(clocked, agent):
    runtime = clocked
    await make(
        runtime,
        "Remind",
        PENDING_A_WEEK,
        {"message": {"en": "Still there, {{customer.first_name}}?"}, "add_tags": ["reminded"]},
    )
    await make(
        runtime,
        "Close",
        [
            {"field": "state", "operator": "is", "value": "pending"},
            {"field": "hours_in_state", "operator": "at_least", "value": 240},
        ],
        {"state": "closed"},
    )
    ticket_id = (await receive(runtime, mail("a1", "Printer"))).ticket_id
    other_id = (await receive(runtime, mail("a2", "Scanner"))).ticket_id  # stays open
    await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(hours=100))
    assert await check(runtime) == 0
    runtime.clock.advance(timedelta(hours=69))  # 169 hours pending
    assert await check(runtime) == 1
    assert await check(runtime) == 0  # the same episode: not again
    async with runtime.read() as session:
        ticket = await get_ticket(session, ticket_id)
        reminders = (
            await session.scalars(
                select(Message.text).where(
                    Message.ticket_id == ticket_id, Message.direction == "outbound"
                )
            )
        ).all()
    assert ticket.tags == ["reminded"] and ticket.state == "pending"
    assert any("Still there" in text for text in reminders)
    assert await runs_on(runtime, other_id) == []
    runtime.clock.advance(timedelta(hours=72))  # 241 hours pending
    assert await check(runtime) == 1
    async with runtime.read() as session:
        assert (await get_ticket(session, ticket_id)).state == "closed"
    assert await runs_on(runtime, ticket_id) == ["Remind", "Close"]


async def test_a_new_episode_acts_again(clocked, agent):
    runtime = clocked
    await make(runtime, "Remind", PENDING_A_WEEK, {"add_tags": ["reminded"]})
    ticket_id = (await receive(runtime, mail("b1", "Printer"))).ticket_id
    await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(hours=170))
    assert await check(runtime) == 1
    await set_state(runtime, ticket_id, "open", agent.id)
    runtime.clock.advance(timedelta(hours=1))
    await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(hours=100))
    assert await check(runtime) == 0  # pending again, but not for a week yet
    runtime.clock.advance(timedelta(hours=70))
    assert await check(runtime) == 1
    assert await runs_on(runtime, ticket_id) == ["Remind", "Remind"]


async def test_switched_off_automations_do_nothing(clocked, agent):
    runtime = clocked
    automation_id = await make(runtime, "Remind", PENDING_A_WEEK, {"add_tags": ["reminded"]})
    async with runtime.transaction() as tx:
        (await tx.session.get(Automation, automation_id)).active = False
    ticket_id = (await receive(runtime, mail("c1", "Printer"))).ticket_id
    await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(days=30))
    assert await check(runtime) == 0


async def test_hours_need_a_number_comparison(runtime):
    async with runtime.transaction() as tx:
        with pytest.raises(AutomationError) as refused:
            await save(
                tx,
                Automation,
                None,
                {
                    "name": "x",
                    "conditions": [{"field": "hours_in_state", "operator": "is", "value": 3}],
                    "actions": {"state": "closed"},
                },
                fields=AUTOMATION_FIELDS,
                numbers=TIME_FIELDS,
            )
    assert refused.value.field == "conditions" and "hours" in str(refused.value)


async def test_every_ticket_is_reached_however_many_were_done_before(clocked, agent, monkeypatch):
    runtime = clocked
    monkeypatch.setattr("routing.automations.BATCH", 2)  # small batches: five tickets, three
    await make(runtime, "Remind", PENDING_A_WEEK, {"add_tags": ["reminded"]})
    ids = [(await receive(runtime, mail(f"d{n}", f"Question {n}"))).ticket_id for n in range(5)]
    for ticket_id in ids[:3]:
        await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(hours=170))
    assert await check(runtime) == 3
    for ticket_id in ids[3:]:
        await set_state(runtime, ticket_id, "pending", agent.id)
    runtime.clock.advance(timedelta(hours=170))
    assert await check(runtime) == 2  # behind the three done ones: reached all the same
    assert await check(runtime) == 0
