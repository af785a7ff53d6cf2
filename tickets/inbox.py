"""The inbox: store every inbound message first, then turn it into ticket + message once.

`receive` is safe to call again with the same message (a channel retry, a crash
between storing and acknowledging): the raw record is unique on
(channel, external_id) and processing happens at most once per record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from customers.actions import resolve_sender
from customers.identities import IdentityError, normalize_identity
from tickets.actions import Actor, NewAttachment, add_message, open_ticket
from tickets.models import InboundRecord, Message, Ticket
from tickets.threading import joins_existing, ticket_number_in_subject
from tresen.inbound import InboundMessage
from tresen.runtime import Runtime, Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    inbox_id: int
    ticket_id: int | None
    message_id: int | None
    ticket_number: int | None
    duplicate: bool

    def to_json(self) -> dict:
        return {
            "ticket_id": self.ticket_id,
            "message_id": self.message_id,
            "ticket_number": self.ticket_number,
        }


class InboxProcessingError(RuntimeError):
    """The message is stored but could not be processed; it will be retried."""

    def __init__(self, inbox_id: int, cause: Exception) -> None:
        super().__init__(f"inbound message {inbox_id} stored, processing failed: {cause}")
        self.inbox_id = inbox_id


class InboundRejected(ValueError):
    """The message cannot be taken at all (e.g. an unusable sender); nothing was stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


async def receive(runtime: Runtime, inbound: InboundMessage) -> Received:
    """Store and process once. A repeated delivery answers with the first result.

    A fresh message is stored and processed in one transaction, so it is either
    kept with its ticket and message or not at all (and its sender, not having
    had our answer, delivers it again). If processing fails, the raw message is
    kept as failed and processed again by the next delivery or `retry_pending`.
    """
    sender = _sender(runtime, inbound)
    payload = inbound.model_dump(mode="json", by_alias=True)
    try:
        async with runtime.transaction() as tx:
            # Stored with its outcome at commit: one row, written atomically with the
            # ticket and message; a repeated delivery fails on the unique key.
            record = _record(tx, inbound, payload, status="received")
            ticket, message = await _process(tx, record, inbound, sender)
            tx.session.add(record)  # inserted by the commit's flush
        return Received(record.id, ticket.id, message.id, ticket.number, duplicate=False)
    except IntegrityError as error:
        existing = await _existing(runtime, inbound)
        if existing is None:
            # Not a repeated delivery: the conflict came from processing.
            record_id = await _store_failed(runtime, inbound, payload, error)
            raise InboxProcessingError(record_id, error) from error
    except Exception as error:
        record_id = await _store_failed(runtime, inbound, payload, error)
        raise InboxProcessingError(record_id, error) from error
    if existing.status == "processed":
        return await _result(runtime, existing.id)
    # Stored earlier but not processed (it failed before): try again now.
    return await _retry(runtime, existing.id, inbound)


def _record(
    tx: Transaction, inbound: InboundMessage, payload: dict, *, status: str, error=None
) -> InboundRecord:
    return InboundRecord(
        channel=inbound.channel,
        external_id=inbound.external_id,
        payload=payload,
        status=status,
        error=error,
        received_at=inbound.received_at or tx.now(),
    )


def _sender(runtime: Runtime, inbound: InboundMessage) -> str:
    """The sender's normalized identity value; a message without a usable one is refused."""
    try:
        return normalize_identity(
            inbound.sender.kind,
            inbound.sender.value,
            default_region=runtime.settings.default_phone_region,
        )
    except IdentityError as error:
        raise InboundRejected("from", str(error)) from None


async def _existing(runtime: Runtime, inbound: InboundMessage) -> InboundRecord | None:
    async with runtime.read() as session:
        return await session.scalar(
            select(InboundRecord).where(
                InboundRecord.channel == inbound.channel,
                InboundRecord.external_id == inbound.external_id,
            )
        )


async def _result(runtime: Runtime, record_id: int) -> Received:
    async with runtime.read() as session:
        row = (
            await session.execute(
                select(InboundRecord.ticket_id, InboundRecord.message_id, Ticket.number)
                .outerjoin(Ticket, Ticket.id == InboundRecord.ticket_id)
                .where(InboundRecord.id == record_id)
            )
        ).one()
    return Received(record_id, row.ticket_id, row.message_id, row.number, duplicate=True)


async def _retry(runtime: Runtime, record_id: int, inbound: InboundMessage) -> Received:
    try:
        async with runtime.transaction() as tx:
            # Lock the record; whoever processed it meanwhile wins and we report theirs.
            claimed = await tx.session.execute(
                update(InboundRecord)
                .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
                .values(error=None)
            )
            if claimed.rowcount:
                record = await tx.session.get(InboundRecord, record_id)
                ticket, message = await _process(tx, record, inbound, _sender(runtime, inbound))
                return Received(record_id, ticket.id, message.id, ticket.number, duplicate=True)
    except Exception as error:
        await _mark_failed(runtime, record_id, error)
        raise InboxProcessingError(record_id, error) from error
    return await _result(runtime, record_id)


async def _process(
    tx: Transaction,
    record: InboundRecord,
    inbound: InboundMessage,
    sender_value: str,
) -> tuple[Ticket, Message]:
    """Customer, thread, ticket and message for one inbound message; the record says so."""
    customer_id = await resolve_sender(tx, inbound.sender.kind, sender_value, inbound.sender.name)
    actor = Actor(customer_id=customer_id)
    ticket = await find_thread(tx, inbound)
    if ticket is None:
        ticket = await open_ticket(
            tx,
            customer_id=customer_id,
            subject=inbound.subject or _subject_from_text(inbound.text),
            channel=inbound.channel,
            actor=actor,
        )
    message = await add_message(
        tx,
        ticket,
        direction="inbound",
        channel=inbound.channel,
        text=inbound.text,
        html=inbound.html,
        actor=actor,
        sender=sender_value,
        subject=inbound.subject,
        external_id=inbound.external_id,
        conversation_id=inbound.conversation_id,
        attachments=[
            NewAttachment(item.filename, item.content_type, item.content())
            for item in inbound.attachments
        ],
    )
    record.status = "processed"
    record.processed_at = tx.now()
    record.ticket_id = ticket.id
    record.message_id = message.id
    return ticket, message


async def find_thread(tx: Transaction, inbound: InboundMessage) -> Ticket | None:
    """The ticket this message continues: by number, by message ids, by conversation."""
    ticket = None
    # Only the ticket's own columns: threading needs no customer, queue or tags.
    bare = select(Ticket).options(lazyload("*"))
    number = ticket_number_in_subject(inbound.subject)
    if number is not None:
        ticket = await tx.session.scalar(bare.where(Ticket.number == number))
    hints = inbound.thread_hints()
    if ticket is None and hints:
        ticket = await tx.session.scalar(
            bare.join(Message, Message.ticket_id == Ticket.id)
            .where(Message.external_id.in_(hints))
            .order_by(Message.id.desc())
            .limit(1)
        )
    if ticket is None and inbound.conversation_id:
        ticket = await tx.session.scalar(
            bare.join(Message, Message.ticket_id == Ticket.id)
            .where(
                Message.channel == inbound.channel,
                Message.conversation_id == inbound.conversation_id,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    if ticket is not None and not joins_existing(ticket.state):
        return None
    return ticket


def _subject_from_text(text: str) -> str:
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first_line[:80] or "(no subject)"


async def _store_failed(
    runtime: Runtime, inbound: InboundMessage, payload: dict, error: Exception
) -> int:
    """Keep what was received even though it could not be processed."""
    log.exception("processing inbound message %s/%s failed", inbound.channel, inbound.external_id)
    reason = f"{type(error).__name__}: {error}"[:2000]
    try:
        async with runtime.transaction() as tx:
            record = _record(tx, inbound, payload, status="failed", error=reason)
            tx.session.add(record)
            await tx.session.flush()
            return record.id
    except IntegrityError:
        existing = await _existing(runtime, inbound)
        await _mark_failed(runtime, existing.id, error)
        return existing.id


async def _mark_failed(runtime: Runtime, record_id: int, error: Exception) -> None:
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(InboundRecord)
            .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
            .values(status="failed", error=f"{type(error).__name__}: {error}"[:2000])
        )


async def retry_pending(runtime: Runtime) -> int:
    """Process records left received or failed; returns how many succeeded."""
    async with runtime.read() as session:
        rows = (
            await session.execute(
                select(InboundRecord.id, InboundRecord.payload)
                .where(InboundRecord.status.in_(("received", "failed")))
                .order_by(InboundRecord.id)
            )
        ).all()
    done = 0
    for record_id, payload in rows:
        try:
            await _retry(runtime, record_id, InboundMessage.model_validate(payload))
            done += 1
        except InboxProcessingError:
            pass  # recorded on the record; tried again next time
    return done
