"""Delivering the outbox: each queued message once, through its channel, with backoff.

The attempt is recorded (status `sending`, the message's channel id fixed) and
committed before the channel is asked to send. If the process dies while sending,
the row stays `sending` until its lease runs out and then becomes `uncertain`:
it may have reached the customer, so it is never sent again without a person
deciding so (`requeue_delivery`). On PostgreSQL several workers share the outbox;
`FOR UPDATE SKIP LOCKED` gives each row to exactly one of them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from tickets.models import Attachment, Message, OutboxMessage, Ticket
from tresen import channel as channel_registry
from tresen import notifications
from tresen.outbound import DeliveryError, OutboundAttachment, OutboundMessage
from tresen.runtime import ActionError, Runtime, Transaction, drained, woken

log = logging.getLogger(__name__)

# Seconds to wait after the 1st, 2nd, ... failed attempt; after the last, it has failed.
BACKOFF = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
LEASE = timedelta(minutes=10)  # longer than any channel takes to send one message
IDLE_SECONDS = 5.0
UNSENDABLE_WAIT = timedelta(hours=1)
RETRYABLE = ("failed", "uncertain", "bounced")


BATCH = 50


async def deliver_due(runtime: Runtime, *, limit: int = BATCH) -> int:
    """Send what is due now; returns how many messages went out."""
    return (await _deliver_batch(runtime, limit))[1]


async def _deliver_batch(runtime: Runtime, limit: int) -> tuple[int, int]:
    """One pass: (rows taken to send, messages sent). Looked for with reads first: an outbox
    with nothing due (and no lease run out) takes no write lock, which SQLite has one of."""
    now = runtime.clock.now()
    async with runtime.read() as session:
        lapsed = await session.scalar(_LAPSED, {"now": now})
        due = await session.scalar(_DUE, {"now": now})
    if lapsed:
        await _expire_leases(runtime)
    if not due:
        return 0, 0
    claimed = await _claim(runtime, limit)
    sent = 0
    for outbox_id, outbound in claimed:
        sent += await _deliver(runtime, outbox_id, outbound)
    return len(claimed), sent


_LAPSED = (
    select(OutboxMessage.id)
    .where(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at < bindparam("now"))
    .limit(1)
)
_DUE = (
    select(OutboxMessage.id)
    .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= bindparam("now"))
    .limit(1)
)


async def run(runtime: Runtime) -> None:
    """The outbox worker: delivers as soon as a message is queued, and whatever falls due
    (retries, and messages another process queued: on SQLite its events reach no one else),
    looked for every IDLE_SECONDS however busy the bus is with other events."""
    async with runtime.bus.subscribe() as events:
        while True:
            # What was queued while the last pass ran is delivered by this one.
            drained(events, ("outbox.queued",))
            try:
                # Another pass only after a full one: the rest of the due rows wait for it.
                while (await _deliver_batch(runtime, BATCH))[0] >= BATCH:
                    pass
            except Exception:  # the database may be away for a moment; try again soon
                log.exception("delivering the outbox failed")
            await woken(events, ("outbox.queued",), IDLE_SECONDS)


async def _expire_leases(runtime: Runtime) -> None:
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        expired = (
            await connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at < tx.now())
                .values(
                    status="uncertain",
                    next_attempt_at=None,
                    last_error="sending was interrupted; it may have reached the recipient, "
                    "so it is not sent again on its own",
                )
                .returning(OutboxMessage.message_id, OutboxMessage.notification_id)
            )
        ).all()
        for row in expired:
            if row.notification_id is not None:  # a staff mail: say so on the notification
                await notifications.set_mail_status(
                    tx, row.notification_id, "failed", "sending was interrupted"
                )
        await _emit_delivery(tx, [row.message_id for row in expired])


async def _claim(runtime: Runtime, limit: int) -> list[tuple[int, OutboundMessage]]:
    """Due rows (their ids), marked as being sent by us, with what their channel needs."""
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        due = (
            select(
                OutboxMessage.id,
                OutboxMessage.message_id,
                OutboxMessage.recipient,
                OutboxMessage.channel,
                OutboxMessage.subject,
                OutboxMessage.text,
                OutboxMessage.created_at,
            )
            .where(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= tx.now())
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if runtime.settings.is_postgres:
            due = due.with_for_update(skip_locked=True)
        rows = (await connection.execute(due)).all()
        claimed = []
        for row in rows:
            sender = channel_registry.get(row.channel)
            if sender is None or sender.send is None:
                await connection.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(
                        next_attempt_at=tx.now() + UNSENDABLE_WAIT,
                        last_error=f"the {row.channel} channel cannot send messages yet",
                    )
                )
                continue
            if row.message_id is None:
                outbound = _staff_mail(row)
            else:
                outbound = await _outbound(tx, row.message_id, row.recipient)
            await connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(
                    status="sending",
                    attempts=OutboxMessage.attempts + 1,
                    next_attempt_at=tx.now() + LEASE,
                    details={"external_id": outbound.external_id},
                )
            )
            claimed.append((row.id, outbound))
    return claimed


def _staff_mail(row) -> OutboundMessage:
    """A mail without a ticket message (a notification's copy): its row holds it all."""
    make_id = channel_registry.describe(row.channel).new_external_id
    return OutboundMessage(
        channel=row.channel,
        message_id=0,  # no ticket message
        external_id=make_id(0, None) if make_id else None,
        sender=None,
        recipient=row.recipient,
        subject=row.subject or "",
        text=row.text or "",
        html=None,
        # No [#number] in the subject: an answer to this mail is not the customer's.
        ticket_number=0,
        created_at=row.created_at,
        auto_submitted="auto-generated",
    )


async def _outbound(tx: Transaction, message_id: int, recipient: str) -> OutboundMessage:
    connection = await tx.session.connection()
    row = (
        await connection.execute(
            select(
                Message.id,
                Message.ticket_id,
                Message.channel,
                Message.sender,
                Message.subject,
                Message.text,
                Message.html,
                Message.external_id,
                Message.created_at,
                Message.auto_submitted,
                Message.interactive,
                Ticket.number,
                Ticket.subject.label("ticket_subject"),
            )
            .join(Ticket, Ticket.id == Message.ticket_id)
            .where(Message.id == message_id)
        )
    ).one()
    external_id = row.external_id
    if external_id is None:
        make_id = channel_registry.describe(row.channel).new_external_id
        external_id = make_id(row.id, row.sender) if make_id else None
        if external_id:
            # Fixed now, so a reply to it threads even if recording the send is lost.
            await connection.execute(
                update(Message).where(Message.id == row.id).values(external_id=external_id)
            )
    earlier = (
        await connection.execute(
            select(Message.external_id, Message.direction)
            .where(
                Message.ticket_id == row.ticket_id,
                Message.id < row.id,
                Message.channel == row.channel,
                Message.internal.is_(False),
                Message.external_id.is_not(None),
            )
            .order_by(Message.id)
        )
    ).all()
    references = [item.external_id for item in earlier][-20:]
    inbound = [item.external_id for item in earlier if item.direction == "inbound"]
    attachments = (
        await connection.execute(
            select(
                Attachment.filename,
                Attachment.content_type,
                Attachment.content,
                Attachment.content_id,
            ).where(Attachment.message_id == row.id)
        )
    ).all()
    return OutboundMessage(
        channel=row.channel,
        message_id=row.id,
        external_id=external_id,
        sender=row.sender,
        recipient=recipient,
        subject=row.subject or f"Re: {row.ticket_subject}",
        text=row.text,
        html=row.html,
        ticket_number=row.number,
        created_at=row.created_at,
        in_reply_to=inbound[-1] if inbound else None,
        references=references,
        attachments=[OutboundAttachment(*item) for item in attachments],
        auto_submitted=row.auto_submitted,
        interactive=row.interactive,
    )


async def _deliver(runtime: Runtime, outbox_id: int, outbound: OutboundMessage) -> int:
    try:
        external_id = await channel_registry.get(outbound.channel).send(runtime, outbound)
    except DeliveryError as error:
        await _failed(runtime, outbox_id, outbound, str(error), permanent=error.permanent)
        return 0
    except Exception as error:  # a bug or an unexpected answer: treated as temporary
        log.exception("sending message %s failed unexpectedly", outbound.message_id)
        await _failed(
            runtime, outbox_id, outbound, f"{type(error).__name__}: {error}", permanent=False
        )
        return 0
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(status="sent", sent_at=tx.now(), next_attempt_at=None, last_error=None)
        )
        if not outbound.message_id:  # a staff notification's mail copy
            await _notification_status(tx, outbox_id, "sent", None)
        if outbound.message_id and external_id and external_id != outbound.external_id:
            await connection.execute(
                update(Message)
                .where(Message.id == outbound.message_id)
                .values(external_id=external_id)
            )
        await _emit_delivery(tx, [outbound.message_id])
    return 1


async def _failed(
    runtime: Runtime, outbox_id: int, outbound: OutboundMessage, reason: str, *, permanent: bool
):
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        attempts = await connection.scalar(
            select(OutboxMessage.attempts).where(OutboxMessage.id == outbox_id)
        )
        if permanent or attempts >= len(BACKOFF):
            values = {"status": "failed", "next_attempt_at": None}
        else:
            retry_at = tx.now() + timedelta(seconds=BACKOFF[attempts - 1])
            values = {"status": "queued", "next_attempt_at": retry_at}
        log.warning(
            "message %s not delivered (%s): %s", outbound.message_id, values["status"], reason
        )
        await connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(last_error=reason[:2000], **values)
        )
        status = "failed" if values["status"] == "failed" else "queued"
        if not outbound.message_id:
            await _notification_status(tx, outbox_id, status, reason[:2000])
        await _emit_delivery(tx, [outbound.message_id])


async def _notification_status(
    tx: Transaction, outbox_id: int, status: str, error: str | None
) -> None:
    """A staff notification's copy records on the notification how its mail went."""
    connection = await tx.session.connection()
    notification_id = await connection.scalar(
        select(OutboxMessage.notification_id).where(OutboxMessage.id == outbox_id)
    )
    if notification_id is not None:
        await notifications.set_mail_status(tx, notification_id, status, error)


async def _emit_delivery(tx: Transaction, message_ids: list[int | None]) -> None:
    message_ids = [item for item in message_ids if item]  # staff mail has no ticket
    if not message_ids:
        return
    connection = await tx.session.connection()
    rows = await connection.execute(
        select(Message.ticket_id, Message.id).where(Message.id.in_(message_ids))
    )
    by_ticket: dict[int, list[int]] = {}
    for ticket_id, message_id in rows:
        by_ticket.setdefault(ticket_id, []).append(message_id)
    for ticket_id, ids in by_ticket.items():
        tx.emit("ticket.updated", ticket_id=ticket_id, fields=["delivery"], message_ids=sorted(ids))


async def requeue_delivery(tx: Transaction, message_id: int) -> None:
    """Send a failed, bounced or uncertain message again, because a person decided so."""
    connection = await tx.session.connection()
    status = await connection.scalar(
        select(OutboxMessage.status).where(OutboxMessage.message_id == message_id)
    )
    if status not in RETRYABLE:
        raise ActionError("message_id", f"message {message_id} is {status or 'not in the outbox'}")
    await connection.execute(
        update(OutboxMessage)
        .where(OutboxMessage.message_id == message_id)
        .values(status="queued", next_attempt_at=tx.now(), attempts=0, last_error=None)
    )
    tx.emit("outbox.queued", message_id=message_id)
    await _emit_delivery(tx, [message_id])
