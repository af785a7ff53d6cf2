"""The inbox: store every inbound message first, then turn it into ticket + message once.

`receive` is safe to call again with the same message (a channel retry, a crash
between storing and acknowledging): the raw record is unique on
(channel, external_id) and processing happens at most once per record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import bindparam, case, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from customers.actions import flag_bouncing, resolve_sender
from customers.identities import IdentityError, normalize_identity
from tickets.acknowledgement import acknowledge
from tickets.actions import (
    NewAttachment,
    TicketRef,
    add_inbound_message,
    apply_changes,
    mark_delivery_failed,
)
from tickets.models import InboundRecord, Message, OutboxMessage, Queue, Ticket
from tickets.states import DONE_STATES
from tickets.threading import joins_existing, subject_key, ticket_number_in_subject
from tresen import channel as channel_registry
from tresen import rooms
from tresen.database import unavailable
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
    sender = None if inbound.report else _sender(runtime, inbound)
    payload = inbound.model_dump(mode="json", by_alias=True)
    try:
        async with runtime.transaction() as tx:
            # Stored with its outcome: one row, written atomically with the ticket and
            # message; a repeated delivery fails on the unique key and rolls all back.
            ticket, message_id = await _process(tx, inbound, sender)
            record = _record(tx, inbound, payload, status="processed")
            record.update(
                ticket_id=ticket and ticket.id, message_id=message_id, processed_at=tx.now()
            )
            connection = await tx.session.connection()
            result = await connection.execute(insert(InboundRecord), record)
        return Received(
            result.inserted_primary_key[0],
            ticket and ticket.id,
            message_id,
            ticket and ticket.number,
            duplicate=False,
        )
    except IntegrityError as error:
        existing = await _existing(runtime, inbound)
        if existing is None:
            # Not a repeated delivery: the conflict came from processing.
            record_id = await _store_failed(runtime, inbound, payload, error)
            raise InboxProcessingError(record_id, error) from error
    except Exception as error:
        if unavailable(error):
            raise  # nothing can be stored now: the sender is asked to try again (503, 451)
        record_id = await _store_failed(runtime, inbound, payload, error)
        raise InboxProcessingError(record_id, error) from error
    distinct = _distinct(inbound, payload, existing)
    if distinct is not None:
        return await receive(runtime, distinct)
    if existing.status in ("processed", "rejected"):
        # Rejected for what it holds: the same message again changes nothing.
        return await _result(runtime, existing.id)
    # Stored earlier but not processed (it failed before): try again now.
    return await _retry(runtime, existing.id, inbound)


_CONTENT_FIELDS = ("from", "subject", "text", "html", "report")


def _distinct(
    inbound: InboundMessage, payload: dict, existing: InboundRecord
) -> InboundMessage | None:
    """A different message that came with an id already taken, re-keyed; None for a repeat.

    Some mail programs reuse Message-IDs; a second, different message must not be
    mistaken for a repeated delivery and dropped. It is kept under the id plus a
    digest of its content, so its own repeats are still recognized.
    """
    fields = [existing.payload.get(name) for name in _CONTENT_FIELDS]
    if fields == [payload.get(name) for name in _CONTENT_FIELDS]:
        return None
    content = json.dumps([payload.get(name) for name in _CONTENT_FIELDS], sort_keys=True)
    digest = hashlib.sha256(content.encode()).hexdigest()[:32]
    return inbound.model_copy(update={"external_id": f"{inbound.external_id[:460]}#{digest}"})


async def deliver(runtime: Runtime, inbound: InboundMessage) -> Received:
    """For channel adapters: the message is kept whatever it holds, or this raises.

    Unlike `receive` (which refuses an unusable sender so an API client can correct
    it), a message fetched from a mailbox cannot be sent again: it is stored as
    rejected for a person to look at. A processing failure is stored as failed and
    retried later. Only when nothing could be stored (the database is away) does
    this raise, and the channel must keep the message at its source.
    """
    try:
        return await receive(runtime, inbound)
    except InboundRejected as error:
        return await _keep(runtime, inbound, "rejected", f"{error.field}: {error}")
    except InboxProcessingError as error:
        return Received(error.inbox_id, None, None, None, duplicate=False)


async def _keep(runtime: Runtime, inbound: InboundMessage, status: str, reason: str) -> Received:
    payload = inbound.model_dump(mode="json", by_alias=True)
    try:
        async with runtime.transaction() as tx:
            record = _record(tx, inbound, payload, status=status, error=reason[:2000])
            connection = await tx.session.connection()
            record_id = (
                await connection.execute(insert(InboundRecord), record)
            ).inserted_primary_key[0]
    except IntegrityError:
        existing = await _existing(runtime, inbound)
        if existing is None:
            raise
        distinct = _distinct(inbound, payload, existing)
        if distinct is not None:
            return await _keep(runtime, distinct, status, reason)
        return Received(existing.id, existing.ticket_id, existing.message_id, None, duplicate=True)
    return Received(record_id, None, None, None, duplicate=False)


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
    """The sender's normalized identity value; a message without a usable one is refused,
    and so is one whose sender is of a kind its channel does not reach (an "email" sender
    on SMS would give the customer an identity no reply on that channel can go to)."""
    channel = channel_registry.get(inbound.channel)
    if channel is not None:
        kinds = [kind.name for kind in channel.identity_kinds]
        if inbound.sender.kind not in kinds:
            raise InboundRejected(
                "from",
                f"a {inbound.channel} message comes from a {' or '.join(kinds)} identity, "
                f"not {inbound.sender.kind!r}",
            )
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
                sender = None if inbound.report else _sender(runtime, inbound)
                ticket, message_id = await _process(tx, inbound, sender)
                await tx.session.execute(
                    update(InboundRecord)
                    .where(InboundRecord.id == record_id)
                    .values(
                        status="processed",
                        processed_at=tx.now(),
                        ticket_id=ticket and ticket.id,
                        message_id=message_id,
                    )
                )
                return Received(
                    record_id, ticket and ticket.id, message_id, ticket and ticket.number, True
                )
    except Exception as error:
        if unavailable(error):
            raise  # stays as it was; the sender is asked to try again
        await _mark_failed(runtime, record_id, error)
        raise InboxProcessingError(record_id, error) from error
    return await _result(runtime, record_id)


async def _process(
    tx: Transaction, inbound: InboundMessage, sender_value: str | None
) -> tuple[TicketRef | None, int | None]:
    """Customer, thread, ticket and message for one inbound message."""
    if inbound.report is not None:
        return await _process_report(tx, inbound)
    person = inbound.auto_submitted is None
    if channel_registry.describe(inbound.channel).threading.sender:
        await _one_at_a_time(tx, inbound.sender.kind, sender_value)
    customer_id = await resolve_sender(
        tx, inbound.sender.kind, sender_value, inbound.sender.name, person=person
    )
    ticket = await find_thread(tx, inbound, customer_id)
    follow_up_of = None
    if ticket is not None and not joins_existing(ticket.state, tx.runtime.settings.reply_to_closed):
        ticket, follow_up_of = None, ticket
    opens_ticket = ticket is None
    ticket, message_id = await add_inbound_message(
        tx,
        ticket,
        customer_id=customer_id,
        channel=inbound.channel,
        subject=inbound.subject,
        text=inbound.text,
        html=inbound.html,
        sender=sender_value,
        recipient=inbound.to,
        external_id=inbound.external_id,
        conversation_id=inbound.conversation_id,
        attachments=_attachments(inbound),
        auto_submitted=inbound.auto_submitted,
        visible_text=inbound.visible_text,
        notices=inbound.notices,
        queue_id=await _queue(tx, inbound.queue_id),
        follow_up_of_id=follow_up_of and follow_up_of.id,
    )
    routed = await rooms.route(
        tx, inbound=inbound, ticket=ticket, message_id=message_id, opened=opens_ticket
    )
    ticket = replace(ticket, queue_id=routed.queue_id)
    # A ticket the bot answers first gets no acknowledgement: the bot greets instead.
    if opens_ticket and person and not routed.bot:
        await acknowledge(tx, ticket, inbound, sender_value, template=routed.auto_reply)
    return ticket, message_id


async def _one_at_a_time(tx: Transaction, kind: str, value: str) -> None:
    """Messages from one sender on a channel that threads by sender are taken one after the
    other (PostgreSQL; SQLite has one writer anyway): two SMS arriving together must find one
    conversation, not each open their own. (Mail threads by headers and subject; a new
    customer's identity is made once by resolve_sender's own savepoint.)"""
    if not tx.runtime.settings.is_postgres:
        return
    digest = hashlib.sha256(f"inbound-sender:{kind}:{value}".encode()).digest()
    await tx.session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest[:8], "big", signed=True)},
    )


def _attachments(inbound: InboundMessage) -> list[NewAttachment]:
    return [
        NewAttachment(item.filename, item.content_type, item.content(), item.content_id)
        for item in inbound.attachments
    ]


async def _queue(tx: Transaction, queue_id: int | None) -> int | None:
    """The account's queue when it still exists; a queue deleted since is no reason to fail."""
    if queue_id is None:
        return None
    connection = await tx.session.connection()
    if await connection.scalar(select(Queue.id).where(Queue.id == queue_id)) is None:
        log.warning("inbound message names queue %s, which does not exist", queue_id)
        return None
    return queue_id


async def _process_report(
    tx: Transaction, inbound: InboundMessage
) -> tuple[TicketRef | None, int | None]:
    """A bounce or complaint: onto the ticket of our message it is about, never a new ticket;
    one about none of our messages is kept for a person (`_unmatched_report`).

    Only what the report proves is acted on. It must name one of our outbound messages
    (by the Message-ID we gave it, which nobody but its recipients has seen), and only
    that message's recipient, when the report names it as failed (or names nobody), has
    the delivery marked failed and the address flagged on the customer record. A mail
    that merely looks like a bounce (a subject, `X-Failed-Recipients`) can name anyone.
    """
    report = inbound.report
    connection = await tx.session.connection()
    ours = []
    if report.refers_to:
        ours = (await connection.execute(_OURS, {"ids": report.refers_to})).all()
    if not ours:
        return await _unmatched_report(tx, inbound)
    diagnostic = report.diagnostic or f"delivery {report.action}"
    failed = _failed_deliveries(report.recipients, ours)
    if report.action != "delayed" and failed:
        await mark_delivery_failed(tx, [row.id for row in failed], report.action, diagnostic)
        recipients = sorted({row.recipient for row in failed})
        await flag_bouncing(tx, recipients, f"{report.action}: {diagnostic}")
    ticket = TicketRef(*(failed or ours)[0][1:-1])
    return await _report_message(
        tx, ticket, inbound, customer_id=None, about=f"delivery report: {report.action}"
    )


async def _report_message(
    tx: Transaction, ticket: TicketRef | None, inbound: InboundMessage, **fields
) -> tuple[TicketRef, int]:
    """A delivery report as an internal message (no customer sees it) on `ticket` (or a new
    one); `about` says what kind of report it was."""
    return await add_inbound_message(
        tx,
        ticket,
        channel=inbound.channel,
        subject=inbound.subject,
        text=inbound.text or inbound.report.diagnostic or f"delivery {inbound.report.action}",
        html=inbound.html,
        sender=inbound.sender.value,
        recipient=inbound.to,
        external_id=inbound.external_id,
        attachments=_attachments(inbound),
        auto_submitted=fields.pop("about"),
        internal=True,
        notices=inbound.notices,
        **fields,
    )


def _failed_deliveries(named: list[str], ours: list) -> list:
    """Those of our deliveries the report says failed: the ones to a recipient it names,
    or all it refers to when it names nobody (a complaint often hides the address)."""
    delivered = [row for row in ours if row.recipient]
    if not named:
        return delivered
    wanted = {address.lower() for address in named}
    return [row for row in delivered if row.recipient.lower() in wanted]


UNMATCHED_REPORT_TAG = "unmatched-bounce"


async def _unmatched_report(tx: Transaction, inbound: InboundMessage) -> tuple[TicketRef, int]:
    """A report about none of our messages (a mailing list's bounce, one for mail sent
    outside Tresen, a forgery): a ticket for a person, tagged `unmatched-bounce`, never dropped.

    It flags nobody and is answered by nobody: no confirmation, no routing (so no rule's
    auto-reply, no SLA clock, no assignment); it waits in the receiving account's queue,
    as an internal message so that no customer ever sees it. Reports from the same sender
    with the same subject gather on one open ticket rather than opening one each.
    """
    kind, sender = _report_sender(tx.runtime, inbound)
    customer_id = await resolve_sender(tx, kind, sender, inbound.sender.name, person=False)
    connection = await tx.session.connection()
    key = subject_key(inbound.subject) if inbound.subject else None
    row = None
    if key:
        row = (
            await connection.execute(_BY_SUBJECT, {"customer_id": customer_id, "subject_key": key})
        ).first()
    ticket = None if row is None else TicketRef(*row)
    ticket, message_id = await _report_message(
        tx,
        ticket,
        inbound,
        customer_id=customer_id,
        about=f"delivery report: {inbound.report.action}, about none of our messages",
        queue_id=await _queue(tx, inbound.queue_id),
    )
    if row is None:
        await apply_changes(tx, ticket.id, {}, add_tags=[UNMATCHED_REPORT_TAG], known_tags=[])
    return ticket, message_id


def _report_sender(runtime: Runtime, inbound: InboundMessage) -> tuple[str, str]:
    """The report's sender (kind, value). Many mail systems send theirs from no address at
    all (`MAILER-DAEMON <>`): those stand for the mail system of the mailbox it came to."""
    try:
        return inbound.sender.kind, _sender(runtime, inbound)
    except InboundRejected:
        domain = (inbound.to or "").rpartition("@")[2]
        if inbound.sender.kind != "email" or not domain:
            raise
        try:
            return "email", normalize_identity("email", f"mailer-daemon@{domain}")
        except IdentityError:
            raise InboundRejected("from", f"a report from {inbound.sender.value!r}") from None


# Built once: every inbound message runs them.
_THREAD_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.state,
    Ticket.solved_at,
    Ticket.customer_id,
    Ticket.queue_id,
)
_BY_NUMBER = select(*_THREAD_COLUMNS, Ticket.merged_into_id).where(
    Ticket.number == bindparam("number")
)
_BY_ID = select(*_THREAD_COLUMNS, Ticket.merged_into_id).where(Ticket.id == bindparam("id"))
# Our messages a delivery report is about, newest first.
_OURS = (
    select(Message.id, *_THREAD_COLUMNS, OutboxMessage.recipient)
    .join(Ticket, Ticket.id == Message.ticket_id)
    .outerjoin(OutboxMessage, OutboxMessage.message_id == Message.id)
    .where(
        Message.external_id.in_(bindparam("ids", expanding=True)),
        Message.direction == "outbound",
    )
    .order_by(Message.id.desc())
)
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
# The customer's latest conversation on this channel, when it is recent enough.
_BY_SENDER = (
    select(*_THREAD_COLUMNS)
    .join(Message, Message.ticket_id == Ticket.id)
    .where(
        Ticket.customer_id == bindparam("customer_id"),
        Message.channel == bindparam("channel"),
        Message.internal.is_(False),
        Message.created_at >= bindparam("since"),
    )
    .order_by(Message.id.desc())
    .limit(1)
)
_BY_SUBJECT = (
    select(*_THREAD_COLUMNS)
    .where(
        Ticket.customer_id == bindparam("customer_id"),
        Ticket.subject_key == bindparam("subject_key"),
        Ticket.state.not_in(DONE_STATES),
    )
    .order_by(Ticket.updated_at.desc())
    .limit(1)
)


async def find_thread(
    tx: Transaction, inbound: InboundMessage, customer_id: int | None = None
) -> TicketRef | None:
    """The ticket this message continues: by number, message ids, conversation, then subject
    or sender, as far as its channel threads by each (tresen.channel.Threading).

    Subject and sender are last resorts, and only among the same customer's tickets: an open
    one with the same subject (mail), or the latest one this customer wrote or was answered
    on over this channel within the conversation window (SMS, WhatsApp, ...). A closed
    ticket is returned too; whether the message joins it is the caller's rule.
    """
    threading = channel_registry.describe(inbound.channel).threading
    connection = await tx.session.connection()
    row = None
    number = ticket_number_in_subject(inbound.subject) if threading.ticket_number else None
    if number is not None:
        row = (await connection.execute(_BY_NUMBER, {"number": number})).first()
        # A merged ticket's replies go where its conversation went (merges may chain).
        for _hop in range(10):
            if row is None or row.merged_into_id is None:
                break
            row = (await connection.execute(_BY_ID, {"id": row.merged_into_id})).first()
        row = row and row[:-1]
    hints = inbound.thread_hints() if threading.references else []
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
    if row is None and inbound.conversation_id and threading.conversation:
        row = (
            await connection.execute(
                _BY_CONVERSATION,
                {"channel": inbound.channel, "conversation_id": inbound.conversation_id},
            )
        ).first()
    key = subject_key(inbound.subject) if inbound.subject and threading.subject else None
    if row is None and key and customer_id is not None:
        row = (
            await connection.execute(_BY_SUBJECT, {"customer_id": customer_id, "subject_key": key})
        ).first()
    if row is None and threading.sender and customer_id is not None:
        since = tx.now() - conversation_window(tx, inbound.channel)
        row = (
            await connection.execute(
                _BY_SENDER,
                {"customer_id": customer_id, "channel": inbound.channel, "since": since},
            )
        ).first()
    return None if row is None else TicketRef(*row)


def conversation_window(tx: Transaction, channel: str) -> timedelta:
    """How long after the last message on a channel a new one continues the conversation."""
    window = channel_registry.describe(channel).conversation_window
    return window or timedelta(hours=tx.runtime.settings.conversation_hours)


async def _store_failed(
    runtime: Runtime, inbound: InboundMessage, payload: dict, error: Exception
) -> int:
    """Keep what was received even though it could not be processed."""
    log.exception("processing inbound message %s/%s failed", inbound.channel, inbound.external_id)
    reason = f"{type(error).__name__}: {error}"[:2000]
    try:
        async with runtime.transaction() as tx:
            record = _record(tx, inbound, payload, status="failed", error=reason)
            record.update(attempts=1, last_attempt_at=tx.now())
            connection = await tx.session.connection()
            return (await connection.execute(insert(InboundRecord), record)).inserted_primary_key[0]
    except IntegrityError:
        existing = await _existing(runtime, inbound)
        await _mark_failed(runtime, existing.id, error)
        return existing.id


# Failed processing attempts after which a record is quarantined: what still fails after a
# few tries over about 20 minutes is no hiccup, and retrying it for ever only logs.
MAX_ATTEMPTS = 5


async def _mark_failed(runtime: Runtime, record_id: int, error: Exception) -> None:
    """One more failed attempt; the MAX_ATTEMPTS-th puts the record in quarantine."""
    reason = f"{type(error).__name__}: {error}"[:2000]
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(InboundRecord)
            .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
            .values(
                status=case(
                    (InboundRecord.attempts + 1 >= MAX_ATTEMPTS, "quarantined"), else_="failed"
                ),
                attempts=InboundRecord.attempts + 1,
                last_attempt_at=tx.now(),
                error=reason,
            )
        )
        status = await tx.session.scalar(
            select(InboundRecord.status).where(InboundRecord.id == record_id)
        )
    if status == "quarantined":
        log.error(
            "inbound message %s quarantined after %d failed attempts: %s "
            "(an administrator can retry it: GET /api/v1/inbox/quarantined)",
            record_id,
            MAX_ATTEMPTS,
            reason,
        )


async def _quarantine(runtime: Runtime, record_id: int, reason: str) -> None:
    """No more attempts: what is stored can never be processed as it is."""
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(InboundRecord)
            .where(InboundRecord.id == record_id, InboundRecord.status != "processed")
            .values(
                status="quarantined",
                attempts=InboundRecord.attempts + 1,
                last_attempt_at=tx.now(),
                error=reason[:2000],
            )
        )
    log.error("inbound message %s quarantined: %s", record_id, reason[:500])


async def retry_pending(runtime: Runtime) -> int:
    """Process records left received or failed; returns how many succeeded.

    Each failure counts an attempt (logged in a line, no traceback: the first failure
    logged it); a record stored in a form no longer valid is quarantined at once.
    """
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
            inbound = InboundMessage.model_validate(payload)
        except ValidationError as error:
            await _quarantine(runtime, record_id, f"stored message is not valid: {error}")
            continue
        try:
            await _retry(runtime, record_id, inbound)
            done += 1
        except InboxProcessingError as error:
            log.warning("inbound message %s failed again: %s", record_id, error.__cause__)
    return done


async def quarantined(runtime: Runtime, limit: int = 100) -> list[InboundRecord]:
    """The quarantined records, newest first, for an administrator to look at."""
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(InboundRecord)
                .where(InboundRecord.status == "quarantined")
                .order_by(InboundRecord.id.desc())
                .limit(limit)
            )
        )


async def retry_quarantined(runtime: Runtime, record_id: int) -> Received:
    """An administrator's retry of a quarantined record (after a fix): processed now, or
    quarantined again with the new error (InboxProcessingError). LookupError: no such one."""
    async with runtime.read() as session:
        record = await session.get(InboundRecord, record_id)
    if record is None or record.status != "quarantined":
        raise LookupError(f"inbox record {record_id} is not quarantined")
    try:
        inbound = InboundMessage.model_validate(record.payload)
    except ValidationError as error:
        await _quarantine(runtime, record_id, f"stored message is not valid: {error}")
        raise InboxProcessingError(record_id, error) from error
    return await _retry(runtime, record_id, inbound)


RETRY_SECONDS = 300.0


async def run(runtime: Runtime) -> None:
    """Process again, every few minutes, what was stored but failed (e.g. a database hiccup)."""
    while True:
        await asyncio.sleep(RETRY_SECONDS)
        try:
            done = await retry_pending(runtime)
            if done:
                log.info("processed %d inbound messages that had failed before", done)
        except Exception:
            log.exception("retrying failed inbound messages failed")
