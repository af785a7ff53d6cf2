"""SLA clocks on tickets and the scheduler, with a controllable clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from routing.actions import create_calendar, create_rule, create_sla_policy, set_queue_routing
from routing.models import SlaClock, SlaEvent
from routing.scheduler import fire_due
from tickets.actions import Actor, add_message, update_ticket
from tickets.inbox import receive
from tickets.models import Ticket
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage
from tresen.models import Notification
from tresen.runtime import Runtime

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN).astimezone(UTC)


def mail(external_id: str, sender: str = "kim@example.com", **fields) -> InboundMessage:
    body = {
        "channel": "email",
        "external_id": external_id,
        "from": {"kind": "email", "value": sender},
        "subject": "Drucker druckt nicht",
        "text": "Seit heute druckt unser Drucker nicht mehr.",
    }
    body.update(fields)
    return InboundMessage.model_validate(body)


@pytest.fixture
async def clocked(runtime):
    runtime.clock = FrozenClock(berlin(2026, 12, 24, 16, 30))
    return runtime


async def office_policy(runtime, *, escalation=None, **targets) -> int:
    async with runtime.transaction() as tx:
        calendar = await create_calendar(
            tx,
            name="Munich office",
            weekly={str(day): [["09:00", "17:00"]] for day in range(5)},
            country="DE",
            subdivision="BY",
            is_default=True,
        )
        policy = await create_sla_policy(
            tx,
            name="Office hours",
            calendar_id=calendar.id,
            targets={"normal": targets or {"first_response": 60, "resolution": 480}},
            warn_before_minutes=15,
            escalation=escalation,
        )
        await create_rule(tx, name="SLA", conditions=[], actions={"sla_policy_id": policy.id})
        return policy.id


async def clocks(runtime, ticket_id: int) -> dict[str, SlaClock]:
    async with runtime.read() as session:
        rows = await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id))
        return {row.target: row for row in rows}


async def events(runtime) -> list[tuple[int, str, str]]:
    async with runtime.read() as session:
        rows = await session.execute(
            select(SlaEvent.ticket_id, SlaEvent.target, SlaEvent.kind).order_by(SlaEvent.id)
        )
        return [tuple(row) for row in rows]


async def test_due_times_skip_christmas_and_the_weekend_and_fire_once(clocked):
    runtime = clocked
    agent = await create_user(runtime, email="a@example.com", name="Anna", role="agent")
    supervisor = await create_user(runtime, email="s@example.com", name="Sam", role="supervisor")
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        await set_queue_routing(
            tx,
            queue.id,
            members=[
                {"user_id": agent.id, "role": "agent"},
                {"user_id": supervisor.id, "role": "supervisor"},
            ],
        )
    await office_policy(
        runtime,
        escalation={
            "warning": [{"action": "notify"}],
            "breach": [{"action": "notify"}, {"action": "raise_priority"}],
        },
    )
    result = await receive(runtime, mail("<x1@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, result.ticket_id)
        await update_ticket(
            tx, ticket, {"queue_id": queue.id, "assignee_id": agent.id}, Actor(user_id=agent.id)
        )
    # Thursday 16:30, Christmas Eve: 30 minutes that day; the 25th and 26th are holidays,
    # then the weekend: the other 30 minutes run on Monday the 28th.
    stored = await clocks(runtime, ticket.id)
    assert stored["first_response"].due_at == berlin(2026, 12, 28, 9, 30)
    assert stored["first_response"].warn_at == berlin(2026, 12, 28, 9, 15)
    # 8 business hours: 0.5 on Thursday, 7.5 on Monday -> Monday 16:30.
    assert stored["resolution"].due_at == berlin(2026, 12, 28, 16, 30)

    runtime.clock.advance(berlin(2026, 12, 28, 9, 14, 59) - runtime.clock.now())
    assert await fire_due(runtime) == []
    runtime.clock.advance(timedelta(seconds=1))
    fired = await fire_due(runtime)
    assert [(f.target, f.kind) for f in fired] == [("first_response", "warning")]
    assert await fire_due(runtime) == []
    runtime.clock.advance(timedelta(minutes=15))
    fired = await fire_due(runtime)
    assert [(f.target, f.kind) for f in fired] == [("first_response", "breach")]
    runtime.clock.advance(timedelta(hours=1))
    assert await fire_due(runtime) == []
    assert await events(runtime) == [
        (ticket.id, "first_response", "warning"),
        (ticket.id, "first_response", "breach"),
    ]
    async with runtime.read() as session:
        ticket = await session.get(Ticket, ticket.id)
        assert ticket.priority == "high"  # raised by the breach
        notified = list(
            await session.execute(
                select(Notification.user_id, Notification.kind).order_by(Notification.id)
            )
        )
    assert sorted(notified) == sorted(
        [
            (agent.id, "sla.warning"),
            (supervisor.id, "sla.warning"),
            (agent.id, "sla.breach"),
            (supervisor.id, "sla.breach"),
        ]
    )
    # The raised priority has no target in this policy: its clocks go, nothing more fires.
    runtime.clock.advance(timedelta(days=3))
    assert await fire_due(runtime) == []


async def test_an_agent_reply_meets_the_first_response_and_a_customer_message_starts_the_next(
    clocked,
):
    runtime = clocked
    runtime.clock.advance(berlin(2026, 12, 28, 10, 0) - runtime.clock.now())  # Monday 10:00
    agent = await create_user(runtime, email="a@example.com", name="Anna", role="agent")
    await office_policy(runtime, first_response=60, next_response=120, resolution=960)
    result = await receive(runtime, mail("<n1@example.com>"))
    runtime.clock.advance(timedelta(minutes=20))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, result.ticket_id)
        await add_message(
            tx,
            ticket,
            direction="outbound",
            text="Bitte neu starten.",
            actor=Actor(user_id=agent.id),
        )
        await update_ticket(tx, ticket, {"state": "pending"}, Actor(user_id=agent.id))
    stored = await clocks(runtime, ticket.id)
    assert stored["first_response"].met_at == berlin(2026, 12, 28, 10, 20)
    assert stored["first_response"].next_fire_at is None
    assert "next_response" not in stored
    # Pending pauses the resolution clock: no due time while paused.
    assert stored["resolution"].paused and stored["resolution"].due_at is None
    # The customer answers on Tuesday at 9:00 (the ticket opens again): next response runs.
    runtime.clock.advance(berlin(2026, 12, 29, 9, 0) - runtime.clock.now())
    await receive(
        runtime,
        mail(
            "<n2@example.com>", subject="Re: Drucker druckt nicht", in_reply_to="<n1@example.com>"
        ),
    )
    stored = await clocks(runtime, ticket.id)
    assert stored["next_response"].started_at == berlin(2026, 12, 29, 9, 0)
    assert stored["next_response"].due_at == berlin(2026, 12, 29, 11, 0)
    # Resolution: 20 minutes on Monday, paused from 10:20 Monday to 9:00 Tuesday;
    # 16 business hours minus 20 minutes left: 8 on Tuesday, 7:40 on Wednesday -> 16:40.
    assert not stored["resolution"].paused
    assert stored["resolution"].due_at == berlin(2026, 12, 30, 16, 40)
    runtime.clock.advance(timedelta(hours=2))
    fired = await fire_due(runtime)
    assert [(f.target, f.kind) for f in fired] == [("next_response", "breach")]
    # A late reply meets the clock; the breach stays recorded and does not fire again.
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket.id)
        await add_message(
            tx, ticket, direction="outbound", text="Erledigt?", actor=Actor(user_id=agent.id)
        )
    stored = await clocks(runtime, ticket.id)
    assert stored["next_response"].met_at is not None
    assert stored["next_response"].breached_at is not None
    assert await fire_due(runtime) == []


async def test_two_workers_fire_each_warning_and_breach_exactly_once(clocked, settings):
    runtime = clocked
    await office_policy(runtime, first_response=60)
    tickets = []
    for number in range(40):
        result = await receive(runtime, mail(f"<w{number}@example.com>", sender=f"w{number}@x.de"))
        tickets.append(result.ticket_id)
    other = Runtime.create(settings, clock=runtime.clock)
    await other.start()
    try:
        seen = []
        for moment in (berlin(2026, 12, 28, 9, 15), berlin(2026, 12, 28, 9, 30)):
            runtime.clock.advance(moment - runtime.clock.now())
            batches = await asyncio.gather(
                *(fire_due(worker, limit=7) for worker in [runtime, other] * 6)
            )
            seen.extend((f.ticket_id, f.kind) for batch in batches for f in batch)
            while True:  # anything the limits left, in further rounds
                more = await asyncio.gather(fire_due(runtime, limit=7), fire_due(other, limit=7))
                if not any(more):
                    break
                seen.extend((f.ticket_id, f.kind) for batch in more for f in batch)
    finally:
        await other.close()
    assert sorted(seen) == sorted(
        [(ticket_id, kind) for ticket_id in tickets for kind in ("warning", "breach")]
    )
    async with runtime.read() as session:
        assert await session.scalar(select(func.count()).select_from(SlaEvent)) == 80


async def test_a_clock_that_fails_to_fire_holds_up_no_other_and_is_tried_again(
    clocked, monkeypatch
):
    from routing import scheduler

    runtime = clocked
    await office_policy(runtime, first_response=60)
    first = await receive(runtime, mail("<f1@example.com>", sender="a@x.de"))
    second = await receive(runtime, mail("<f2@example.com>", sender="b@x.de"))
    real = scheduler.escalate

    async def broken(tx, clock, fired):
        if fired.ticket_id == first.ticket_id:
            raise RuntimeError("mail server on fire")
        return await real(tx, clock, fired)

    monkeypatch.setattr(scheduler, "escalate", broken)
    runtime.clock.advance(berlin(2026, 12, 28, 9, 15) - runtime.clock.now())
    fired = await fire_due(runtime)
    assert [(f.ticket_id, f.kind) for f in fired] == [(second.ticket_id, "warning")]
    assert await events(runtime) == [(second.ticket_id, "first_response", "warning")]
    monkeypatch.setattr(scheduler, "escalate", real)
    assert await fire_due(runtime) == []  # not before its retry time
    runtime.clock.advance(timedelta(minutes=1))
    fired = await fire_due(runtime)
    assert [(f.ticket_id, f.kind) for f in fired] == [(first.ticket_id, "warning")]


async def test_escalation_notices_go_by_mail_once(clocked, smtp_server):
    from channels.email.accounts import create_account
    from tickets.outbox import deliver_due
    from tresen.handlers import run_due

    runtime = clocked
    agent = await create_user(runtime, email="anna@example.com", name="Anna", role="agent")
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    await office_policy(runtime, first_response=60)
    result = await receive(runtime, mail("<m1@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, result.ticket_id)
        await update_ticket(tx, ticket, {"assignee_id": agent.id}, Actor(user_id=agent.id))
    runtime.clock.advance(berlin(2026, 12, 28, 9, 15) - runtime.clock.now())
    await fire_due(runtime)
    assert await run_due(runtime) >= 1  # the mail is queued in the outbox
    assert await deliver_due(runtime) == 1
    assert await run_due(runtime) == 0 and await deliver_due(runtime) == 0  # sent once
    [sent] = smtp_server.messages()
    assert sent["To"] == "anna@example.com"
    assert f"Ticket #{ticket.number}" in sent["Subject"] and "[#" not in sent["Subject"]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert f"/tickets/{ticket.id}" in sent.get_body(("plain",)).get_content()
    async with runtime.read() as session:
        [notice] = list(await session.scalars(select(Notification)))
    assert notice.email_status == "sent"
