"""Notifications for staff: written in the action's transaction, shown live in the console.

A room that notifies registers how its kind reads (in the reader's language, from the
notification's data); the stored English text is the fallback and the mail's body.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, insert, select

from tresen import i18n
from tresen.models import Notification
from tresen.runtime import Transaction

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
    await connection.execute(insert(Notification), rows)
    for user_id in users:
        tx.emit("notification.created", user_id=user_id, kind=kind, ticket_id=ticket_id)
    return len(rows)
