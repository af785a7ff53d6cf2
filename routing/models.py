"""Routing's tables: rules, queue modes and members, agents' presence and skills,
business calendars, SLA policies, each ticket's routing decisions and SLA clocks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime


class RoutingRule(Base):
    """One rule of the ordered list (see routing.rules for conditions and actions)."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"field": ..., "operator": ..., "value": ...}]: all must hold.
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BusinessCalendarRow(Base):
    """Weekly opening hours in a timezone, public holidays by region, custom closures."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    # {"0": [["09:00", "17:00"]], ...}: weekday (0 = Monday) to opening spans.
    weekly: Mapped[dict] = mapped_column(JSON, default=dict)
    country: Mapped[str | None] = mapped_column(String(10))
    subdivision: Mapped[str | None] = mapped_column(String(10))
    closures: Mapped[list] = mapped_column(JSON, default=list)  # ISO dates
    # The calendar that rules' "business_hours" condition asks.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SlaPolicyRow(Base):
    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # None: calendar hours, round the clock.
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendars.id", ondelete="SET NULL")
    )
    # {"urgent": {"first_response": 30, "resolution": 240}, ...} in minutes.
    targets: Mapped[dict] = mapped_column(JSON, default=dict)
    pause_states: Mapped[list] = mapped_column(JSON, default=list)
    warn_before_minutes: Mapped[int | None] = mapped_column(Integer)
    warn_share: Mapped[float | None] = mapped_column(Float)
    # {"warning": [{"action": "notify"}], "breach": [{"action": "raise_priority"}, ...]}
    escalation: Mapped[dict] = mapped_column(JSON, default=dict)


class QueueRouting(Base):
    """How a queue (tickets.Queue) hands out its work."""

    __tablename__ = "queue_routing"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(20), default="manual")
    # A returning customer goes back to the agent who helped them, when present.
    prefer_previous_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    required_skills: Mapped[list] = mapped_column(JSON, default=list)
    last_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # agent: gets the queue's work; supervisor: is told about its escalations.
    role: Mapped[str] = mapped_column(String(20), default="agent")


class AgentProfile(Base):
    """An agent's presence, capacity and skills (including languages, as "lang:de")."""

    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    presence: Mapped[str] = mapped_column(String(20), default="offline")
    presence_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capacity: Mapped[int | None] = mapped_column(Integer)
    # Live chats at once (a chat counts here, not against `capacity`); None: the desk's
    # default (TRESEN_CHAT_DEFAULT_CAPACITY); 0: takes no chats.
    chat_capacity: Mapped[int | None] = mapped_column(Integer)
    skills: Mapped[list] = mapped_column(JSON, default=list)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoutingDecision(Base):
    """What routing decided for one inbound message, and why: shown on the ticket."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # The rules' actions were applied (a message opening a ticket), or only recorded.
    applied: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str | None] = mapped_column(String(10))
    intent: Mapped[str | None] = mapped_column(String(100))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    matched_rules: Mapped[list] = mapped_column(JSON, default=list)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    priority: Mapped[str | None] = mapped_column(String(20))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    sla_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assignment_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TicketSla(Base):
    """Which SLA policy a ticket runs under."""

    __tablename__ = "ticket_sla"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policies.id", ondelete="CASCADE"))


class SlaClock(Base):
    """One target's clock on one ticket: its current cycle, and what has fired for it.

    `next_fire_at` is the earlier of the warning and the due time still to fire
    (None when nothing is left): the scheduler's work is an index range on it.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "target"),
        Index("ix_sla_clocks_next_fire_at", "next_fire_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policies.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    allowed_seconds: Mapped[int] = mapped_column(Integer)
    elapsed_seconds: Mapped[int] = mapped_column(Integer, default=0)  # when computed
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None while paused
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlaEvent(Base):
    """A warning or breach that fired: once per clock cycle, whatever the number of workers."""

    __tablename__ = "sla_events"
    __table_args__ = (UniqueConstraint("ticket_id", "target", "kind", "cycle_started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))  # warning | breach
    cycle_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when it was to fire
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actions: Mapped[list] = mapped_column(JSON, default=list)  # what escalation did


class ChatOffer(Base):
    """A live chat offered to an agent: accepted, declined, or passed on when it expires."""

    __tablename__ = "chat_offers"
    __table_args__ = (Index("ix_chat_offers_state_expires", "state", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # offered | accepted | declined | expired | withdrawn
    state: Mapped[str] = mapped_column(String(20), default="offered")
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
