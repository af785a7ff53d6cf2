"""Satisfaction (CSAT): the signed rating link, rating a ticket, and the figures.

A customer rates a ticket 1-5 with an optional comment; one rating per ticket, a later one
replaces it (`rate`). They reach the rating page by a link that needs no sign-in: signed
with the secret key, bound to the ticket (its id and its number: an id can come back after a
deletion, a number never does) and the customer, valid for
`Settings.csat_link_days` (`rating_token`, `read_rating_token`). The link goes out in the
solved mail (`tickets.csat_mail`), at the end of a chat (the chat's `ended` frame, through
`tresen.rooms.rating_url`) and on the portal's ticket page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import case, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from customers.models import Customer
from tickets.csat_models import SATISFIED, SCORES, SOURCES, Rating
from tickets.events import TicketRated, TicketUpdated
from tickets.history import Actor, history_row
from tickets.models import Queue, Ticket, TicketHistory
from tresen.models import User
from tresen.runtime import ActionError, Transaction

SALT = "tresen.csat.rating.v1"
MAX_COMMENT = 2000
MAX_TOKEN = 300  # a real token is under 100 characters
PATH = "/portal/rate/"
MERGES_FOLLOWED = 10  # a customer merged into one merged into another ...
ALTERED = "this rating link is not complete or was changed"


class RatingError(ActionError):
    """A rating that cannot be taken; the message names the field."""


class RatingLinkError(ValueError):
    """A rating link that was altered, has expired, or names a ticket that is not theirs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # altered | expired | unknown


# --- The signed link ---


def rating_token(
    secret_key: str, ticket_id: int, customer_id: int, issued: datetime, *, number: int
) -> str:
    """The signed part of a rating link: the ticket (id and number), the customer and when
    it was made."""
    serializer = URLSafeSerializer(secret_key, salt=SALT)
    return serializer.dumps([ticket_id, customer_id, int(issued.timestamp()), number])


def rating_url(settings, ticket_id: int, customer_id: int, issued: datetime, *, number: int) -> str:
    """The absolute link to a ticket's rating page (for mail and the chat widget)."""
    token = rating_token(settings.secret_key, ticket_id, customer_id, issued, number=number)
    return f"{settings.base_url}{PATH}{token}"


@dataclass(frozen=True)
class RatingLink:
    ticket_id: int
    customer_id: int
    issued: datetime
    number: int


def read_rating_token(secret_key: str, token: str, now: datetime, days: int) -> RatingLink:
    """What a rating link names; RatingLinkError when it was altered or has expired."""
    if not token or len(token) > MAX_TOKEN:
        raise RatingLinkError("altered", ALTERED)
    try:
        data = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadData:
        raise RatingLinkError("altered", ALTERED) from None
    if not (
        isinstance(data, list)
        and len(data) == 4
        and all(isinstance(item, int) and not isinstance(item, bool) for item in data)
    ):
        raise RatingLinkError("altered", ALTERED)
    ticket_id, customer_id, issued, number = data
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        raise RatingLinkError("altered", ALTERED) from None
    if now > issued_at + timedelta(days=days):
        raise RatingLinkError("expired", f"this rating link has expired (after {days} days)")
    return RatingLink(ticket_id, customer_id, issued_at, number)


async def rating_target(session, link: RatingLink) -> Ticket | None:
    """The ticket a link rates, if it is still the ticket the link was made for (same
    number: a deleted ticket's id can be given again) and still belongs to the link's
    customer (or to the record that customer was merged into), and that customer was not
    erased; None otherwise."""
    ticket = await session.get(Ticket, link.ticket_id)
    if ticket is None or ticket.number != link.number:
        return None
    erased = await session.scalar(
        select(Customer.erased_at).where(Customer.id == ticket.customer_id)
    )
    if erased is not None:
        return None
    customer_id = link.customer_id
    for _ in range(MERGES_FOLLOWED):
        if customer_id == ticket.customer_id:
            return ticket
        customer_id = await session.scalar(
            select(Customer.merged_into_id).where(Customer.id == customer_id)
        )
        if customer_id is None:
            return None
    return None


# --- Rating ---


def iso_week(moment: datetime) -> str:
    """ "2026-W49": the ISO week a rating counts for."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def check_score(value) -> int:
    """The score as an int 1-5; RatingError otherwise."""
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        message = f"score {str(value)[:20]!r} is not a number from 1 to 5"
        raise RatingError("score", message) from None
    if score not in SCORES:
        raise RatingError("score", f"score {score} is not from 1 to 5")
    return score


def check_comment(value) -> str | None:
    text = str(value or "").replace("\0", "").strip()
    if len(text) > MAX_COMMENT:
        raise RatingError("comment", f"the comment is longer than {MAX_COMMENT} characters")
    return text or None


async def rate(
    tx: Transaction,
    ticket_id: int,
    customer_id: int,
    score,
    comment=None,
    *,
    source: str = "portal",
) -> Rating:
    """The customer's rating of a ticket: a new one, or replacing theirs; with history and
    `ticket.rated` (which notifies supervisors of a low score) after commit."""
    score = check_score(score)
    comment = check_comment(comment)
    if source not in SOURCES:
        raise RatingError("source", f"source {source!r} is not one of {', '.join(SOURCES)}")
    connection = await tx.session.connection()
    ticket = (
        await connection.execute(
            select(Ticket.id, Ticket.queue_id, Ticket.assignee_id).where(Ticket.id == ticket_id)
        )
    ).first()
    if ticket is None:
        raise RatingError("ticket_id", f"ticket {ticket_id} does not exist")
    before = (
        await connection.execute(
            select(Rating.id, Rating.score).where(Rating.ticket_id == ticket_id).with_for_update()
        )
    ).first()
    now = tx.now()
    values = {
        "customer_id": customer_id,
        "score": score,
        "comment": comment,
        "source": source,
        "queue_id": ticket.queue_id,
        "agent_id": ticket.assignee_id,
        "week": iso_week(now),
        "rated_at": now,
    }
    # One row per ticket, also when two answers arrive at once (the later one wins).
    dialect = postgres_insert if tx.runtime.settings.is_postgres else sqlite_insert
    statement = (
        dialect(Rating)
        .values(ticket_id=ticket_id, created_at=now, **values)
        .on_conflict_do_update(index_elements=["ticket_id"], set_=values)
        .returning(Rating.id)
    )
    rating_id = (await connection.execute(statement)).scalar_one()
    await connection.execute(
        insert(TicketHistory),
        history_row(
            tx,
            ticket_id,
            Actor(customer_id=customer_id),
            "rating",
            before.score if before else None,
            score,
        ),
    )
    low = tx.runtime.settings.csat_low_score
    alert = score <= low and (before is None or before.score > low)
    tx.emit(TicketRated(ticket_id=ticket_id, rating_id=rating_id, score=score, alert=alert))
    tx.emit(TicketUpdated(ticket_id=ticket_id, fields=["rating"]))
    return await tx.session.get(Rating, rating_id, populate_existing=True)


# --- What the console and the API show ---


async def ticket_rating(session, ticket_id: int) -> Rating | None:
    return await session.scalar(select(Rating).where(Rating.ticket_id == ticket_id))


async def customer_ratings(session, customer_id: int, *, limit: int = 20) -> list:
    """A customer's ratings, newest first, with each ticket's number and subject."""
    rows = await session.execute(
        select(Rating, Ticket.number, Ticket.subject)
        .join(Ticket, Ticket.id == Rating.ticket_id)
        .where(Ticket.customer_id == customer_id)
        .order_by(Rating.rated_at.desc(), Rating.id.desc())
        .limit(limit)
    )
    return [
        {"rating": rating, "number": number, "subject": subject} for rating, number, subject in rows
    ]


@dataclass(frozen=True)
class Figures:
    """CSAT of a group: how many ratings, their average, the share satisfied (4-5)."""

    key: object
    label: str
    count: int
    average: float
    satisfied: float  # percent


def _figures(key, label: str, count: int, total: int, satisfied: int) -> Figures:
    return Figures(
        key,
        label,
        count,
        round(total / count, 2) if count else 0.0,
        round(100 * satisfied / count, 1) if count else 0.0,
    )


GROUPS = ("queue", "agent", "week")


async def csat_report(session, by: str, since: datetime) -> list[Figures]:
    """CSAT by queue, agent or week, for the ratings since `since` (the overall first when
    `by` is "total"). Weeks newest first; queues and agents by name."""
    if by not in (*GROUPS, "total"):
        raise ValueError(f"by {by!r} is not one of {', '.join(GROUPS)} or total")
    measures = (
        func.count(Rating.id),
        func.coalesce(func.sum(Rating.score), 0),
        func.coalesce(func.sum(case((Rating.score >= SATISFIED, 1), else_=0)), 0),
    )
    recent = Rating.rated_at >= since
    if by == "total":
        count, total, satisfied = (await session.execute(select(*measures).where(recent))).one()
        return [_figures(None, "", count, total, satisfied)]
    if by == "week":
        query = (
            select(Rating.week, *measures)
            .where(recent)
            .group_by(Rating.week)
            .order_by(Rating.week.desc())
        )
        return [_figures(week, week, *rest) for week, *rest in await session.execute(query)]
    if by == "queue":
        column, table, name = Rating.queue_id, Queue, Queue.name
    else:
        column, table, name = Rating.agent_id, User, User.name
    query = (
        select(column, name, *measures)
        .select_from(Rating)
        .outerjoin(table, table.id == column)
        .where(recent)
        .group_by(column, name)
        .order_by(name.is_(None), name)  # nobody's (no queue, unassigned) last
    )
    return [_figures(key, label or "", *rest) for key, label, *rest in await session.execute(query)]


def rating_json(rating: Rating | None) -> dict | None:
    if rating is None:
        return None
    return {
        "score": rating.score,
        "comment": rating.comment,
        "source": rating.source,
        "customer_id": rating.customer_id,
        "rated_at": rating.rated_at.isoformat(),
    }


async def ticket_rating_url(session, settings, ticket_id: int, now: datetime) -> str | None:
    """The rating link for a ticket's customer (None: no such ticket)."""
    row = (
        await session.execute(
            select(Ticket.customer_id, Ticket.number).where(Ticket.id == ticket_id)
        )
    ).first()
    if row is None or row.customer_id is None:
        return None
    return rating_url(settings, ticket_id, row.customer_id, now, number=row.number)
