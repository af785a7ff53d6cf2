"""Two-factor sign-in for staff: TOTP keys (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import ForeignKey, Integer, String, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tresen import secrets as sealed
from tresen.database import Base, UTCDateTime
from tresen.desk_settings import get_setting
from tresen.models import User
from tresen.runtime import Runtime

log = logging.getLogger(__name__)

ISSUER = "Tresen"
STEP_SECONDS = 30
# Codes of the step before and after now are accepted too: phones' clocks drift.
WINDOW_STEPS = 1
RECOVERY_CODES = 10
# No 0/o, 1/l/i: a recovery code is read off paper. 10 characters of 31: about 50 bits.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


class TwoFactorError(ValueError):
    """The code or the state does not allow this step; the message says why."""


class RecoveryCode(Base):
    """One recovery code of a user: only its hash is kept, and when it was used."""

    __tablename__ = "user_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of a random 50-bit code: a slow hash adds little, and sign-in checks one row.
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Enrolment:
    """What the set-up page shows: the key (grouped for typing), its URI and QR code."""

    secret: str
    uri: str
    qr_svg: str | None

    @property
    def grouped(self) -> str:
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))

    @property
    def qr_data_uri(self) -> str | None:
        if self.qr_svg is None:
            return None
        return "data:image/svg+xml;base64," + base64.b64encode(self.qr_svg.encode()).decode()


def is_enrolled(user: User) -> bool:
    """Whether the user signs in with a second factor."""
    return user.totp_enabled_at is not None


def _step(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now ± the window) whose code this is, else None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    found = None
    current = _step(now)
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        # Every step is compared (no early exit): the time taken tells nothing.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _open(runtime: Runtime, stored: str) -> str | None:
    try:
        return sealed.decrypt(runtime.settings, stored, what="two-factor key")
    except sealed.SecretUnreadable as error:
        log.warning("%s", error)
        return None


def _qr_svg(uri: str) -> str | None:
    try:
        import qrcode
        import qrcode.image.svg
    except ImportError:  # an install without it shows the key and the URI only
        return None
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return image.to_string(encoding="unicode")


async def start_enrolment(runtime: Runtime, user_id: int) -> Enrolment:
    """The key being set up: the one shown before (until confirmed), else a new one."""
    async with runtime.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None:
            raise TwoFactorError("no such user")
        if is_enrolled(user):
            raise TwoFactorError("two-factor sign-in is on already")
        secret = _open(runtime, user.totp_secret) if user.totp_secret else None
        if secret is None:
            secret = pyotp.random_base32()  # 160 bits
            # Sealed like the channels' secrets: a copy of the database alone is not enough.
            user.totp_secret = sealed.encrypt(runtime.settings, secret)
            user.totp_last_step = None
        email = user.email
    uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=email, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri, qr_svg=_qr_svg(uri))


def _new_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def _code_hash(code: str) -> str:
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


async def _replace_recovery_codes(tx, user_id: int) -> list[str]:
    await tx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    tx.session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_code_hash(code), created_at=tx.now())
        for code in codes
    )
    return codes


async def confirm_enrolment(runtime: Runtime, user_id: int, code: str) -> list[str]:
    """Turn two-factor sign-in on with a code from the app; the recovery codes, shown once."""
    async with runtime.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None or is_enrolled(user) or not user.totp_secret:
            raise TwoFactorError("there is no two-factor set-up to confirm; start again")
        secret = _open(runtime, user.totp_secret)
        step = _matching_step(secret, code, tx.now()) if secret else None
        if step is None:
            raise TwoFactorError("the code is not right; check your phone's time and try again")
        user.totp_enabled_at = tx.now()
        user.totp_last_step = step
        codes = await _replace_recovery_codes(tx, user_id)
        # Other sessions are not ended here: their sockets would reload this page too, and
        # the recovery codes on it are shown once ("Sign out everywhere" is one click away).
        tx.emit("user.updated", user_id=user_id)
    return codes


async def new_recovery_codes(runtime: Runtime, user_id: int) -> list[str]:
    """A fresh set of recovery codes; the old ones stop working."""
    async with runtime.transaction() as tx:
        user = await tx.session.get(User, user_id)
        if user is None or not is_enrolled(user):
            raise TwoFactorError("two-factor sign-in is not on")
        return await _replace_recovery_codes(tx, user_id)


async def unused_recovery_codes(session, user_id: int) -> int:
    return await session.scalar(
        select(func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
    )


async def disable(runtime: Runtime, user_id: int) -> None:
    """Two-factor sign-in off: the key and the recovery codes are forgotten."""
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        await tx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        tx.emit("user.updated", user_id=user_id)
        if await get_setting(tx.session, "require_two_factor"):
            # Required: their open pages stop updating and reload into the set-up.
            tx.emit("user.sockets_refused", user_id=user_id)


async def verify(runtime: Runtime, user: User, code: str) -> str | None:
    """A second-factor code checked and used up: "totp" or "recovery", else None."""
    # A TOTP code counts for its step ± one, once: never one of a step already used, so a
    # code seen over a shoulder is worth nothing afterwards.
    code = code.strip()[:64]
    if not code or not is_enrolled(user):
        return None
    async with runtime.transaction() as tx:
        stored = await tx.session.scalar(
            select(User.totp_secret).where(User.id == user.id, User.totp_enabled_at.is_not(None))
        )
        secret = _open(runtime, stored) if stored else None
        step = _matching_step(secret, code, tx.now()) if secret else None
        if step is not None:
            # One statement decides: two requests with the same code cannot both pass.
            done = await tx.session.execute(
                update(User)
                .where(
                    User.id == user.id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return "totp" if done.rowcount == 1 else None
        if len("".join(ch for ch in code if ch.isalnum())) != _RECOVERY_LENGTH:
            return None
        used = await tx.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _code_hash(code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=tx.now())
        )
        return "recovery" if used.rowcount == 1 else None
