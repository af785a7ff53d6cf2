"""Invitations to the console: a link with which a new member of staff sets their password.

The token is 256 random bits, stored only as its SHA-256 (like API tokens), good for
INVITE_DAYS and for one use; a new invitation of the same user replaces the unused ones.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tresen import accounts
from tresen.accounts import AccountError, hash_token
from tresen.database import Base, UTCDateTime
from tresen.i18n import LANGUAGES
from tresen.models import User
from tresen.runtime import Runtime, Transaction

INVITE_DAYS = 7
INVITE_PREFIX = "inv_"


class UserInvite(Base):
    __tablename__ = "user_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class InviteUnusable(Exception):
    """The link sets no password: `reason` is "unknown", "expired", "used" or "inactive"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def issue_invite(tx: Transaction, user_id: int, created_by: int | None = None) -> str:
    """A new invitation for the user (their unused ones stop working); the token, once."""
    user = await tx.session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    if not user.active:
        raise AccountError(f"user {user.email!r} is deactivated; reactivate them first")
    await tx.session.execute(
        delete(UserInvite).where(UserInvite.user_id == user_id, UserInvite.used_at.is_(None))
    )
    token = INVITE_PREFIX + secrets.token_urlsafe(32)
    tx.session.add(
        UserInvite(
            user_id=user_id,
            token_hash=hash_token(token),
            created_at=tx.now(),
            expires_at=tx.now() + timedelta(days=INVITE_DAYS),
            created_by=created_by,
        )
    )
    await tx.session.flush()
    return token


async def invite_user(
    tx: Transaction,
    *,
    email: str,
    name: str,
    role: str,
    created_by: int | None = None,
    locale: str | None = None,
) -> tuple[User, str]:
    """A new user without a password, and the token of their invitation. `locale`: the
    language their invitation and console speak (None: a new user's default)."""
    if locale is not None and locale not in LANGUAGES:
        raise AccountError(f"language {locale!r} is not one of {', '.join(LANGUAGES)}")
    user = await accounts.add_user(tx, email=email, name=name, role=role)
    if locale is not None:
        user.locale = locale
    return user, await issue_invite(tx, user.id, created_by)


def invite_link(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + "/invite/" + token


async def _usable(session, token: str, now: datetime) -> tuple[UserInvite, User]:
    """The invitation and its user; InviteUnusable says why the link sets no password."""
    if not token.startswith(INVITE_PREFIX) or len(token) > 100:
        raise InviteUnusable("unknown")
    row = (
        await session.execute(
            select(UserInvite, User)
            .join(User, User.id == UserInvite.user_id)
            .where(UserInvite.token_hash == hash_token(token))
        )
    ).one_or_none()
    if row is None:
        raise InviteUnusable("unknown")
    invite, user = row
    if invite.used_at is not None:
        raise InviteUnusable("used")
    if invite.expires_at <= now:
        raise InviteUnusable("expired")
    if not user.active:
        raise InviteUnusable("inactive")
    return invite, user


async def check_invite(runtime: Runtime, token: str) -> User:
    """Whose invitation this is, while it can still be used (else InviteUnusable)."""
    async with runtime.read() as session:
        return (await _usable(session, token, runtime.clock.now()))[1]


async def accept_invite(runtime: Runtime, token: str, password: str) -> User:
    """Set the invited user's password and use the invitation up; the user, to sign in."""
    await check_invite(runtime, token)  # before hashing: a wrong link costs no argon2
    accounts.check_new_password(password)
    password_hash = await accounts.hash_password(password)
    async with runtime.transaction() as tx:
        invite, user = await _usable(tx.session, token, tx.now())
        # Only the first of two submissions sent at once uses the invitation.
        used = await tx.session.execute(
            update(UserInvite)
            .where(UserInvite.id == invite.id, UserInvite.used_at.is_(None))
            .values(used_at=tx.now())
        )
        if used.rowcount != 1:
            raise InviteUnusable("used")
        await accounts.end_sessions(tx, user, password_hash=password_hash)
    async with runtime.read() as session:
        return await session.get(User, user.id)


async def pending_invites(session, now: datetime) -> dict[int, datetime]:
    """When each user's open invitation expires, by user id (for the people list)."""
    rows = await session.execute(
        select(UserInvite.user_id, UserInvite.expires_at).where(
            UserInvite.used_at.is_(None), UserInvite.expires_at > now
        )
    )
    return dict(rows.all())
