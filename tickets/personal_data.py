"""Tickets' part of a customer's data: their tickets and messages in an export, and what an
erasure does to them (tresen.personal_data).

Export: the customer's tickets with their own messages and the agents' public replies
(never internal notes), the attachments of those messages as files, and the messages they
wrote on tickets of others (an organization's, as a manager). A message someone else wrote
on their ticket (a colleague, a person in CC) is only marked as there: "another person",
no text, no files.

Erasure, "anonymize": the tickets stay for the statistics (state, channel, queue, priority,
tags, times, SLA, who handled them) without anything the customer or the agents wrote:
subjects, texts, addresses and the channels' message ids are cleared, attachments removed,
history values other than states, priorities, queues and assignees cleared, the raw inbound
payloads and outgoing mails emptied, staff notifications about the tickets removed.
"delete": the tickets go, with everything they hold.
"""

from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy import Text, cast, delete, or_, select, update

from tickets.csat_models import Rating, RatingRequest
from tickets.events import TicketUpdated
from tickets.models import Attachment, InboundRecord, Message, OutboxMessage, Ticket, TicketHistory
from tresen.models import Notification, User
from tresen.personal_data import Export, Holder, Subject, register

ERASED_SUBJECT = "[erased]"
ERASED_MENTION = "[erased]"
# History values that say nothing about the person (kept when anonymizing).
PLAIN_HISTORY = {"state", "priority", "queue", "queue_id", "assignee", "assignee_id", "channel"}
CHUNK = 500
# A message on the customer's ticket that someone else wrote, in their export.
OTHER_PERSON = "another person"
OTHER_PERSON_NOTE = "written by someone else: not included"
# At most this many anonymized tickets are redrawn live (more: the next reload shows them).
LIVE_REDRAWS = 200


def _chunks(values: list[int]):
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def _ticket_ids(session, subject: Subject) -> list[int]:
    return list(
        await session.scalars(
            select(Ticket.id)
            .where(Ticket.customer_id.in_(subject.customer_ids))
            .order_by(Ticket.id)
        )
    )


async def export_tickets(session, subject: Subject, export: Export) -> None:
    ticket_ids = await _ticket_ids(session, subject)
    tickets = []
    for chunk in _chunks(ticket_ids):
        rows = await session.scalars(select(Ticket).where(Ticket.id.in_(chunk)).order_by(Ticket.id))
        for ticket in rows:
            tickets.append(
                {
                    "number": ticket.number,
                    "subject": ticket.subject,
                    "state": ticket.state,
                    "priority": ticket.priority,
                    "channel": ticket.channel,
                    "queue": ticket.queue.name if ticket.queue else None,
                    "created_at": ticket.created_at.isoformat(),
                    "updated_at": ticket.updated_at.isoformat(),
                    "solved_at": ticket.solved_at.isoformat() if ticket.solved_at else None,
                    "messages": await _messages(
                        session, export, Message.ticket_id == ticket.id, subject
                    ),
                }
            )
    export.add("tickets", tickets)
    # The timeline (the customers room's section, from this room's timeline source) names
    # the same messages with the start of their text: not someone else's either.
    others = {
        message["id"]
        for ticket in tickets
        for message in ticket["messages"]
        if message["author"] == OTHER_PERSON
    }
    for entry in export.data.get("timeline") or []:
        if entry.get("kind") == "message" and entry.get("id") in others:
            entry["summary"] = OTHER_PERSON_NOTE
    elsewhere = await _messages(
        session,
        export,
        Message.author_customer_id.in_(subject.customer_ids),
        subject,
        exclude_tickets=ticket_ids,
    )
    export.add("messages_on_other_tickets", elsewhere)


async def _messages(session, export: Export, where, subject: Subject, exclude_tickets=()) -> list:
    query = (
        select(Message, Ticket.number, User.name.label("staff_name"))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .outerjoin(User, User.id == Message.author_user_id)
        .where(where, Message.internal.is_(False))
        .order_by(Message.id)
    )
    if exclude_tickets:
        query = query.where(Message.ticket_id.not_in(list(exclude_tickets)))
    found = []
    theirs = set(subject.values())
    for message, number, staff_name in (await session.execute(query)).all():
        if message.author_customer_id in subject.customer_ids:
            author = "customer"
        elif message.author_customer_id is not None:
            author = OTHER_PERSON  # a colleague (an organization's manager), someone in CC
        elif message.author_user_id is not None:
            author = "staff"
        elif message.direction == "inbound":
            # No record named: theirs when it came from one of their addresses (or none).
            mine = message.sender is None or message.sender in theirs
            author = "customer" if mine else OTHER_PERSON
        else:
            author = "system"
        if author == OTHER_PERSON:
            # Someone else's words and files are that person's data, not this customer's.
            found.append(
                {
                    "id": message.id,
                    "ticket_number": number,
                    "created_at": message.created_at.isoformat(),
                    "direction": message.direction,
                    "channel": message.channel,
                    "author": OTHER_PERSON,
                    "text": None,
                    "note": OTHER_PERSON_NOTE,
                    "attachments": [],
                }
            )
            continue
        item = {
            "id": message.id,
            "ticket_number": number,
            "created_at": message.created_at.isoformat(),
            "direction": message.direction,
            "channel": message.channel,
            "author": author,
            "staff_name": staff_name if author == "staff" else None,
            # Addresses of theirs only: a colleague's (a manager's reply) is not their data.
            "sender": message.sender if message.sender in theirs else None,
            "recipient": message.recipient if message.recipient in theirs else None,
            "subject": message.subject,
            "text": message.text,
            "attachments": [],
        }
        for attachment in message.attachments:
            content = await session.scalar(
                select(Attachment.content).where(Attachment.id == attachment.id)
            )
            path = export.add_file(
                "attachments", f"{message.id}-{attachment.id}-{attachment.filename}", content or b""
            )
            item["attachments"].append(
                {
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "file": path,
                }
            )
        found.append(item)
    return found


def _external_key(channel: str, external_id: str) -> str:
    """What stays of an erased inbound message's id: a hash (the row's key stays unique)."""
    digest = hashlib.sha256(f"{channel}\0{external_id}".encode()).hexdigest()[:40]
    return f"erased:{digest}"


def _json_forms(needle: str) -> set[str]:
    """How a value may be spelled inside stored JSON (non-ASCII escaped or not)."""
    return {needle, json.dumps(needle)[1:-1], json.dumps(needle, ensure_ascii=False)[1:-1]}


async def erase_tickets(tx, subject: Subject, mode: str) -> dict[str, int]:
    connection = await tx.session.connection()
    ticket_ids = await _ticket_ids(tx.session, subject)
    message_ids: list[int] = []
    for chunk in _chunks(ticket_ids):
        message_ids += await tx.session.scalars(
            select(Message.id).where(Message.ticket_id.in_(chunk))
        )
    # What they wrote on others' tickets (an organization's, as a manager).
    elsewhere = list(
        await tx.session.scalars(
            select(Message.id).where(
                Message.author_customer_id.in_(subject.customer_ids),
                Message.ticket_id.not_in(
                    select(Ticket.id).where(Ticket.customer_id.in_(subject.customer_ids))
                ),
            )
        )
    )
    counts = {"tickets": len(ticket_ids), "messages": len(message_ids) + len(elsewhere)}
    # Staff notifications about the tickets quote subjects and notes.
    for chunk in _chunks(ticket_ids):
        links = [f"/tickets/{ticket_id}" for ticket_id in chunk]
        await connection.execute(
            delete(Notification).where(
                or_(
                    Notification.link.in_(links),
                    *[Notification.link.like(f"{link}#%") for link in links],
                )
            )
        )
    # Raw inbound payloads: of their messages, and of anything that came from their
    # addresses without becoming a message (rejected, quarantined).
    inbox = []
    for chunk in _chunks(ticket_ids):
        inbox += await tx.session.scalars(
            select(InboundRecord.id).where(InboundRecord.ticket_id.in_(chunk))
        )
    for chunk in _chunks(message_ids + elsewhere):
        inbox += await tx.session.scalars(
            select(InboundRecord.id).where(InboundRecord.message_id.in_(chunk))
        )
    for needle in subject.values("email", "phone"):
        for form in _json_forms(needle):
            inbox += await tx.session.scalars(
                select(InboundRecord.id).where(
                    cast(InboundRecord.payload, Text).icontains(form, autoescape=True)
                )
            )
    inbox = sorted(set(inbox))
    counts["inbound_records"] = len(inbox)
    for chunk in _chunks(inbox):
        if mode == "delete":
            await connection.execute(delete(InboundRecord).where(InboundRecord.id.in_(chunk)))
            continue
        rows = await connection.execute(
            select(InboundRecord.id, InboundRecord.channel, InboundRecord.external_id).where(
                InboundRecord.id.in_(chunk)
            )
        )
        for row in rows.all():
            await connection.execute(
                update(InboundRecord)
                .where(InboundRecord.id == row.id)
                .values(
                    payload={},
                    error=None,
                    external_id=_external_key(row.channel, row.external_id),
                )
            )
    # Mail to their addresses that is no ticket message (a chat's code, a sign-in link).
    addresses = subject.values()
    if addresses:
        await connection.execute(
            delete(OutboxMessage).where(
                OutboxMessage.message_id.is_(None), OutboxMessage.recipient.in_(addresses)
            )
        )
    scrubbed = dict(
        text="",
        html=None,
        visible_text=None,
        subject=None,
        sender=None,
        recipient=None,
        external_id=None,
        conversation_id=None,
        notices=None,
    )
    for chunk in _chunks(message_ids + elsewhere):
        await connection.execute(delete(Attachment).where(Attachment.message_id.in_(chunk)))
        await connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.message_id.in_(chunk))
            .values(recipient="", subject=None, text=None, details={}, last_error=None)
        )
    for chunk in _chunks(elsewhere):
        values = dict(scrubbed)
        if mode == "delete":
            values["author_customer_id"] = None
        await connection.execute(update(Message).where(Message.id.in_(chunk)).values(**values))
    counts["mentions"] = await _erase_mentions(tx, subject, set(message_ids) | set(elsewhere))
    if mode == "delete":
        await connection.execute(
            update(TicketHistory)
            .where(TicketHistory.actor_customer_id.in_(subject.customer_ids))
            .values(actor_customer_id=None)
        )
        for chunk in _chunks(ticket_ids):
            await connection.execute(delete(Ticket).where(Ticket.id.in_(chunk)))
        return counts
    for chunk in _chunks(message_ids):
        await connection.execute(update(Message).where(Message.id.in_(chunk)).values(**scrubbed))
    # Open consoles redraw them: what they show is gone.
    for ticket_id in ticket_ids[:LIVE_REDRAWS]:
        tx.emit(TicketUpdated(ticket_id=ticket_id, fields=["subject", "messages"]))
    for chunk in _chunks(ticket_ids):
        await connection.execute(
            update(Ticket)
            .where(Ticket.id.in_(chunk))
            .values(subject=ERASED_SUBJECT, subject_key=None)
        )
        await connection.execute(
            update(TicketHistory)
            .where(TicketHistory.ticket_id.in_(chunk), TicketHistory.field.not_in(PLAIN_HISTORY))
            .values(old_value=None, new_value=None)
        )
    return counts


async def _erase_mentions(tx, subject: Subject, done: set[int]) -> int:
    """Their addresses and numbers written on others' tickets (a colleague's mail with them
    in copy, a note quoting their address) become ERASED_MENTION; a message to or from one
    of them there loses that address. Names are left: a name is not unique to a person."""
    connection = await tx.session.connection()
    changed = 0
    for needle in subject.values("email", "phone"):
        rows = await connection.execute(
            select(
                Message.id,
                Message.text,
                Message.html,
                Message.visible_text,
                Message.subject,
                Message.sender,
                Message.recipient,
            ).where(
                or_(
                    Message.text.icontains(needle, autoescape=True),
                    Message.html.icontains(needle, autoescape=True),
                    Message.visible_text.icontains(needle, autoescape=True),
                    Message.subject.icontains(needle, autoescape=True),
                    Message.sender == needle,
                    Message.recipient == needle,
                )
            )
        )
        pattern = re.compile(re.escape(needle), re.IGNORECASE)
        for row in rows.all():
            if row.id in done:
                continue
            values = {
                name: pattern.sub(ERASED_MENTION, getattr(row, name))
                for name in ("text", "html", "visible_text", "subject")
                if getattr(row, name)
            }
            for name in ("sender", "recipient"):
                if getattr(row, name) == needle:
                    values[name] = None
            await connection.execute(update(Message).where(Message.id == row.id).values(**values))
            changed += 1
    return changed


async def export_ratings(session, subject: Subject, export: Export) -> None:
    rows = await session.execute(
        select(Rating, Ticket.number)
        .join(Ticket, Ticket.id == Rating.ticket_id)
        .where(Rating.customer_id.in_(subject.customer_ids))
        .order_by(Rating.rated_at)
    )
    export.add(
        "satisfaction_ratings",
        [
            {
                "ticket_number": number,
                "score": rating.score,
                "comment": rating.comment,
                "source": rating.source,
                "rated_at": rating.rated_at.isoformat(),
            }
            for rating, number in rows.all()
        ],
    )


async def erase_ratings(tx, subject: Subject, mode: str) -> dict[str, int]:
    """Scores stay for the statistics ("anonymize"; their tickets' go with them on
    "delete"); comments and the addresses the questions went to do not."""
    connection = await tx.session.connection()
    theirs = select(Ticket.id).where(Ticket.customer_id.in_(subject.customer_ids))
    result = await connection.execute(
        update(Rating).where(Rating.customer_id.in_(subject.customer_ids)).values(comment=None)
    )
    await connection.execute(
        update(RatingRequest).where(RatingRequest.ticket_id.in_(theirs)).values(recipient=None)
    )
    return {"ratings": result.rowcount or 0}


register(Holder("ratings", export=export_ratings, erase=erase_ratings, order=40))
holder = register(Holder("tickets", export=export_tickets, erase=erase_tickets, order=50))
