"""Satisfaction (CSAT): the customer's rating of a ticket, and when they were asked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime

SCORES = (1, 2, 3, 4, 5)
SATISFIED = 4  # a score of this or more counts as satisfied ("% satisfied" on the board)
SOURCES = ("mail", "portal", "chat", "api")


class Rating(Base):
    """One rating per ticket (a later one replaces it): the score, a comment, who and when.

    The queue, the agent and the week are kept as they were when the customer rated, so the
    board's figures do not move when a ticket is handed on later.
    """

    __tablename__ = "csat_ratings"
    __table_args__ = (
        Index("ix_csat_ratings_rated_at", "rated_at"),
        Index("ix_csat_ratings_week", "week"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    # Where the answer came from: the solved mail's link, the portal, the chat widget, the API.
    source: Mapped[str] = mapped_column(String(20))
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The ISO week of the rating ("2026-W49"): grouped by the board on every engine alike.
    week: Mapped[str] = mapped_column(String(8))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RatingRequest(Base):
    """The customer was asked for a rating (the solved mail): once per solving of a ticket."""

    __tablename__ = "csat_requests"
    __table_args__ = (UniqueConstraint("ticket_id", "solved_at", "via"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    solved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(20))  # "email"
    # Whom it went to; None: not sent, for the reason in `skipped`.
    recipient: Mapped[str | None] = mapped_column(String(320))
    skipped: Mapped[str | None] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
