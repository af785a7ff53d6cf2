"""Automations after creation: triggers (on a ticket's updates and messages) and time-based
automations (checked every minute), and which tickets each time-based one acted on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime


class Trigger(Base):
    """When a ticket is updated or a message arrives and the conditions hold: the actions."""

    __tablename__ = "triggers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Which happenings it looks at: inbound, reply, note, update (routing.triggers.EVENTS).
    events: Mapped[list] = mapped_column(JSON, default=list)
    # [{"field": ..., "operator": ..., "value": ...}]: all must hold.
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[dict] = mapped_column(JSON, default=dict)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Automation(Base):
    """A time-based automation: conditions on a ticket and the time since something, then
    the actions (once per ticket and condition episode)."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[dict] = mapped_column(JSON, default=dict)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AutomationRun(Base):
    """An automation acted on a ticket in one episode (e.g. since it became pending at T)."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("automation_id", "ticket_id", "episode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    automation_id: Mapped[int] = mapped_column(
        ForeignKey("automations.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    # The start times of the condition's clocks (e.g. when the state was last set).
    episode: Mapped[str] = mapped_column(String(200))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
