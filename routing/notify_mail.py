"""Notifications by email: each staff notification marked for mail goes to the person's
address through the email channel, once (a background worker).

Rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
never send one twice; a refusal for good marks it failed with the reason, a
passing problem (no SMTP account yet, the server away) leaves it for the next round.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging

from sqlalchemy import select, update

from tresen import rooms
from tresen.models import Notification, User
from tresen.outbound import DeliveryError, OutboundMessage
from tresen.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 50
EVERY = 5.0  # seconds between rounds


async def send_pending(runtime: Runtime) -> int:
    """Send what is pending now; the number sent.

    Claimed in one short transaction (marked `sending`), sent outside any, recorded
    in another: no database lock is held while a mail server answers. A crash while
    sending leaves a notification `sending`: it is not sent twice.
    """
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        query = (
            select(
                Notification.id,
                Notification.text,
                Notification.link,
                Notification.created_at,
                User.email,
            )
            .join(User, User.id == Notification.user_id)
            .where(Notification.email_status == "pending", User.active)
            .order_by(Notification.id)
            .limit(BATCH)
        )
        if runtime.settings.is_postgres:
            query = query.with_for_update(of=Notification, skip_locked=True)
        rows = (await connection.execute(query)).all()
        if rows:
            await connection.execute(
                update(Notification)
                .where(Notification.id.in_([row.id for row in rows]))
                .values(email_status="sending")
            )
    results = [(row.id, *await _send(runtime, row)) for row in rows]
    if results:
        async with runtime.transaction() as tx:
            connection = await tx.session.connection()
            for notification_id, status, error in results:
                await connection.execute(
                    update(Notification)
                    .where(Notification.id == notification_id)
                    .values(email_status=status, email_error=error)
                )
    return sum(status == "sent" for _, status, _ in results)


async def _send(runtime: Runtime, row) -> tuple[str, str | None]:
    """(status, error): sent, failed for good, or pending again for the next round."""
    link = f"{runtime.settings.base_url}{row.link}" if row.link else ""
    outbound = OutboundMessage(
        channel="email",
        message_id=row.id,
        external_id=email.utils.make_msgid(idstring=f"notification-{row.id}", domain="tresen"),
        sender=None,
        recipient=row.email,
        subject=row.text,
        text=f"{row.text}\n\n{link}\n\n(Tresen sent this automatically.)\n",
        html=None,
        # No [#number] in the subject: an answer to this mail is not the customer's.
        ticket_number=0,
        created_at=row.created_at,
        auto_submitted="auto-generated",
    )
    try:
        await rooms.channel("email").send(runtime, outbound)
    except DeliveryError as error:
        if error.permanent:
            return "failed", str(error)[:2000]
        log.info("notification %s not sent yet: %s", row.id, error)
        return "pending", str(error)[:2000]
    return "sent", None


async def run(runtime: Runtime) -> None:
    while True:
        try:
            await send_pending(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sending notifications failed")
        await asyncio.sleep(EVERY)
