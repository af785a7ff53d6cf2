"""The ticket's SLA due and warning times follow its clocks (set through tickets.deadlines)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from routing.actions import create_rule, create_sla_policy
from routing.models import SlaClock
from tickets.inbox import receive
from tickets.models import Ticket
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


async def test_a_routed_ticket_keeps_its_earliest_running_due_and_warning_time(runtime):
    runtime.clock = FrozenClock(MONDAY)
    async with runtime.transaction() as tx:
        policy = await create_sla_policy(
            tx,
            name="Round the clock",
            targets={"normal": {"first_response": 60, "resolution": 480}},
            warn_before_minutes=15,
        )
        await create_rule(tx, name="SLA", conditions=[], actions={"sla_policy_id": policy.id})
    async with runtime.bus.subscribe() as queue:
        received = await receive(
            runtime,
            InboundMessage.model_validate(
                {
                    "channel": "email",
                    "external_id": "<due-1@example.com>",
                    "from": {"kind": "email", "value": "kim@example.com"},
                    "subject": "Drucker",
                    "text": "Seit heute druckt unser Drucker nicht mehr.",
                }
            ),
        )
        # On PostgreSQL events come back through NOTIFY: wait for the last of the transaction.
        published = []
        while not published or published[-1].data.get("fields") != ["sla"]:
            published.append(await asyncio.wait_for(queue.get(), 10))
    async with runtime.read() as session:
        ticket = await session.get(Ticket, received.ticket_id)
        clocks = {
            row.target: row
            for row in await session.scalars(
                select(SlaClock).where(SlaClock.ticket_id == ticket.id)
            )
        }
    assert clocks["first_response"].due_at == MONDAY + timedelta(hours=1)
    assert (ticket.sla_due_at, ticket.sla_warn_at) == (
        MONDAY + timedelta(hours=1),
        MONDAY + timedelta(minutes=45),
    )
    # The due times need no event of their own: the ticket's events of that transaction
    # (created, and updated with "sla") already send every console to show it again.
    ticket_events = [
        (e.type, e.data.get("fields")) for e in published if e.type.startswith("ticket.")
    ]
    assert ("ticket.created", None) in ticket_events
    assert ("ticket.updated", ["sla"]) in ticket_events
