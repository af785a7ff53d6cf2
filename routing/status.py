"""What routing shows: a ticket's SLA status and routing decisions, and the rules preview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.config import load
from routing.facts import facts_for, reading_of
from routing.models import RoutingDecision, SlaClock, SlaEvent, SlaPolicyRow, TicketSla
from routing.rules import evaluate
from tickets.models import Queue
from tresen.i18n import _
from tresen.models import User

TARGET_ORDER = ("first_response", "next_response", "resolution")


def target_name(target: str) -> str:
    """An SLA target's name in the reader's language."""
    names = {
        "first_response": _("first response"),
        "next_response": _("next response"),
        "resolution": _("resolution"),
    }
    return names.get(target, target)


@dataclass(frozen=True)
class ClockView:
    target: str
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    paused: bool
    met_at: datetime | None
    breached: bool
    remaining: timedelta | None  # time left (negative: overdue); None when met or paused

    @property
    def state(self) -> str:
        if self.met_at is not None:
            return "breached" if self.breached else "met"
        if self.paused:
            return "paused"
        if self.breached or (self.remaining is not None and self.remaining <= timedelta(0)):
            return "overdue"
        if self.warn_at is not None and self.remaining is not None and self.due_at is not None:
            if self.due_at - self.remaining >= self.warn_at:
                return "warning"
        return "running"

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "warn_at": self.warn_at.isoformat() if self.warn_at else None,
            "paused": self.paused,
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "breached": self.breached,
            "seconds_left": int(self.remaining.total_seconds()) if self.remaining else None,
        }


async def sla_status(session: AsyncSession, ticket_id: int, now: datetime) -> dict | None:
    """The ticket's policy and each clock's due time, time left or overdue, paused or not."""
    policy = (
        await session.execute(
            select(SlaPolicyRow.id, SlaPolicyRow.name)
            .join(TicketSla, TicketSla.policy_id == SlaPolicyRow.id)
            .where(TicketSla.ticket_id == ticket_id)
        )
    ).one_or_none()
    if policy is None:
        return None
    rows = await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id))
    views = []
    for row in rows:
        remaining = None
        if row.met_at is None and not row.paused and row.due_at is not None:
            remaining = row.due_at - now
        views.append(
            ClockView(
                target=row.target,
                started_at=row.started_at,
                due_at=row.due_at,
                warn_at=row.warn_at,
                paused=row.paused,
                met_at=row.met_at,
                breached=row.breached_at is not None
                or (row.met_at is not None and row.elapsed_seconds > row.allowed_seconds),
                remaining=remaining,
            )
        )
    views.sort(key=lambda view: TARGET_ORDER.index(view.target))
    return {"policy_id": policy.id, "policy": policy.name, "clocks": views}


async def decisions(session: AsyncSession, ticket_id: int) -> list[dict]:
    """Every routing decision on the ticket, newest last, with names for ids."""
    rows = list(
        await session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.ticket_id == ticket_id)
            .order_by(RoutingDecision.id)
        )
    )
    queues = dict((await session.execute(select(Queue.id, Queue.name))).all())
    users = dict(
        (
            await session.execute(
                select(User.id, User.name).where(
                    User.id.in_({row.assignee_id for row in rows if row.assignee_id})
                )
            )
        ).all()
    )
    policies = dict((await session.execute(select(SlaPolicyRow.id, SlaPolicyRow.name))).all())
    return [
        {
            "message_id": row.message_id,
            "applied": row.applied,
            "language": row.language,
            "intent": row.intent,
            "intent_confidence": row.intent_confidence,
            "matched_rules": row.matched_rules,
            "queue": queues.get(row.queue_id),
            "priority": row.priority,
            "tags": row.tags,
            "sla_policy": policies.get(row.sla_policy_id),
            "assignee": users.get(row.assignee_id),
            "assignment_reason": row.assignment_reason,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]


async def preview(
    session: AsyncSession,
    settings,
    *,
    channel: str = "email",
    account: str | None = None,
    subject: str = "",
    text: str = "",
    tier: str = "standard",
    organization_id: int | None = None,
    now: datetime,
) -> dict:
    """Which stored rules a message like this would match, and the decision they'd make.

    The facts and rules are the engine's own (`routing.facts.facts_for`, the rules
    as `routing.config` loads them), read fresh so a rule just saved is seen.
    """
    config = await load(session)
    facts = facts_for(
        settings,
        channel=channel,
        account=account,
        subject=subject,
        text=text,
        customer={"organization_id": organization_id, "tier": tier},
        calendar=config.default_calendar,
        now=now,
    )
    decision = evaluate(config.rules, facts)
    reading = reading_of(facts)
    return {
        "language": reading.language,
        "intent": reading.intent,
        "intent_confidence": reading.intent_confidence,
        "business_hours": facts.business_hours,
        "matched_rules": list(decision.matched),
        "decision": {
            "queue_id": decision.queue_id,
            "priority": decision.priority,
            "tags": list(decision.tags),
            "sla_policy_id": decision.sla_policy_id,
            "assignee_id": decision.assignee_id,
            "auto_reply": decision.auto_reply,
        },
    }


async def sla_events(session: AsyncSession, ticket_id: int) -> list[SlaEvent]:
    """The warnings and breaches that fired on the ticket, oldest first."""
    return list(
        await session.scalars(
            select(SlaEvent).where(SlaEvent.ticket_id == ticket_id).order_by(SlaEvent.fired_at)
        )
    )
