"""Notifications by email: a staff notification that asks for mail is queued in the outbox.

A durable handler of `notification.created` (tresen.handlers): it runs after the
notification commits, once, and queues the mail in the same transaction that marks
the notification `queued`. The outbox sends it like every other message (retries,
backoff, never twice) and records the outcome on the notification (sent, failed).
"""

from __future__ import annotations

from sqlalchemy import select

from tickets.delivery import queue_staff_mail
from tresen.handlers import handler
from tresen.models import Notification, User
from tresen.notifications import set_mail_status
from tresen.runtime import Transaction
from tresen.staff_events import NotificationCreated


@handler(NotificationCreated, name="routing.notify_mail", when=lambda event: event.email)
async def queue_mail(tx: Transaction, event: NotificationCreated) -> None:
    """Queue the mail copy of a notification that wants one."""
    if event.notification_id is None:
        return
    connection = await tx.session.connection()
    row = (
        await connection.execute(
            select(
                Notification.text,
                Notification.link,
                Notification.email_status,
                User.email,
                User.active,
            )
            .join(User, User.id == Notification.user_id)
            .where(Notification.id == event.notification_id)
        )
    ).first()
    if row is None or row.email_status != "pending":
        return  # gone, or queued already
    if not row.active:
        await set_mail_status(tx, event.notification_id, "failed", "the user is deactivated")
        return
    link = f"{tx.runtime.settings.base_url}{row.link}" if row.link else ""
    await queue_staff_mail(
        tx,
        event.notification_id,
        row.email,
        row.text,
        f"{row.text}\n\n{link}\n\n(Tresen sent this automatically.)\n",
    )
    await set_mail_status(tx, event.notification_id, "queued")
