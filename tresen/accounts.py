"""Actions on staff accounts: create users, check passwords, issue API tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update

from tresen.email_address import EmailAddressError, normalize_email
from tresen.i18n import LANGUAGES, valid_timezone
from tresen.models import ROLES, ApiToken, User
from tresen.runtime import Runtime

_hasher = PasswordHasher()
# Verifying against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-password")
TOKEN_PREFIX = "trs_"


class AccountError(ValueError):
    """A bad value for an account; the message names it."""


def normalize_staff_email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except EmailAddressError as error:
        raise AccountError(str(error)) from None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    runtime: Runtime, *, email: str, name: str, role: str, password: str | None = None
) -> User:
    """Create a staff user; without a password they cannot log in to the console."""
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip():
        raise AccountError("name must not be empty")
    if password is not None and len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    email = normalize_staff_email(email)
    async with runtime.transaction() as tx:
        exists = await tx.session.scalar(select(User.id).where(User.email == email))
        if exists:
            raise AccountError(f"a user with email {email!r} exists already")
        user = User(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=hash_password(password) if password else None,
            active=True,
            locale="en",
            timezone="Europe/Berlin",
            created_at=runtime.clock.now(),
        )
        tx.session.add(user)
        await tx.session.flush()
        tx.emit("user.created", user_id=user.id)
    return user


async def authenticate(runtime: Runtime, email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    async with runtime.read() as session:
        user = await session.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower())
        )
    stored = user.password_hash if user and user.active and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is _DUMMY_HASH:
        return None
    if _hasher.check_needs_rehash(stored):
        async with runtime.transaction() as tx:
            await tx.session.execute(
                update(User).where(User.id == user.id).values(password_hash=hash_password(password))
            )
    return user


async def create_token(runtime: Runtime, email: str, *, name: str = "") -> str:
    """Issue an API token for the user; only its hash is stored."""
    email = normalize_staff_email(email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with runtime.transaction() as tx:
        user = await tx.session.scalar(select(User).where(User.email == email))
        if user is None:
            raise AccountError(f"no user with email {email!r}")
        if not user.active:
            raise AccountError(f"user {email!r} is deactivated")
        tx.session.add(
            ApiToken(
                user_id=user.id,
                token_hash=hash_token(token),
                name=name,
                created_at=runtime.clock.now(),
                revoked=False,
            )
        )
    return token


async def user_for_token(runtime: Runtime, token: str) -> User | None:
    """The active user a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with runtime.read() as session:
        row = await session.execute(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False))
        )
        user = row.scalar_one_or_none()
    return user if user and user.active else None


async def get_user(runtime: Runtime, user_id: int) -> User | None:
    async with runtime.read() as session:
        user = await session.get(User, user_id)
    return user if user and user.active else None


async def active_users(session) -> list[User]:
    """The staff who can work, by name (whom a ticket can be assigned, who can be mentioned)."""
    return list(await session.scalars(select(User).where(User.active).order_by(User.name)))


async def user_names(session) -> dict[int, str]:
    """Every staff member's name by id, the former ones too (for history)."""
    return {user_id: name for user_id, name in await session.execute(select(User.id, User.name))}


async def set_preferences(runtime: Runtime, user_id: int, *, locale: str, timezone: str) -> None:
    """The console's language and the user's timezone; a bad value is an AccountError."""
    if locale not in LANGUAGES:
        raise AccountError(f"locale {locale!r} is not one of {', '.join(LANGUAGES)}")
    if not valid_timezone(timezone):
        raise AccountError(f"timezone {timezone!r} is not a known timezone")
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.id == user_id).values(locale=locale, timezone=timezone)
        )
        tx.emit("user.updated", user_id=user_id)
