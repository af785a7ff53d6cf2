"""Who hears about a ticket: the agent it was given to, the colleagues a note @mentions."""

from __future__ import annotations

import re

from sqlalchemy import select

from tickets.models import Ticket
from tresen.i18n import _
from tresen.models import User
from tresen.notifications import notify, register_text
from tresen.runtime import Transaction

# "@anna", "@anna.schmidt", "@anna@example.com", or "@Anna Schmidt" (a full name).
_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)", re.UNICODE)


def mention_handles(user: User) -> set[str]:
    """What a colleague may type after @ to mention this user (lower case)."""
    local = user.email.split("@")[0].lower()
    first = user.name.split()[0].lower() if user.name.split() else local
    return {user.email.lower(), local, first, user.name.lower().replace(" ", ".")}


async def mentioned_users(tx: Transaction, text: str) -> list[int]:
    """The active staff a note's @mentions name (full names too: "@Anna Schmidt")."""
    if "@" not in text:
        return []
    words = {match.group(1).lower().rstrip(".") for match in _MENTION.finditer(text)}
    lowered = text.lower()
    users = await tx.session.scalars(select(User).where(User.active))
    found = []
    for user in users:
        by_name = f"@{user.name.lower()}" in lowered
        if by_name or words & mention_handles(user):
            found.append(user.id)
    return found


async def notify_mentions(tx: Transaction, ticket_id: int, text: str, author_id: int) -> int:
    users = [uid for uid in await mentioned_users(tx, text) if uid != author_id]
    if not users:
        return 0
    number = await tx.session.scalar(select(Ticket.number).where(Ticket.id == ticket_id))
    author = await tx.session.scalar(select(User.name).where(User.id == author_id))
    return await notify(
        tx,
        users,
        kind="mention",
        link=f"/tickets/{ticket_id}",
        data={"number": number, "by": author, "excerpt": text.strip()[:140]},
        ticket_id=ticket_id,
    )


async def notify_assigned(
    tx: Transaction, ticket_id: int, assignee_id: int | None, actor_user_id: int | None
) -> int:
    """Tell an agent a ticket was given to them (not when they took it themselves)."""
    if assignee_id is None or assignee_id == actor_user_id:
        return 0
    row = (
        await tx.session.execute(
            select(Ticket.number, Ticket.subject).where(Ticket.id == ticket_id)
        )
    ).one()
    by = None
    if actor_user_id is not None:
        by = await tx.session.scalar(select(User.name).where(User.id == actor_user_id))
    return await notify(
        tx,
        [assignee_id],
        kind="assigned",
        link=f"/tickets/{ticket_id}",
        data={"number": row.number, "subject": row.subject[:140], "by": by},
        ticket_id=ticket_id,
    )


def _mention_text(data: dict) -> str:
    return _(
        "%(by)s mentioned you on ticket #%(number)s: %(excerpt)s",
        by=data.get("by") or "?",
        number=data["number"],
        excerpt=data.get("excerpt", ""),
    )


def _assigned_text(data: dict) -> str:
    if data.get("by"):
        return _(
            "%(by)s assigned ticket #%(number)s to you: %(subject)s",
            by=data["by"],
            number=data["number"],
            subject=data.get("subject", ""),
        )
    return _(
        "Ticket #%(number)s was assigned to you: %(subject)s",
        number=data["number"],
        subject=data.get("subject", ""),
    )


register_text("mention", _mention_text)
register_text("assigned", _assigned_text)
