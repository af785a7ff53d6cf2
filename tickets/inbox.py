"""The inbox: store every inbound message first, then turn it into ticket + message once.

`receive` is safe to call again with the same message (a channel retry, a crash
between storing and acknowledging): the raw record is unique on
(channel, external_id) and processing happens at most once per record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from customers.actions import resolve_sender
from customers.identities import IdentityError, normalize_identity
from tickets.actions import NewAttachment, TicketRef, add_inbound_message
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
            # Stored with its outcome: one row, written atomically with the ticket and
            # message; a repeated delivery fails on the unique key and rolls all back.
            ticket, message_id = await _process(tx, inbound, sender)
            record = _record(tx, inbound, payload, status="processed")
            record.update(ticket_id=ticket.id, message_id=message_id, processed_at=tx.now())
            connection = await tx.session.connection()
            result = await connection.execute(insert(InboundRecord), record)
        return Received(
            result.inserted_primary_key[0], ticket.id, message_id, ticket.number, duplicate=False
        )
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
) -> dict:
    return {
        "channel": inbound.channel,
        "external_id": inbound.external_id,
        "payload": payload,
        "status": status,
        "error": error,
        "received_at": inbound.received_at or tx.now(),
    }


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
                ticket, message_id = await _process(tx, inbound, _sender(runtime, inbound))
                await tx.session.execute(
                    update(InboundRecord)
                    .where(InboundRecord.id == record_id)
                    .values(
                        status="processed",
                        processed_at=tx.now(),
                        ticket_id=ticket.id,
                        message_id=message_id,
                    )
                )
                return Received(record_id, ticket.id, message_id, ticket.number, duplicate=True)
    except Exception as error:
        await _mark_failed(runtime, record_id, error)
        raise InboxProcessingError(record_id, error) from error
    return await _result(runtime, record_id)


async def _process(
    tx: Transaction, inbound: InboundMessage, sender_value: str
) -> tuple[TicketRef, int]:
    """Customer, thread, ticket and message for one inbound message."""
    customer_id = await resolve_sender(tx, inbound.sender.kind, sender_value, inbound.sender.name)
    return await add_inbound_message(
        tx,
        await find_thread(tx, inbound),
        customer_id=customer_id,
        channel=inbound.channel,
        subject=inbound.subject,
        text=inbound.text,
        html=inbound.html,
        sender=sender_value,
        external_id=inbound.external_id,
        conversation_id=inbound.conversation_id,
        attachments=[
            NewAttachment(item.filename, item.content_type, item.content())
            for item in inbound.attachments
        ],
    )


# Built once: every inbound message runs them.
_THREAD_COLUMNS = (Ticket.id, Ticket.number, Ticket.state, Ticket.solved_at)
_BY_NUMBER = select(*_THREAD_COLUMNS).where(Ticket.number == bindparam("number"))
_BY_CONVERSATION = (
    select(*_THREAD_COLUMNS)
    .join(Message, Message.ticket_id == Ticket.id)
    .where(
        Message.channel == bindparam("channel"),
        Message.conversation_id == bindparam("conversation_id"),
    )
    .order_by(Message.id.desc())
    .limit(1)
)


async def find_thread(tx: Transaction, inbound: InboundMessage) -> TicketRef | None:
    """The ticket this message continues: by number, by message ids, by conversation."""
    connection = await tx.session.connection()
    row = None
    number = ticket_number_in_subject(inbound.subject)
    if number is not None:
        row = (await connection.execute(_BY_NUMBER, {"number": number})).first()
    hints = inbound.thread_hints()
    if row is None and hints:
        row = (
            await connection.execute(
                select(*_THREAD_COLUMNS)
                .join(Message, Message.ticket_id == Ticket.id)
                .where(Message.external_id.in_(hints))
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).first()
    if row is None and inbound.conversation_id:
        row = (
            await connection.execute(
                _BY_CONVERSATION,
                {"channel": inbound.channel, "conversation_id": inbound.conversation_id},
            )
        ).first()
    if row is None or not joins_existing(row.state):
        return None
    return TicketRef(*row)


async def _store_failed(
    runtime: Runtime, inbound: InboundMessage, payload: dict, error: Exception
) -> int:
    """Keep what was received even though it could not be processed."""
    log.exception("processing inbound message %s/%s failed", inbound.channel, inbound.external_id)
    reason = f"{type(error).__name__}: {error}"[:2000]
    try:
        async with runtime.transaction() as tx:
            record = _record(tx, inbound, payload, status="failed", error=reason)
            connection = await tx.session.connection()
            return (await connection.execute(insert(InboundRecord), record)).inserted_primary_key[0]
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
