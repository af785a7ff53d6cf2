"""Staff users and their API tokens (customers live in customers/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tresen.database import Base, UTCDateTime

ROLES = ("agent", "supervisor", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Kept in each session cookie at sign-in: raising it (sign-out, deactivation, a new
    # password) ends every session signed in before, copied cookies included.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Two-factor sign-in (tresen/totp.py): the TOTP key sealed with tresen.secrets; set but
    # not enabled while the user is setting it up; the last time step a code was accepted
    # for (a code is never accepted twice).
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # The last completed sign-in (password, and the code when two-factor is on): the people
    # page shows it, so an administrator sees accounts nobody uses any more.
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reply signature per language: {"de": "...", "en": "..."} (tickets/replies.py).
    signatures: Mapped[dict | None] = mapped_column(JSON)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    def has_role(self, needed: str) -> bool:
        """Roles are ordered: an admin may do what a supervisor may, and so on."""
        return ROLES.index(self.role) >= ROLES.index(needed)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of a 256-bit random token: a slow hash adds nothing at that entropy.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the token never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the token may do beyond its user's role, comma-separated (see accounts.TOKEN_SCOPES).
    scopes: Mapped[str] = mapped_column(String(200), default="", server_default="")

    user: Mapped[User] = relationship(back_populates="tokens")


class Notification(Base):
    """Something a staff member should see: shown in the console, sent by email if asked."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Where it points, e.g. "/tickets/12".
    link: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    # What the text says, for showing it in the reader's language (kind-specific keys).
    data: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Email copy: pending, queued (in the outbox), sent, failed, or None when none is wanted.
    email_status: Mapped[str | None] = mapped_column(String(20), index=True)
    email_error: Mapped[str | None] = mapped_column(Text)


class EventJob(Base):
    """One run of a durable handler for one event, written in the event's transaction."""

    __tablename__ = "event_jobs"
    __table_args__ = (Index("ix_event_jobs_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handler: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSON)
    # Handler name and event key: the handler's idempotency key for effects elsewhere.
    key: Mapped[str] = mapped_column(String(400), unique=True)
    # pending, done, or failed (after the handler's last attempt; kept for a person to see).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
