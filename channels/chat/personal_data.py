"""The chat's part of a customer's data (tresen.personal_data): their chat sessions.

A session is theirs when its visitor identity is one of the record's, when it is on one of
their tickets (read as plain rows: a channel does not import tickets), or when it gave one
of their addresses and proved it. Another visitor's session that gave one of their
addresses unproved only loses that address in an erasure. Erasure deletes their sessions
("delete") or clears the visitor's name, address, site user id, page and code, and gives
it a new visitor id, so the browser that had it starts afresh ("anonymize").
"""

from __future__ import annotations

import secrets

from sqlalchemy import Integer, and_, column, delete, or_, select, table, update

from channels.chat.models import ChatChannel, ChatSession
from tresen.personal_data import Export, Holder, Subject

tickets = table("tickets", column("id", Integer), column("customer_id", Integer))


def _theirs(subject: Subject):
    conditions = [
        ChatSession.ticket_id.in_(
            select(tickets.c.id).where(tickets.c.customer_id.in_(subject.customer_ids))
        )
    ]
    if subject.values("chat"):
        conditions.append(ChatSession.identity.in_(subject.values("chat")))
    if subject.values("email"):
        # An address typed into the chat is theirs once the visitor proved it (the code):
        # anyone may type anyone's address.
        conditions.append(
            and_(ChatSession.email.in_(subject.values("email")), ChatSession.email_verified)
        )
    return or_(*conditions)


async def export_sessions(session, subject: Subject, export: Export) -> None:
    rows = await session.execute(
        select(ChatSession, ChatChannel.name)
        .join(ChatChannel, ChatChannel.id == ChatSession.channel_id)
        .where(_theirs(subject))
        .order_by(ChatSession.id)
    )
    export.add(
        "chat_sessions",
        [
            {
                "chat": channel_name,
                "started_at": row.created_at.isoformat(),
                "ended_at": row.ended_at.isoformat() if row.ended_at else None,
                "status": row.status,
                "name": row.name,
                "email": row.email,
                "email_verified": row.email_verified,
                "site_user_id": row.user_id,
                "language": row.language,
                "page_url": row.page_url,
                "transcript_sent_at": row.transcript_sent_at.isoformat()
                if row.transcript_sent_at
                else None,
            }
            for row, channel_name in rows.all()
        ],
    )


async def erase_sessions(tx, subject: Subject, mode: str) -> dict[str, int]:
    connection = await tx.session.connection()
    if subject.values("email"):  # someone else's chat that gave their address: not kept
        await connection.execute(
            update(ChatSession)
            .where(
                ChatSession.email.in_(subject.values("email")),
                ChatSession.id.not_in(select(ChatSession.id).where(_theirs(subject))),
            )
            .values(email=None, email_verified=False)
        )
    ids = list(await tx.session.scalars(select(ChatSession.id).where(_theirs(subject))))
    if not ids:
        return {"chat_sessions": 0}
    if mode == "delete":
        await connection.execute(delete(ChatSession).where(ChatSession.id.in_(ids)))
        return {"chat_sessions": len(ids)}
    for session_id in ids:
        fresh = secrets.token_hex(16)
        await connection.execute(
            update(ChatSession)
            .where(ChatSession.id == session_id)
            .values(
                visitor_id=fresh,
                identity=f"erased:{fresh}",
                name=None,
                email=None,
                email_verified=False,
                user_id=None,
                page_url=None,
                code_hash=None,
                code_expires_at=None,
            )
        )
    return {"chat_sessions": len(ids)}


holder = Holder("chat", export=export_sessions, erase=erase_sessions, order=10)
