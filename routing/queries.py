"""Reading routing's settings for the console: rules, queues' routing and members, agents'
profiles and presence, SLA policies and business calendars."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.models import (
    AgentProfile,
    BusinessCalendarRow,
    QueueMember,
    QueueRouting,
    RoutingRule,
    SlaPolicyRow,
)
from tresen.models import User


async def presence_of(session: AsyncSession, user_id: int) -> str:
    """The agent's presence; offline until they set one."""
    presence = await session.scalar(
        select(AgentProfile.presence).where(AgentProfile.user_id == user_id)
    )
    return presence or "offline"


async def rules_in_order(session: AsyncSession) -> list[RoutingRule]:
    """The routing rules in the order they are tried."""
    return list(
        await session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))
    )


@dataclass(frozen=True)
class RoutingSettings:
    """Everything the routing admin page shows."""

    rules: list[RoutingRule]
    routing: dict[int, QueueRouting]  # by queue id
    members: dict[int, dict[int, str]]  # queue id -> user id -> role
    profiles: dict[int, AgentProfile]  # by user id
    policies: list[SlaPolicyRow]
    calendars: list[BusinessCalendarRow]


async def routing_settings(session: AsyncSession) -> RoutingSettings:
    members: dict[int, dict[int, str]] = {}
    for row in await session.scalars(select(QueueMember)):
        members.setdefault(row.queue_id, {})[row.user_id] = row.role
    return RoutingSettings(
        rules=await rules_in_order(session),
        routing={row.queue_id: row for row in await session.scalars(select(QueueRouting))},
        members=members,
        profiles={row.user_id: row for row in await session.scalars(select(AgentProfile))},
        policies=list(await session.scalars(select(SlaPolicyRow).order_by(SlaPolicyRow.name))),
        calendars=list(
            await session.scalars(select(BusinessCalendarRow).order_by(BusinessCalendarRow.name))
        ),
    )


async def agents_at_work(session: AsyncSession) -> list:
    """Active users with their presence, since when, and capacity (None where unset)."""
    rows = await session.execute(
        select(User, AgentProfile.presence, AgentProfile.presence_changed_at, AgentProfile.capacity)
        .outerjoin(AgentProfile, AgentProfile.user_id == User.id)
        .where(User.active)
        .order_by(User.name)
    )
    return rows.all()
