"""Chat channels (one per website widget), visitors' chat sessions and their files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime

PRECHAT_MODES = ("off", "optional", "required")


class ChatChannel(Base):
    """One website's chat: the widget's key, where it may be embedded, how it looks."""

    __tablename__ = "chat_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Public: written into the embed snippet (data-channel); names the channel, grants nothing.
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    # Origins ("https://shop.example.com") whose pages may open the chat; exact matches.
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    # {"primary": "#0b5cad", "text": "#ffffff"}
    colors: Mapped[dict] = mapped_column(JSON, default=dict)
    # {"en": "Hello! How can we help?", "de": "Hallo! Wie können wir helfen?"}
    greeting: Mapped[dict] = mapped_column(JSON, default=dict)
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    # {"name": "optional", "email": "required"}: each one of PRECHAT_MODES.
    prechat: Mapped[dict] = mapped_column(JSON, default=dict)
    # Signs signed-in visitors' user ids (HMAC-SHA256), sealed by tresen.secrets.
    identity_secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatSession(Base):
    """One visitor's conversation on a chat channel (its `key` is the conversation id)."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        Index("ix_chat_sessions_visitor", "channel_id", "visitor_id"),
        # A hello finds the visitor's conversation; a reply finds where it goes.
        Index("ix_chat_sessions_identity", "identity", "channel_id"),
        Index("ix_chat_sessions_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("chat_channels.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # The visitor token's subject: a returning visitor continues their conversation.
    visitor_id: Mapped[str] = mapped_column(String(64))
    # The identity value the conversation's messages come from ("chat" kind).
    identity: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # The address the visitor gave; linked to a customer record only once verified.
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The site's user id, when the site vouched for it with an HMAC.
    user_id: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(10))
    page_url: Mapped[str | None] = mapped_column(String(2000))
    # The ticket the conversation is on (set once the first message is received).
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    # open: live; ended: the agent or visitor ended it; offline: left as a message.
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Refreshed while a socket of the session is open (every minute): the visitor is here.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the visitor's last socket closed; None while one is open (or never opened).
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Read receipts: the newest message id each side has seen.
    visitor_read_id: Mapped[int] = mapped_column(Integer, default=0)
    agent_read_id: Mapped[int] = mapped_column(Integer, default=0)
    # A one-time code mailed to `email` (argon2 hash is overkill for 10 minutes: sha256).
    code_hash: Mapped[str | None] = mapped_column(String(128))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    transcript_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
