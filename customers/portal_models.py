"""What lets a customer sign in to the portal: their account (password, sessions) and the
sign-in links mailed to them. Both belong to the customer record and go with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime


class PortalAccount(Base):
    """A customer's portal account, made when they first sign in or set a password."""

    __tablename__ = "portal_accounts"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    # argon2, as staff passwords; None: the customer signs in by link only.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Random (16 bytes, hex), carried in the session cookie; drawn anew to end every session
    # signed in so far (sign-out everywhere, a new password). A deleted account (its record
    # erased, whose id a new record may get) accepts no cookie at all.
    session_key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PortalSignInLink(Base):
    """One mailed sign-in link: only its token's hash is kept, usable once until it expires."""

    __tablename__ = "portal_sign_in_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A keyed hash of the address it went to (the per-address limit), not the address.
    address_key: Mapped[str] = mapped_column(String(64), index=True)
    # Who asked for it: "customer" (the sign-in form), "staff" (the console), "cli".
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
