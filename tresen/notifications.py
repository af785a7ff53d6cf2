"""Notifications for staff: written in the action's transaction, shown live in the console.

A room that notifies registers how its kind reads (in the reader's language, from the
notification's data); the stored English text is the fallback and the mail's body.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, insert, select, update

from tresen import i18n
from tresen.models import Notification
from tresen.runtime import Transaction
from tresen.staff_events import NotificationCreated, NotificationsRead

_texts: dict[str, Callable[[dict], str]] = {}


def register_text(kind: str, text: Callable[[dict], str]) -> None:
    """How notifications of this kind read: data -> text in the current language."""
    _texts[kind] = text


def text_of(notification: Notification) -> str:
    render = _texts.get(notification.kind)
    if render is None or not notification.data:
        return notification.text
    try:
        return render(notification.data)
    except (KeyError, TypeError, ValueError):
        return notification.text


async def unread_count(session, user_id: int) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )


async def recent(session, user_id: int, limit: int = 100) -> list[Notification]:
    """The user's notifications, newest first."""
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


async def newer_than(session, user_id: int, since: int, limit: int) -> list[Notification]:
    """A user's notifications after the one with id `since`, oldest first."""
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.id > since)
            .order_by(Notification.id)
            .limit(limit)
        )
    )


async def newest_id(session, user_id: int) -> int:
    """The id of a user's newest notification (0: none yet)."""
    newest = await session.scalar(
        select(func.max(Notification.id)).where(Notification.user_id == user_id)
    )
    return newest or 0


async def mark_all_read(tx: Transaction, user_id: int) -> None:
    """The user has read all their notifications (the unread count drops to nought)."""
    await tx.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=tx.now())
    )
    tx.emit(NotificationsRead(user_id=user_id))


async def notify(
    tx: Transaction,
    user_ids,
    *,
    kind: str,
    link: str | None,
    data: dict,
    email: bool = False,
    ticket_id: int | None = None,
) -> int:
    """One notification per user (each once), live in their console after commit."""
    users = sorted(set(user_ids))
    if not users:
        return 0
    render = _texts.get(kind)
    with i18n.using("en"):
        text = render(data) if render else kind
    now = tx.now()
    rows = [
        {
            "user_id": user_id,
            "link": link,
            "kind": kind,
            "text": text,
            "data": data,
            "created_at": now,
            "email_status": "pending" if email else None,
        }
        for user_id in users
    ]
    connection = await tx.session.connection()
    created = await connection.execute(
        insert(Notification).returning(
            Notification.id, Notification.user_id, sort_by_parameter_order=True
        ),
        rows,
    )
    for row in created:
        # The mail copy goes by a durable handler (routing.notify_mail) through the outbox.
        tx.emit(
            NotificationCreated(
                user_id=row.user_id,
                kind=kind,
                ticket_id=ticket_id,
                notification_id=row.id,
                email=email,
            )
        )
    return len(rows)


async def set_mail_status(
    tx: Transaction, notification_id: int, status: str, error: str | None = None
) -> None:
    """How a notification's mail copy is doing: queued, sent, or failed (with the reason)."""
    connection = await tx.session.connection()
    await connection.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(email_status=status, email_error=error)
    )
