"""The bot's tables: its settings per channel and the conversations it had."""

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

ENGINES = ("faq", "rasa")
HOURS = ("always", "outside_business_hours")
OUTCOMES = ("deflected", "handed_off", "abandoned")
DEFAULT_NAME = "Tresen bot"
DEFAULT_LANGUAGES = ["de", "en"]


class BotSettings(Base):
    """A conversational channel's bot: whether it is on, its engine, greeting and hours."""

    __tablename__ = "bot_settings"

    channel: Mapped[str] = mapped_column(String(30), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    engine: Mapped[str] = mapped_column(String(10), default="faq")
    # Shown to customers as the bot's name.
    name: Mapped[str] = mapped_column(String(100), default=DEFAULT_NAME)
    greeting_en: Mapped[str] = mapped_column(Text, default="")
    greeting_de: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_LANGUAGES))
    # None: the calibrated default (bots/confidence.py).
    threshold: Mapped[float | None] = mapped_column(Float)
    hours: Mapped[str] = mapped_column(String(30), default="always")
    rasa_url: Mapped[str | None] = mapped_column(String(500))
    rasa_timeout: Mapped[float] = mapped_column(Float, default=5.0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BotConversation(Base):
    """One conversation the bot had: on a ticket (chat) or keyed by an API client."""

    __tablename__ = "bot_conversations"
    __table_args__ = (
        UniqueConstraint("channel", "key"),
        # The weekly report groups by channel and start.
        Index("ix_bot_conversations_channel_started", "channel", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[str] = mapped_column(String(30))
    # API conversations: f"{user id}:{conversation_id}"; None for a ticket's.
    key: Mapped[str | None] = mapped_column(String(250))
    engine: Mapped[str] = mapped_column(String(10), default="faq")
    language: Mapped[str | None] = mapped_column(String(10))
    # bots.decision.BotState.as_dict()
    state: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None while it goes on; deflected, handed_off or abandoned (OUTCOMES).
    outcome: Mapped[str | None] = mapped_column(String(20))
    handoff_reason: Mapped[str | None] = mapped_column(String(50))
    answers: Mapped[int] = mapped_column(Integer, default=0)
    misses: Mapped[int] = mapped_column(Integer, default=0)
    last_article_id: Mapped[int | None] = mapped_column(Integer)
