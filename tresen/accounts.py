"""Actions on staff accounts: users, passwords, sessions and API tokens."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from tresen import sqlite_driver
from tresen.email_address import EmailAddressError, normalize_email
from tresen.i18n import LANGUAGES, valid_timezone
from tresen.models import ROLES, ApiToken, User
from tresen.runtime import Runtime

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
# Verifying against this keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-password")


def _lower_priority() -> None:
    """Hashing threads yield the CPU to the event loop (on Linux, nice is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


# Argon2 takes a quarter of a second of CPU: it runs in these threads, never on the event
# loop, at most two at once and at a lower priority, so a burst of sign-ins neither stalls
# every other request nor takes every core.
_ARGON2 = ThreadPoolExecutor(2, thread_name_prefix="tresen-argon2", initializer=_lower_priority)
# Sign-ins waiting for a hashing thread at most; more are refused at once (SignInBusy), so a
# flood of guesses cannot make real sign-ins queue for minutes behind it.
MAX_WAITING_SIGN_INS = 32
_waiting_sign_ins = 0


class SignInBusy(Exception):
    """Too many sign-ins are waiting for their password check: try again in a moment."""


TOKEN_PREFIX = "trs_"
# What a token may do beyond its user's role: "integration" speaks for customers
# (POST /api/v1/inbound).
TOKEN_SCOPES = ("integration",)
MAX_TOKEN_DAYS = 3650
# last_used_at is written at most this often per token: a busy integration costs no write
# per request.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """A bad value for an account; the message names it."""


class AccountConflict(AccountError):
    """The change clashes with what exists (a user with that email exists already)."""


class TokenRefused(Exception):
    """A bearer token that grants nothing; the message says why (not valid, expired, ...)."""


@dataclass(frozen=True)
class TokenGrant:
    """Who a valid token speaks for, and its scopes."""

    user: User
    scopes: frozenset[str]


def normalize_staff_email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except EmailAddressError as error:
        raise AccountError(str(error)) from None


async def _argon2(function, *args):
    return await asyncio.get_running_loop().run_in_executor(_ARGON2, function, *args)


async def hash_password(password: str) -> str:
    return await _argon2(_hasher.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


async def create_user(
    runtime: Runtime, *, email: str, name: str, role: str, password: str | None = None
) -> User:
    """Create a staff user; without a password they cannot log in to the console."""
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip():
        raise AccountError("name must not be empty")
    if password is not None:
        _check_password(password)
    email = normalize_staff_email(email)
    password_hash = await hash_password(password) if password else None
    async with runtime.transaction() as tx:
        exists = await tx.session.scalar(select(User.id).where(User.email == email))
        if exists:
            raise AccountConflict(f"a user with email {email!r} exists already")
        user = User(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=password_hash,
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
            select(User).where(func.lower(User.email) == email.strip().lower()[:320])
        )
    stored = user.password_hash if user and user.active and user.password_hash else _DUMMY_HASH
    global _waiting_sign_ins
    if _waiting_sign_ins >= MAX_WAITING_SIGN_INS:
        raise SignInBusy()
    _waiting_sign_ins += 1
    try:
        verified = await _argon2(_verify, stored, password)
    finally:
        _waiting_sign_ins -= 1
    if not verified or stored is _DUMMY_HASH:
        return None
    if _hasher.check_needs_rehash(stored):
        rehashed = await hash_password(password)
        async with runtime.transaction() as tx:
            await tx.session.execute(
                update(User).where(User.id == user.id).values(password_hash=rehashed)
            )
    return user


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether the password matches the stored argon2 hash (None: checked against a dummy,
    as slow, and False). In the hashing threads, like staff sign-ins; SignInBusy when too
    many wait. For passwords kept outside `users` (customers' portal passwords)."""
    global _waiting_sign_ins
    if _waiting_sign_ins >= MAX_WAITING_SIGN_INS:
        raise SignInBusy()
    _waiting_sign_ins += 1
    try:
        verified = await _argon2(_verify, stored or _DUMMY_HASH, password)
    finally:
        _waiting_sign_ins -= 1
    return verified and stored is not None


async def _user_by_email(session, email: str) -> User:
    email = normalize_staff_email(email)
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        raise AccountError(f"no user with email {email!r}")
    return user


async def _end_sessions(tx, user: User, **changes) -> None:
    """Apply the changes and end every session the user has signed in so far."""
    await tx.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_generation=User.session_generation + 1, **changes)
    )
    tx.emit("user.updated", user_id=user.id)
    tx.emit("user.sessions_ended", user_id=user.id)


async def sign_out_everywhere(runtime: Runtime, email: str) -> None:
    """End every console session of the user (each browser must sign in again)."""
    async with runtime.transaction() as tx:
        await _end_sessions(tx, await _user_by_email(tx.session, email))


async def deactivate_user(runtime: Runtime, email: str) -> None:
    """The user can no longer sign in or use their API tokens; their sessions end now."""
    async with runtime.transaction() as tx:
        user = await _user_by_email(tx.session, email)
        if user.role == "admin" and user.active:
            admins = await tx.session.scalar(
                select(func.count(User.id)).where(User.role == "admin", User.active)
            )
            if admins == 1:
                raise AccountError(
                    f"{user.email!r} is the last active administrator; make another one first"
                )
        await _end_sessions(tx, user, active=False)


async def reactivate_user(runtime: Runtime, email: str) -> None:
    """A deactivated user may sign in and use their tokens again."""
    async with runtime.transaction() as tx:
        user = await _user_by_email(tx.session, email)
        await tx.session.execute(update(User).where(User.id == user.id).values(active=True))
        tx.emit("user.updated", user_id=user.id)


async def set_password(runtime: Runtime, email: str, password: str) -> None:
    """A new password; every session signed in with the old one ends."""
    _check_password(password)
    password_hash = await hash_password(password)
    async with runtime.transaction() as tx:
        user = await _user_by_email(tx.session, email)
        await _end_sessions(tx, user, password_hash=password_hash)


def _token_scopes(scopes) -> str:
    unknown = [scope for scope in scopes if scope not in TOKEN_SCOPES]
    if unknown:
        raise AccountError(f"scope {unknown[0]!r} is not one of {', '.join(TOKEN_SCOPES)}")
    return ",".join(sorted(set(scopes)))


async def create_token(
    runtime: Runtime,
    email: str,
    *,
    name: str = "",
    expires_days: int | None = None,
    scopes: tuple[str, ...] | list[str] = (),
) -> str:
    """Issue an API token for the user; only its hash is stored."""
    scope_text = _token_scopes(scopes)
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise AccountError(f"expiry of {expires_days} days is not between 1 and {MAX_TOKEN_DAYS}")
    if len(name) > 100:
        raise AccountError(f"token name {name[:20]!r}... is longer than 100 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = runtime.clock.now()
    async with runtime.transaction() as tx:
        user = await _user_by_email(tx.session, email)
        if not user.active:
            raise AccountError(f"user {user.email!r} is deactivated")
        tx.session.add(
            ApiToken(
                user_id=user.id,
                token_hash=hash_token(token),
                name=name,
                created_at=now,
                expires_at=now + timedelta(days=expires_days) if expires_days else None,
                scopes=scope_text,
                revoked=False,
            )
        )
    return token


async def revoke_token(runtime: Runtime, token_id: int) -> None:
    """The token stops working at once; it stays listed as revoked."""
    async with runtime.transaction() as tx:
        token = await tx.session.get(ApiToken, token_id)
        if token is None:
            raise AccountError(f"no API token with id {token_id}")
        token.revoked = True


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself, which is not stored."""

    id: int
    email: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


async def list_tokens(runtime: Runtime, email: str | None = None) -> list[TokenInfo]:
    """Every API token (of one user when an email is given), oldest first."""
    async with runtime.read() as session:
        query = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
        if email is not None:
            query = query.where(User.id == (await _user_by_email(session, email)).id)
        rows = await session.execute(query.order_by(ApiToken.id))
        return [
            TokenInfo(
                id=token.id,
                email=user_email,
                name=token.name,
                scopes=tuple(filter(None, token.scopes.split(","))),
                created_at=token.created_at,
                expires_at=token.expires_at,
                last_used_at=token.last_used_at,
                revoked=token.revoked,
            )
            for token, user_email in rows
        ]


async def list_users(runtime: Runtime) -> list[User]:
    """Every staff user, the deactivated ones too, by email."""
    async with runtime.read() as session:
        return list(await session.scalars(select(User).order_by(User.email)))


async def _note_use(runtime: Runtime, token_id: int, now: datetime) -> None:
    """Remember when a token was last used; a busy or full database does not fail the call,
    nor hold it up for long (another process's lock is waited for a tenth of a second)."""
    try:
        with sqlite_driver.waiting_until(time.monotonic() + 0.1):
            async with runtime.transaction() as tx:
                await tx.session.execute(
                    update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
                )
    except (SQLAlchemyError, sqlite3.Error) as error:  # DatabaseBusy is an sqlite3.Error
        log.warning("could not note the use of API token %d: %s", token_id, error)


async def check_token(runtime: Runtime, token: str) -> TokenGrant:
    """What a bearer token grants; TokenRefused says why it grants nothing."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRefused("token is not valid")
    now = runtime.clock.now()
    async with runtime.read() as session:
        row = (
            await session.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == hash_token(token))
            )
        ).one_or_none()
    if row is None:
        raise TokenRefused("token is not valid")
    api_token, user = row
    if api_token.revoked:
        raise TokenRefused("token has been revoked")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise TokenRefused("token has expired")
    if not user.active:
        raise TokenRefused("token's user is deactivated")
    if api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_USE_RESOLUTION:
        await _note_use(runtime, api_token.id, now)
    return TokenGrant(user, frozenset(filter(None, api_token.scopes.split(","))))


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


# --- People administration (the console's /admin/people, /api/v1/users, invitations) ---


def check_new_password(password: str) -> None:
    """AccountError when the password is too short to be set."""
    _check_password(password)


async def end_sessions(tx, user: User, **changes) -> None:
    """Apply the changes to the user and end every session they signed in so far."""
    await _end_sessions(tx, user, **changes)


async def add_user(tx, *, email: str, name: str, role: str) -> User:
    """A new staff user without a password (they set one through an invitation)."""
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip() or len(name.strip()) > 200:
        raise AccountError("name must have 1 to 200 characters")
    email = normalize_staff_email(email)
    if await tx.session.scalar(select(User.id).where(User.email == email)):
        raise AccountConflict(f"a user with email {email!r} exists already")
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=None,
        active=True,
        locale="en",
        timezone="Europe/Berlin",
        created_at=tx.now(),
    )
    tx.session.add(user)
    await tx.session.flush()
    tx.emit("user.created", user_id=user.id)
    return user


async def _keeps_an_admin(tx, user: User) -> None:
    """Refuse a change that leaves no active administrator."""
    if user.role != "admin" or not user.active:
        return
    admins = await tx.session.scalar(
        select(func.count(User.id)).where(User.role == "admin", User.active)
    )
    if admins == 1:
        raise AccountError(
            f"{user.email!r} is the last active administrator; make another one first"
        )


async def update_user(
    tx,
    user_id: int,
    *,
    name: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> User:
    """Change a user's name, role or state; deactivation ends their sessions at once (their
    tokens are refused by check_token)."""
    user = await tx.session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user with id {user_id}")
    changes: dict = {}
    if name is not None:
        if not name.strip() or len(name.strip()) > 200:
            raise AccountError("name must have 1 to 200 characters")
        changes["name"] = name.strip()
    if role is not None and role != user.role:
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        await _keeps_an_admin(tx, user)
        changes["role"] = role
    if active is False and user.active:
        await _keeps_an_admin(tx, user)
        await _end_sessions(tx, user, active=False, **changes)
    else:
        if active:
            changes["active"] = True
        if changes:
            await tx.session.execute(update(User).where(User.id == user.id).values(**changes))
            tx.emit("user.updated", user_id=user.id)
    await tx.session.refresh(user)
    return user


async def set_role(runtime: Runtime, email: str, role: str) -> None:
    """A user's new role (the last active administrator keeps theirs)."""
    async with runtime.transaction() as tx:
        user = await _user_by_email(tx.session, email)
        await update_user(tx, user.id, role=role)


async def tokens_of(runtime: Runtime, user_id: int | None) -> list[TokenInfo]:
    """The API tokens of one user (None: everyone's), oldest first."""
    async with runtime.read() as session:
        if user_id is None:
            email = None
        else:
            user = await session.get(User, user_id)
            if user is None:
                raise AccountError(f"no user with id {user_id}")
            email = user.email
    return await list_tokens(runtime, email)


async def revoke_token_as(runtime: Runtime, token_id: int, user: User) -> int:
    """Revoke a token as its owner or an administrator; the owner's id. Someone else's
    token is "not found" to anyone else, so ids tell nothing."""
    async with runtime.transaction() as tx:
        token = await tx.session.get(ApiToken, token_id)
        if token is None or (token.user_id != user.id and user.role != "admin"):
            raise AccountError(f"no API token with id {token_id}")
        token.revoked = True
        return token.user_id
