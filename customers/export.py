"""The data export, "Download my data" (GDPR Art. 15 and 20): everything about one customer
record, as data.json in a ZIP with the attachments beside it.

The record's own fields, identities, organization, consent and its history, requests, and
the timeline come from here; tickets, messages, attachments, chat sessions and ratings from
the rooms that hold them (tresen.personal_data). Only the record's own data: the tickets an
organization manager may see in the portal are their colleagues' data, not theirs.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from customers import consent
from customers.models import Customer, DataAudit, DataRequest
from customers.portal_models import PortalAccount
from customers.timeline import timeline
from tresen import personal_data
from tresen.personal_data import Export, Subject
from tresen.runtime import ActionError, Transaction

FORMAT = "tresen-export/1"
TIMELINE_LIMIT = 10_000


class ExportError(ActionError):
    """The record cannot be exported (unknown, or erased)."""


async def subject_of(session: AsyncSession, customer_id: int) -> Subject | None:
    """The person behind a record: it (the one kept, when it was merged) and the records
    merged into it; None for an unknown record."""
    customer = await session.get(Customer, customer_id)
    for _ in range(10):
        if customer is None or customer.merged_into_id is None:
            break
        customer = await session.get(Customer, customer.merged_into_id)
    if customer is None:
        return None
    ids, pending = [customer.id], [customer.id]
    while pending:
        merged = list(
            await session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(pending)))
        )
        pending = [found for found in merged if found not in ids]
        ids += pending
    records = list(await session.scalars(select(Customer).where(Customer.id.in_(ids))))
    identities = [(i.kind, i.value) for record in records for i in record.identities]
    names = [record.name for record in records]
    names += [i.display_name for record in records for i in record.identities if i.display_name]
    return Subject(tuple(ids), tuple(identities), tuple(dict.fromkeys(names)))


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def export_record(session: AsyncSession, subject: Subject, export: Export) -> None:
    """The customers room's part: the record, its identities, consent, requests, timeline."""
    customer = await session.get(Customer, subject.customer_id)
    organization = customer.organization
    export.add(
        "customer",
        {
            "id": customer.id,
            "name": customer.name,
            "language": customer.language,
            "timezone": customer.timezone,
            "tier": customer.tier,
            "notes": customer.notes,
            "organization_role": getattr(customer, "org_role", None),
            "created_at": _moment(customer.created_at),
            "updated_at": _moment(customer.updated_at),
            "merged_records": list(subject.customer_ids[1:]),
        },
    )
    export.add(
        "organization",
        {"name": organization.name, "domain": organization.domain} if organization else None,
    )
    records = list(
        await session.scalars(select(Customer).where(Customer.id.in_(subject.customer_ids)))
    )
    export.add(
        "identities",
        [
            {
                "kind": identity.kind,
                "value": identity.value,
                "display_name": identity.display_name,
                "added_at": _moment(identity.created_at),
                "bounced_at": _moment(identity.bounced_at),
            }
            for record in records
            for identity in record.identities
        ],
    )
    export.add("consent", consent.current(customer))
    changes = []
    for customer_id in subject.customer_ids:
        changes += await consent.history(session, customer_id)
    export.add(
        "consent_history",
        [
            {
                "purpose": change.purpose,
                "granted": change.granted,
                "source": change.source,
                "at": _moment(change.at),
            }
            for change in sorted(changes, key=lambda change: change.at)
        ],
    )
    requests = await session.scalars(
        select(DataRequest)
        .where(DataRequest.customer_id.in_(subject.customer_ids))
        .order_by(DataRequest.id)
    )
    export.add(
        "data_requests",
        [
            {
                "kind": row.kind,
                "status": row.status,
                "source": row.source,
                "requested_at": _moment(row.requested_at),
                "decided_at": _moment(row.decided_at),
            }
            for row in requests
        ],
    )
    account = await session.get(PortalAccount, customer.id)
    export.add(
        "portal_account",
        {"created_at": _moment(account.created_at), "password_set": bool(account.password_hash)}
        if account
        else None,
    )
    entries = []
    for customer_id in subject.customer_ids:
        entries += await timeline(session, customer_id, TIMELINE_LIMIT)
    entries.sort(key=lambda entry: (entry.at, entry.kind, entry.id))
    export.add("timeline", [entry.to_json() for entry in entries])


async def build_export(session: AsyncSession, customer_id: int, now: datetime) -> bytes:
    """The ZIP: data.json and the attachments (ExportError for an unknown or erased record)."""
    subject = await subject_of(session, customer_id)
    if subject is None:
        raise ExportError("customer_id", f"customer {customer_id} does not exist")
    if (await session.get(Customer, subject.customer_id)).erased_at is not None:
        raise ExportError("customer_id", f"customer {customer_id} was erased")
    export = Export()
    export.add("format", FORMAT)
    export.add("exported_at", now.isoformat())
    await export_record(session, subject, export)
    for holder in personal_data.holders():
        if holder.export is not None:
            await holder.export(session, subject, export)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(export.data, ensure_ascii=False, indent=2))
        for path, content in sorted(export.files.items()):
            archive.writestr(path, content)
    return buffer.getvalue()


async def record_export(
    tx: Transaction, customer_id: int, *, source: str, actor_user_id: int | None = None
) -> None:
    """Write down that the record's data was handed out (who, how; never what)."""
    tx.session.add(
        DataAudit(
            action="export",
            customer_id=customer_id,
            actor_user_id=actor_user_id,
            source=source,
            details={},
            at=tx.now(),
        )
    )


class TooManyExports(Exception):
    """The record's data was exported as often as allowed in the last hour."""


# One export of a record at a time in this process: each holds every file of the record in
# memory, and the count of the last hour is read and written in turn.
_export_locks: dict[int, asyncio.Lock] = {}
_export_waiting: dict[int, int] = {}


@asynccontextmanager
async def _one_export_at_a_time(customer_id: int):
    lock = _export_locks.setdefault(customer_id, asyncio.Lock())
    _export_waiting[customer_id] = _export_waiting.get(customer_id, 0) + 1
    try:
        async with lock:
            yield
    finally:
        _export_waiting[customer_id] -= 1
        if not _export_waiting[customer_id]:
            del _export_waiting[customer_id]
            _export_locks.pop(customer_id, None)


async def export_customer(
    runtime,
    customer_id: int,
    *,
    source: str,
    actor_user_id: int | None = None,
    per_hour: int | None = None,
) -> bytes:
    """Audit the record's export, then build it; ExportError when there is none to make,
    TooManyExports when `per_hour` exports were made in the last hour already.

    The audit entry is written (and the last hour counted) before the ZIP is built, one
    export of a record at a time: requests sent at once cannot get past the limit."""
    async with _one_export_at_a_time(customer_id):
        async with runtime.transaction() as tx:
            subject = await subject_of(tx.session, customer_id)
            if subject is None:
                raise ExportError("customer_id", f"customer {customer_id} does not exist")
            kept = subject.customer_id
            # The record's row locked (PostgreSQL): other processes count in turn too.
            erased = await tx.session.scalar(
                select(Customer.erased_at).where(Customer.id == kept).with_for_update()
            )
            if erased is not None:
                raise ExportError("customer_id", f"customer {customer_id} was erased")
            if per_hour is not None:
                since = tx.now() - timedelta(hours=1)
                if await recent_exports(tx.session, kept, since) >= per_hour:
                    raise TooManyExports(customer_id)
            await record_export(tx, kept, source=source, actor_user_id=actor_user_id)
        async with runtime.read() as session:
            return await build_export(session, customer_id, runtime.clock.now())


async def recent_exports(session: AsyncSession, customer_id: int, since: datetime) -> int:
    """How often the record's data was exported since then (any source)."""
    return await session.scalar(
        select(func.count(DataAudit.id)).where(
            DataAudit.action == "export",
            DataAudit.customer_id == customer_id,
            DataAudit.at >= since,
        )
    )


def export_filename(customer_id: int, now: datetime) -> str:
    return f"my-data-{customer_id}-{now:%Y%m%d}.zip"
