"""Actions of the portal's sign-in: links mailed to a customer's address, their password,
their sessions. The session is on the customer record: any e-mail identity of the record
signs in to all of it, and a record merged away resolves to the one it was merged into.

Links are single use and short-lived (`Settings.portal_link_minutes`); the link table keeps
only a hash of a link's token, and a keyed hash of the address it went to (for the
per-address limit), never the address itself. The token itself is in the mail that carries
it (the outbox row, until the mail is sent and like any sent mail after): that is the one
copy, and it is worth nothing once used or expired.

A session names the record and carries its account's session key (random, 128 bits):
ending the sessions draws a new key, and a record without an account (never signed in, or
deleted: a new record may get its id) accepts no session at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from customers.actions import CustomerError
from customers.models import Customer, Identity
from customers.portal_models import PortalAccount, PortalSignInLink
from tresen import i18n, rooms
from tresen.accounts import MIN_PASSWORD_LENGTH, hash_password, verify_password
from tresen.email_address import normalize_email
from tresen.help_brand import brand
from tresen.i18n import _
from tresen.runtime import Runtime, Transaction

SIGN_IN_PATH = "/portal/sign-in"
LINK_SOURCES = ("customer", "staff", "cli")
MAX_PASSWORD_LENGTH = 1000
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_MERGE_HOPS = 10  # a chain of merges longer than this is broken data, not a person
# A link used this recently opens (does not refuse) for the browser it signed in: a
# double-click on "Sign in" sends it twice.
USED_LINK_GRACE = timedelta(seconds=60)


class LinkRefused(Exception):
    """A sign-in link that signs nobody in; `reason` is invalid, expired or used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedLink:
    customer_id: int
    email: str
    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """Who a link or password signed in, with the session key their session carries."""

    customer_id: int
    session_key: str


def new_session_key() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def address_key(secret_key: str, email: str) -> str:
    """A keyed hash of an address: counts links per address without keeping it."""
    pepper = hmac.new(secret_key.encode(), b"tresen portal addresses v1", hashlib.sha256)
    return hmac.new(pepper.digest(), email.encode(), hashlib.sha256).hexdigest()


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{SIGN_IN_PATH}/{token}"


async def record_of(session, customer_id: int) -> Customer | None:
    """The customer, or the record it was merged into (followed to the end)."""
    customer = await session.get(Customer, customer_id)
    for _hop in range(_MERGE_HOPS):
        if customer is None or customer.merged_into_id is None:
            return customer
        customer = await session.get(Customer, customer.merged_into_id)
    return None


async def customer_for_email(session, email: str) -> Customer | None:
    """The record that has this (normalized) e-mail identity."""
    owner = await session.scalar(
        select(Identity.customer_id).where(Identity.kind == "email", Identity.value == email)
    )
    return None if owner is None else await record_of(session, owner)


async def session_key_of(session, customer_id: int) -> str | None:
    """The session key of the record's portal account; None: it has none."""
    return await session.scalar(
        select(PortalAccount.session_key).where(PortalAccount.customer_id == customer_id)
    )


async def session_customer(session, customer_id: int, session_key: str) -> Customer | None:
    """The customer a portal session names (the record it was merged into, if it was),
    unless their sessions were ended since or the record's account is gone."""
    stored = await session_key_of(session, customer_id)
    if stored is None or not hmac.compare_digest(stored.encode(), session_key.encode()):
        return None
    return await record_of(session, customer_id)


async def _account(tx: Transaction, customer_id: int) -> PortalAccount:
    """The record's portal account, locked; made when missing. Inserted "on conflict do
    nothing": two first sign-ins at once make one account, never an error."""
    now = tx.now()
    dialect = postgresql if tx.runtime.settings.is_postgres else sqlite
    connection = await tx.session.connection()
    await connection.execute(
        dialect.insert(PortalAccount)
        .values(
            customer_id=customer_id,
            password_hash=None,
            session_key=new_session_key(),
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return await tx.session.get(PortalAccount, customer_id, with_for_update=True)


async def issue_link(
    tx: Transaction, email: str, *, source: str, customer_id: int | None = None
) -> IssuedLink | None:
    """A new sign-in link for the record with this e-mail address; None when no record has
    it, or (asked for by the customer) when the address had its links for this hour.
    Raises EmailAddressError (a ValueError) for what is not an address, CustomerError when
    `customer_id` is given and the address is not that customer's."""
    if source not in LINK_SOURCES:
        raise CustomerError("source", f"source {source!r} is not one of {', '.join(LINK_SOURCES)}")
    address = normalize_email(email)
    settings = tx.runtime.settings
    customer = await customer_for_email(tx.session, address)
    if customer_id is not None and (customer is None or customer.id != customer_id):
        raise CustomerError(
            "email", f"{address!r} is not an e-mail address of customer {customer_id}"
        )
    if customer is None:
        return None
    now = tx.now()
    key = address_key(settings.secret_key, address)
    if source == "customer":
        sent = await tx.session.scalar(
            select(func.count())
            .select_from(PortalSignInLink)
            .where(
                PortalSignInLink.address_key == key,
                PortalSignInLink.created_at > now - timedelta(hours=1),
            )
        )
        if sent >= settings.portal_links_per_hour:
            return None
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(minutes=max(1, settings.portal_link_minutes))
    tx.session.add(
        PortalSignInLink(
            customer_id=customer.id,
            token_hash=token_hash(token),
            address_key=key,
            source=source,
            created_at=now,
            expires_at=expires_at,
            used_at=None,
        )
    )
    await tx.session.flush()
    return IssuedLink(customer.id, address, token, link_url(settings.base_url, token), expires_at)


async def mail_link(
    tx: Transaction,
    email: str,
    *,
    source: str,
    customer_id: int | None = None,
    language: str | None = None,
    then: str | None = None,
) -> IssuedLink | None:
    """Issue a link (as `issue_link`) and queue the mail that carries it, in the customer's
    language (else `language`, the page's, else the desk's default); None (and no mail)
    where `issue_link` gives none. `then`: the portal page the link leads to after signing
    in (a path under /portal/, e.g. the ticket the customer wanted to open)."""
    link = await issue_link(tx, email, source=source, customer_id=customer_id)
    if link is None:
        return None
    customer = await tx.session.get(Customer, link.customer_id)
    settings = tx.runtime.settings
    if customer.language in i18n.LANGUAGES:
        language = customer.language
    elif language not in i18n.LANGUAGES:
        language = settings.default_language
    company = (await brand(tx.session, settings)).name  # as the portal's pages name it
    with i18n.using(language):
        subject = _("Your sign-in link for %(company)s", company=company)
        text = _(
            "Hello,\n\nto sign in to the customer portal of %(company)s, open this link:\n\n"
            "    %(url)s\n\n"
            "It works once and for %(minutes)s minutes. If you did not ask for it, you can "
            "ignore this mail: nobody can sign in without it.\n\n"
            "(This message was sent automatically.)",
            company=company,
            url=link_then(link.url, then),
            minutes=max(1, settings.portal_link_minutes),
        )
    await rooms.queue_mail(tx, link.email, subject, text)
    return link


def link_then(url: str, then: str | None) -> str:
    """The link, leading to `then` (a portal path) after signing in."""
    if then and then.startswith("/portal/") and "\\" not in then:
        return f"{url}?next={quote(then, safe='/')}"
    return url


async def check_link(session, token: str, now: datetime) -> PortalSignInLink:
    """The link with this token if it may still sign in; otherwise LinkRefused says why."""
    if not _TOKEN.fullmatch(token or ""):
        raise LinkRefused("invalid")
    link = await session.scalar(
        select(PortalSignInLink).where(PortalSignInLink.token_hash == token_hash(token))
    )
    if link is None:
        raise LinkRefused("invalid")
    if link.used_at is not None:
        raise LinkRefused("used")
    if link.expires_at <= now:
        raise LinkRefused("expired")
    return link


async def redeem_link(tx: Transaction, token: str) -> SignedIn:
    """Use the link (once): who it signs in. LinkRefused when it may not."""
    link = await check_link(tx.session, token, tx.now())
    # Locked and checked again: two clicks at once sign in once.
    await tx.session.refresh(link, with_for_update=True)
    if link.used_at is not None:
        raise LinkRefused("used")
    link.used_at = tx.now()
    customer = await record_of(tx.session, link.customer_id)
    if customer is None:
        raise LinkRefused("invalid")
    account = await _account(tx, customer.id)
    return SignedIn(customer.id, account.session_key)


async def link_used_lately(session, token: str, now: datetime, customer_id: int) -> bool:
    """Whether this link was used within `USED_LINK_GRACE` and signed in this customer
    (the second click of a double-click, from a browser signed in by the first)."""
    if not _TOKEN.fullmatch(token or ""):
        return False
    link = await session.scalar(
        select(PortalSignInLink).where(PortalSignInLink.token_hash == token_hash(token))
    )
    if link is None or link.used_at is None or link.used_at < now - USED_LINK_GRACE:
        return False
    customer = await record_of(session, link.customer_id)
    return customer is not None and customer.id == customer_id


async def _merged_into(session, customer_id: int) -> list[int]:
    """The record and every record merged into it (directly or along a chain)."""
    ids = [customer_id]
    frontier = [customer_id]
    for _hop in range(_MERGE_HOPS):
        frontier = list(
            await session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(frontier)))
        )
        if not frontier:
            break
        ids.extend(frontier)
    return ids


async def end_sessions(tx: Transaction, customer_id: int) -> str:
    """End every portal session of the customer, those signed in on records merged into it
    included (each browser signs in again); the record's new session key."""
    account = await _account(tx, customer_id)
    account.session_key = new_session_key()
    account.updated_at = tx.now()
    merged = (await _merged_into(tx.session, customer_id))[1:]
    if merged:
        connection = await tx.session.connection()
        for record_id in merged:
            await connection.execute(
                PortalAccount.__table__.update()
                .where(PortalAccount.customer_id == record_id)
                .values(session_key=new_session_key(), updated_at=tx.now())
            )
    return account.session_key


def check_new_password(password: str) -> None:
    """CustomerError("password", ...) for a password too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CustomerError(
            "password", f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise CustomerError(
            "password", f"the password may have at most {MAX_PASSWORD_LENGTH} characters"
        )


async def set_password(runtime: Runtime, customer_id: int, password: str | None) -> SignedIn:
    """A new password (None: none, sign in by link only); the customer's other sessions
    end. Returns the session key the current session continues with. Changing a password
    the customer has asks for it first: see `password_confirms`."""
    if password is not None:
        check_new_password(password)
    password_hash = await hash_password(password) if password is not None else None
    async with runtime.transaction() as tx:
        account = await _account(tx, customer_id)
        account.password_hash = password_hash
        session_key = await end_sessions(tx, customer_id)
    return SignedIn(customer_id, session_key)


async def password_confirms(runtime: Runtime, customer_id: int, password: str) -> bool:
    """Whether `password` is the customer's current one (False when they have none).
    SignInBusy (tresen.accounts) when too many password checks wait."""
    async with runtime.read() as session:
        account = await session.get(PortalAccount, customer_id)
        stored = account.password_hash if account is not None else None
    return await verify_password(stored, password[:MAX_PASSWORD_LENGTH])


async def has_password(session, customer_id: int) -> bool:
    stored = await session.scalar(
        select(PortalAccount.password_hash).where(PortalAccount.customer_id == customer_id)
    )
    return stored is not None


async def sign_in_with_password(runtime: Runtime, email: str, password: str) -> SignedIn | None:
    """Who this address and password sign in, or None (as slow whether or not the address
    is known). SignInBusy (tresen.accounts) when too many sign-ins wait."""
    try:
        address = normalize_email(email)
    except ValueError:
        address = None
    stored = None
    customer = None
    if address is not None and len(password) <= MAX_PASSWORD_LENGTH:
        async with runtime.read() as session:
            customer = await customer_for_email(session, address)
            if customer is not None:
                account = await session.get(PortalAccount, customer.id)
                stored = account.password_hash if account is not None else None
    if not await verify_password(stored, password[:MAX_PASSWORD_LENGTH]):
        return None
    async with runtime.read() as session:
        session_key = await session_key_of(session, customer.id)
    return None if session_key is None else SignedIn(customer.id, session_key)
