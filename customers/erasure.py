"""Erasure, "Delete my account" (GDPR Art. 17): the customer asks, an administrator
confirms (or erases directly, for a request by letter or phone), then every room erases
what it keeps.

What happens follows `TRESEN_ERASURE` (settings.erasure_mode):
- "anonymize" (default): the record stays as "Erased customer" with its tier and language
  only, so the tickets stay counted in the statistics; the rooms clear every personal
  detail they keep (tresen.personal_data: subjects, texts, addresses, attachments, raw
  inbound payloads, outgoing mails, chat visitors' names and addresses).
- "delete": the record goes, with its tickets and everything they hold.
Either way the identities, consent history and portal sign-in links go, every portal
session ends and the portal password is removed, and an audit entry says what was done,
by whom and when, with counts only: no personal data.
On SQLite the file is then compacted (VACUUM, the write-ahead log truncated), so nothing
erased stays readable in the data folder; PostgreSQL's autovacuum reclaims the old rows.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from customers.events import CustomerUpdated
from customers.export import subject_of
from customers.models import ConsentChange, Customer, DataAudit, DataRequest, Identity
from customers.portal_access import end_sessions
from customers.portal_models import PortalAccount, PortalSignInLink
from tresen import personal_data
from tresen.personal_data import ERASURE_MODES
from tresen.runtime import ActionError, Transaction

log = logging.getLogger(__name__)

ERASED_NAME = "Erased customer"
REQUEST_STATES = ("pending", "done", "rejected", "withdrawn")
REQUEST_SOURCES = ("portal", "agent", "api")
# Truncating SQLite's write-ahead log waits for its readers: tried this often, this far apart.
CHECKPOINT_TRIES = 20
CHECKPOINT_PAUSE = 0.25


class ErasureError(ActionError):
    """An erasure or request that cannot be made; the message says why."""


async def pending_request(session, customer_id: int) -> DataRequest | None:
    return await session.scalar(
        select(DataRequest).where(
            DataRequest.customer_id == customer_id,
            DataRequest.kind == "erasure",
            DataRequest.status == "pending",
        )
    )


async def request_erasure(tx: Transaction, customer_id: int, *, source: str) -> DataRequest:
    """The customer asks to have their record erased; one pending request at a time (asked
    again, also twice at once, the pending one is returned)."""
    if source not in REQUEST_SOURCES:
        choices = ", ".join(REQUEST_SOURCES)
        raise ErasureError("source", f"source {source!r} is not one of {choices}")
    customer = await tx.session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise ErasureError("customer_id", f"customer {customer_id} does not exist")
    existing = await pending_request(tx.session, customer_id)
    if existing is not None:
        return existing
    request = DataRequest(
        customer_id=customer_id,
        kind="erasure",
        status="pending",
        source=source,
        requested_at=tx.now(),
    )
    try:
        async with tx.session.begin_nested():
            tx.session.add(request)
            await tx.session.flush()
    except IntegrityError:  # the same request, sent twice at once: the other one counts
        existing = await pending_request(tx.session, customer_id)
        if existing is None:
            raise
        return existing
    tx.emit(CustomerUpdated(customer_id=customer_id))
    return request


async def withdraw_request(tx: Transaction, customer_id: int) -> bool:
    """The customer changed their mind; False when nothing was pending."""
    request = await pending_request(tx.session, customer_id)
    if request is None:
        return False
    request.status, request.decided_at = "withdrawn", tx.now()
    tx.emit(CustomerUpdated(customer_id=customer_id))
    return True


async def reject_request(tx: Transaction, request_id: int, *, actor_user_id: int) -> DataRequest:
    """An administrator declines a request (e.g. a legal duty to keep the records)."""
    request = await tx.session.get(DataRequest, request_id)
    if request is None:
        raise ErasureError("request_id", f"request {request_id} does not exist")
    if request.status != "pending":
        raise ErasureError("request_id", f"request {request_id} is {request.status}", conflict=True)
    request.status, request.decided_at, request.decided_by_id = "rejected", tx.now(), actor_user_id
    if request.customer_id is not None:
        tx.emit(CustomerUpdated(customer_id=request.customer_id))
    return request


async def list_requests(session, status: str | None = "pending", limit: int = 200) -> list:
    """Requests with their customer's name (None once erased), newest first."""
    query = (
        select(DataRequest, Customer.name, Customer.erased_at)
        .outerjoin(Customer, Customer.id == DataRequest.customer_id)
        .order_by(DataRequest.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(DataRequest.status == status)
    return [
        (request, None if erased_at else name)
        for request, name, erased_at in (await session.execute(query)).all()
    ]


async def erase_customer(
    tx: Transaction,
    customer_id: int,
    *,
    mode: str,
    source: str,
    actor_user_id: int | None,
) -> dict[str, int | str]:
    """Erase the record and everything about it in every room; what was done (counts)."""
    if mode not in ERASURE_MODES:
        raise ErasureError("mode", f"mode {mode!r} is not one of {', '.join(ERASURE_MODES)}")
    subject = await subject_of(tx.session, customer_id)
    if subject is None:
        raise ErasureError("customer_id", f"customer {customer_id} does not exist")
    kept = await tx.session.get(Customer, subject.customer_id)
    if kept.erased_at is not None:
        raise ErasureError("customer_id", f"customer {customer_id} was erased already")
    counts: dict[str, int | str] = {"mode": mode, "records": len(subject.customer_ids)}
    for holder in personal_data.holders():
        if holder.erase is not None:
            counts.update(await holder.erase(tx, subject, mode))
    connection = await tx.session.connection()
    ids = list(subject.customer_ids)
    counts["identities"] = len(subject.identities)
    for model in (Identity, ConsentChange, PortalSignInLink):
        await connection.execute(delete(model).where(model.customer_id.in_(ids)))
    if mode == "anonymize":
        # Every portal session ends (a deleted account would start again at generation 0,
        # and the cookies of that generation would open the anonymized record).
        for record_id in ids:
            await end_sessions(tx, record_id)
        await tx.session.flush()
        await connection.execute(
            update(PortalAccount)
            .where(PortalAccount.customer_id.in_(ids))
            .values(password_hash=None)
        )
    await connection.execute(
        update(DataRequest)
        .where(DataRequest.customer_id.in_(ids), DataRequest.status == "pending")
        .values(status="done", decided_at=tx.now(), decided_by_id=actor_user_id)
    )
    if mode == "delete":
        await connection.execute(
            update(Customer).where(Customer.id.in_(ids)).values(merged_into_id=None)
        )
        await connection.execute(delete(Customer).where(Customer.id.in_(ids)))
        # The room has no "deleted" event: open consoles reload the record and find it gone.
        for record_id in ids:
            tx.emit(CustomerUpdated(customer_id=record_id))
    else:
        await connection.execute(
            update(Customer)
            .where(Customer.id.in_(ids))
            .values(
                name=ERASED_NAME,
                notes="",
                timezone=None,
                consent={},
                organization_id=None,
                erased_at=tx.now(),
                updated_at=tx.now(),
            )
        )
        tx.emit(CustomerUpdated(customer_id=subject.customer_id))
    tx.session.expunge_all()  # the ORM's copies hold what was just erased
    tx.session.add(
        DataAudit(
            action="erasure",
            customer_id=subject.customer_id,
            actor_user_id=actor_user_id,
            source=source,
            details=counts,
            at=tx.now(),
        )
    )
    return counts


async def erase(
    runtime, customer_id: int, *, source: str, actor_user_id: int | None, mode: str | None = None
) -> dict[str, int | str]:
    """Erase a record in one transaction (the setting's mode unless given), then compact."""
    async with runtime.transaction() as tx:
        counts = await erase_customer(
            tx,
            customer_id,
            mode=mode or runtime.settings.erasure_mode,
            source=source,
            actor_user_id=actor_user_id,
        )
    # The erasure is committed; compacting the file is best effort (a busy database, say):
    # the next erasure compacts again.
    try:
        await compact_storage(runtime)
    except Exception:
        log.warning("compacting the database after an erasure failed", exc_info=True)
    return counts


async def compact_storage(runtime) -> None:
    """SQLite keeps deleted rows' bytes in free pages, old full-text segments and the
    write-ahead log: rewritten here, so what was erased is gone from the file too."""
    if runtime.settings.is_postgres:
        return
    # This process's turn to write (the runtime's lock), on a connection of its own.
    async with runtime._writing(), runtime.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        sqlite = getattr(raw, "_connection", raw)
        sqlite.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        sqlite.execute("VACUUM")
        for _ in range(CHECKPOINT_TRIES):
            busy = sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not (busy and busy[0]):
                return
            await asyncio.sleep(CHECKPOINT_PAUSE)  # a reader still holds the log
        log.warning("the write-ahead log could not be truncated now (a reader holds it)")
