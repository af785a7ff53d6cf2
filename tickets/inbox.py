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

from customers.actions import resolve_sender
from customers.identities import IdentityError, normalize_identity
from customers.models import Customer
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
    """Store, then process once. A repeated delivery answers with the first result."""
    try:
        normalize_identity(
            inbound.sender.kind,
            inbound.sender.value,
            default_region=runtime.settings.default_phone_region,
        )
    except IdentityError as error:
        raise InboundRejected("from", str(error)) from None
    record_id, fresh = await _store(runtime, inbound)
    if not fresh:
        done = await _result(runtime, record_id)
        if done is not None:
            return done
    try:
        async with runtime.transaction() as tx:
            result = await _process(tx, record_id, inbound, duplicate=not fresh)
    except Exception as error:
        await _mark_failed(runtime, record_id, error)
        raise InboxProcessingError(record_id, error) from error
    return result


async def _store(runtime: Runtime, inbound: InboundMessage) -> tuple[int, bool]:
    """The raw payload, durably, before any decision. Returns (id, newly stored)."""
    payload = inbound.model_dump(mode="json", by_alias=True)
    try:
        async with runtime.transaction() as tx:
            record = InboundRecord(
                channel=inbound.channel,
                external_id=inbound.external_id,
                payload=payload,
                status="received",
                received_at=inbound.received_at or tx.now(),
            )
            tx.session.add(record)
            await tx.session.flush()
            return record.id, True
    except IntegrityError:
        async with runtime.read() as session:
            existing = await session.scalar(
                select(InboundRecord.id).where(
                    InboundRecord.channel == inbound.channel,
                    InboundRecord.external_id == inbound.external_id,
                )
            )
        if existing is None:
            raise
        return existing, False


async def _result(runtime: Runtime, record_id: int) -> Received | None:
    async with runtime.read() as session:
        row = (
            await session.execute(
                select(InboundRecord.status, InboundRecord.ticket_id, InboundRecord.message_id, Ticket.number)
                .outerjoin(Ticket, Ticket.id == InboundRecord.ticket_id)
                .where(InboundRecord.id == record_id)
            )
        ).one()
    if row.status != "processed":
        return None
    return Received(record_id, row.ticket_id, row.message_id, row.number, duplicate=True)


async def _process(
    tx: Transaction, record_id: int, inbound: InboundMessage, *, duplicate: bool
) -> Received:
    # Claim the record: this row update serializes concurrent deliveries of the
    # same message; the loser finds it processed and answers with the result.
    claimed = await tx.session.execute(
        update(InboundRecord)
        .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
        .values(status="processed", processed_at=tx.now(), error=None)
    )
    if claimed.rowcount == 0:
        record = await tx.session.get(InboundRecord, record_id)
        ticket = await tx.session.get(Ticket, record.ticket_id) if record.ticket_id else None
        return Received(
            record_id, record.ticket_id, record.message_id, ticket and ticket.number, True
        )

    sender_value = normalize_identity(
        inbound.sender.kind, inbound.sender.value, default_region=tx.runtime.settings.default_phone_region
    )
    customer, _created = await resolve_sender(
        tx, inbound.sender.kind, sender_value, inbound.sender.name
    )
    actor = Actor(customer_id=customer.id)
    ticket = await find_thread(tx, inbound, customer)
    if ticket is None:
        ticket = await open_ticket(
            tx,
            customer=customer,
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
    await tx.session.execute(
        update(InboundRecord)
        .where(InboundRecord.id == record_id)
        .values(ticket_id=ticket.id, message_id=message.id)
    )
    return Received(record_id, ticket.id, message.id, ticket.number, duplicate)


async def find_thread(
    tx: Transaction, inbound: InboundMessage, customer: Customer
) -> Ticket | None:
    """The ticket this message continues: by number, by message ids, by conversation."""
    ticket = None
    number = ticket_number_in_subject(inbound.subject)
    if number is not None:
        ticket = await tx.session.scalar(select(Ticket).where(Ticket.number == number))
    hints = inbound.thread_hints()
    if ticket is None and hints:
        ticket = await tx.session.scalar(
            select(Ticket)
            .join(Message, Message.ticket_id == Ticket.id)
            .where(Message.external_id.in_(hints))
            .order_by(Message.id.desc())
            .limit(1)
        )
    if ticket is None and inbound.conversation_id:
        ticket = await tx.session.scalar(
            select(Ticket)
            .join(Message, Message.ticket_id == Ticket.id)
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


async def _mark_failed(runtime: Runtime, record_id: int, error: Exception) -> None:
    log.exception("processing inbound message %s failed", record_id)
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(InboundRecord)
            .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
            .values(status="failed", error=f"{type(error).__name__}: {error}"[:2000])
        )


async def retry_pending(runtime: Runtime) -> int:
    """Process records left received or failed (after a crash); returns how many succeeded."""
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
        inbound = InboundMessage.model_validate(payload)
        try:
            async with runtime.transaction() as tx:
                await _process(tx, record_id, inbound, duplicate=True)
            done += 1
        except Exception as error:  # noqa: BLE001 - recorded, retried next time
            await _mark_failed(runtime, record_id, error)
    return done
