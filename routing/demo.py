"""Demo routing: office hours in Munich, two SLA policies, rules, queue modes, agents online.

Seeded before any demo message arrives, so every demo ticket is routed by these rules (its
"why it is here" names them); `settle` runs last and brings the SLA clocks of what arrived
"hours ago" up to now.
"""

from __future__ import annotations

from sqlalchemy import select

from routing.actions import create_calendar, create_rule, create_sla_policy, set_queue_routing
from routing.assign import set_presence
from routing.clocks import recompute
from routing.models import TicketSla
from tickets.models import Queue, Ticket
from tickets.states import OPEN_STATES
from tresen.models import User

ESCALATION = {
    "warning": [{"action": "notify"}],
    "breach": [{"action": "notify"}, {"action": "raise_priority"}],
}


async def seed(runtime) -> None:
    async with runtime.transaction() as tx:
        users = {user.email: user.id for user in await tx.session.scalars(select(User))}
        queues = {queue.name: queue.id for queue in await tx.session.scalars(select(Queue))}
        calendar = await create_calendar(
            tx,
            name="Munich office",
            weekly={str(day): [["08:00", "18:00"]] for day in range(5)},
            country="DE",
            subdivision="BY",
            is_default=True,
        )
        policy = await create_sla_policy(
            tx,
            name="Standard",
            calendar_id=calendar.id,
            targets={
                "urgent": {"first_response": 30, "next_response": 60, "resolution": 240},
                "high": {"first_response": 60, "next_response": 120, "resolution": 480},
                "normal": {"first_response": 240, "next_response": 480, "resolution": 1440},
                "low": {"first_response": 480, "next_response": 960, "resolution": 2880},
            },
            warn_before_minutes=30,
            escalation=ESCALATION,
        )
        # No calendar: its clocks run day and night, so the demo's board shows a clock at
        # risk and one breached whenever it is started.
        premium = await create_sla_policy(
            tx,
            name="Premium (around the clock)",
            targets={
                "urgent": {"first_response": 30, "next_response": 60, "resolution": 240},
                "high": {"first_response": 60, "next_response": 120, "resolution": 480},
                "normal": {"first_response": 120, "next_response": 240, "resolution": 1440},
                "low": {"first_response": 240, "next_response": 480, "resolution": 2880},
            },
            warn_before_minutes=30,
            escalation=ESCALATION,
        )
        agents = [users["agent@demo.tresen.test"], users["lena@demo.tresen.test"]]
        supervisor = users["supervisor@demo.tresen.test"]
        for name, mode in (("Support", "round_robin"), ("Billing", "least_loaded")):
            await set_queue_routing(
                tx,
                queues[name],
                mode=mode,
                sla_policy_id=policy.id,
                members=[{"user_id": agent, "role": "agent"} for agent in agents]
                + [{"user_id": supervisor, "role": "supervisor"}],
            )
        # In order: a later rule overrides an earlier one's queue.
        await create_rule(
            tx,
            name="Everything to Support, under the Standard SLA",
            conditions=[],
            actions={"queue_id": queues["Support"], "sla_policy_id": policy.id},
        )
        await create_rule(
            tx,
            name="Premium and VIP customers around the clock",
            conditions=[{"field": "tier", "operator": "in", "value": ["premium", "vip"]}],
            actions={"sla_policy_id": premium.id},
        )
        await create_rule(
            tx,
            name="Invoices to Billing",
            conditions=[
                {"field": "text", "operator": "contains", "value": ["rechnung", "invoice"]}
            ],
            actions={"queue_id": queues["Billing"], "tags": ["billing"]},
        )
        await create_rule(
            tx,
            name="Urgent words",
            conditions=[
                {"field": "subject", "operator": "matches", "value": r"dringend|urgent|asap"}
            ],
            actions={"priority": "urgent"},
        )
        for agent in agents:
            await set_presence(tx, agent, "online")


async def settle(runtime) -> None:
    """The clocks of the open tickets as of now (what arrived earlier was timed then)."""
    async with runtime.transaction() as tx:
        open_ids = list(
            await tx.session.scalars(
                select(Ticket.id)
                .join(TicketSla, TicketSla.ticket_id == Ticket.id)
                .where(Ticket.state.in_(OPEN_STATES))
            )
        )
        if open_ids:
            await recompute(tx, open_ids)
