"""Satisfaction (CSAT): the signed link, one rating per ticket, the solved mail, low-score
alerts and the figures by queue, agent and week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from customers.models import Customer
from routing.actions import set_queue_routing
from tests.fixtures import inbound_mail
from tickets.actions import Actor, update_ticket
from tickets.csat import (
    RatingError,
    RatingLinkError,
    csat_report,
    customer_ratings,
    rate,
    rating_target,
    rating_token,
    read_rating_token,
    ticket_rating,
)
from tickets.csat_mail import rating_requests, solved_mail
from tickets.inbox import receive
from tickets.models import OutboxMessage, Ticket, TicketHistory
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.handlers import run_due
from tresen.models import Notification

SECRET = "test-secret-key"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


# --- The signed link (pure) ---


def test_a_link_names_its_ticket_and_customer_until_it_expires():
    token = rating_token(SECRET, 17, 4, NOW, number=10017)
    link = read_rating_token(SECRET, token, NOW + timedelta(days=29), 30)
    assert (link.ticket_id, link.customer_id, link.number) == (17, 4, 10017)
    with pytest.raises(RatingLinkError) as expired:
        read_rating_token(SECRET, token, NOW + timedelta(days=30, seconds=1), 30)
    assert expired.value.reason == "expired"


@pytest.mark.parametrize(
    "change",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature
        lambda token: "WzE4LDQsMTc5NjIwMDAwMF0" + token[token.index(".") :],  # another ticket
        lambda token: token[:10],
        lambda token: "",
        lambda token: "x" * 5000,
    ],
)
def test_an_altered_link_is_refused(change):
    token = rating_token(SECRET, 17, 4, NOW, number=10017)
    with pytest.raises(RatingLinkError) as refused:
        read_rating_token(SECRET, change(token), NOW, 30)
    assert refused.value.reason == "altered"


def test_a_link_signed_with_another_key_is_refused():
    token = rating_token("another-secret-key", 17, 4, NOW, number=10017)
    with pytest.raises(RatingLinkError):
        read_rating_token(SECRET, token, NOW, 30)


def test_the_solved_mail_speaks_the_customers_language_and_repeats_nothing_they_wrote():
    subject, text = solved_mail("de", number=10001, url="https://desk.example/portal/rate/t")
    assert subject == "[#10001] Ihre Anfrage wurde gelöst"
    assert "Wie zufrieden waren Sie?" in text
    assert "https://desk.example/portal/rate/t?score=1" in text
    subject, text = solved_mail("en", number=10001, url="https://x/portal/rate/t")
    assert subject == "[#10001] Your request was solved" and "How satisfied were you?" in text
    assert solved_mail(None, number=1, url="u")[0].startswith("[#1] Ihre")  # German default


# --- On the database ---


async def _ticket(runtime, external_id="<csat-1@example.com>", **fields) -> Ticket:
    result = await receive(runtime, inbound_mail(external_id, **fields))
    async with runtime.read() as session:
        return await session.get(Ticket, result.ticket_id)


async def _solve(runtime, ticket_id: int, user_id: int, state: str = "solved") -> None:
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        await update_ticket(tx, ticket, {"state": state}, Actor(user_id=user_id))


async def _customer_mail(runtime) -> list[OutboxMessage]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.message_id.is_(None), OutboxMessage.notification_id.is_(None))
                .order_by(OutboxMessage.id)
            )
        )


async def test_one_rating_per_ticket_a_later_one_replaces_it(runtime, agent):
    ticket = await _ticket(runtime)
    async with runtime.transaction() as tx:
        first = await rate(tx, ticket.id, ticket.customer_id, 2, "slow", source="mail")
        events = [event.type for event in tx.events]
    assert events == ["ticket.rated", "ticket.updated"]
    async with runtime.transaction() as tx:
        second = await rate(tx, ticket.id, ticket.customer_id, "5", "  all good now ")
    assert second.id == first.id
    async with runtime.read() as session:
        rating = await ticket_rating(session, ticket.id)
        history = list(
            await session.scalars(
                select(TicketHistory).where(
                    TicketHistory.ticket_id == ticket.id, TicketHistory.field == "rating"
                )
            )
        )
        listed = await customer_ratings(session, ticket.customer_id)
    assert (rating.score, rating.comment, rating.source) == (5, "all good now", "portal")
    assert rating.customer_id == ticket.customer_id
    assert [(h.old_value, h.new_value, h.actor_customer_id) for h in history] == [
        (None, "2", ticket.customer_id),
        ("2", "5", ticket.customer_id),
    ]
    assert [item["number"] for item in listed] == [ticket.number]


@pytest.mark.parametrize("score", [0, 6, "five", None, "", "3.5", True])
async def test_a_score_outside_one_to_five_is_refused(runtime, score):
    ticket = await _ticket(runtime)
    with pytest.raises(RatingError) as refused:
        async with runtime.transaction() as tx:
            await rate(tx, ticket.id, ticket.customer_id, score)
    assert refused.value.field == "score"
    async with runtime.read() as session:
        assert await ticket_rating(session, ticket.id) is None


async def test_a_comment_too_long_is_refused(runtime):
    ticket = await _ticket(runtime)
    with pytest.raises(RatingError) as refused:
        async with runtime.transaction() as tx:
            await rate(tx, ticket.id, ticket.customer_id, 4, "x" * 2001)
    assert refused.value.field == "comment"


async def test_a_link_follows_the_customer_into_the_record_they_were_merged_into(runtime):
    ticket = await _ticket(runtime)
    async with runtime.transaction() as tx:
        old = Customer(name="Old record", created_at=tx.now(), updated_at=tx.now())
        stranger = Customer(name="Someone else", created_at=tx.now(), updated_at=tx.now())
        tx.session.add_all([old, stranger])
        await tx.session.flush()
        old.merged_into_id = ticket.customer_id
    async with runtime.read() as session:
        token = rating_token(SECRET, ticket.id, old.id, NOW, number=ticket.number)
        link = read_rating_token(SECRET, token, NOW, 30)
        assert (await rating_target(session, link)).id == ticket.id
        token = rating_token(SECRET, ticket.id, stranger.id, NOW, number=ticket.number)
        link = read_rating_token(SECRET, token, NOW, 30)
        assert await rating_target(session, link) is None


async def test_a_solved_ticket_mails_the_rating_link_once_per_solving(runtime, agent):
    ticket = await _ticket(runtime)
    await _solve(runtime, ticket.id, agent.id)
    assert await run_due(runtime) >= 1
    [mail] = await _customer_mail(runtime)
    assert mail.recipient == "kim@example.com"
    assert mail.subject == f"[#{ticket.number}] Ihre Anfrage wurde gelöst"  # default German
    token = mail.text.split("/portal/rate/")[1].split()[0].split("?")[0]
    link = read_rating_token(SECRET, token, runtime.clock.now(), 30)
    assert (link.ticket_id, link.customer_id) == (ticket.id, ticket.customer_id)
    assert mail.text.startswith("Guten Tag")

    # Closed afterwards: no second mail; reopened and solved again: asked again.
    await _solve(runtime, ticket.id, agent.id, "closed")
    await run_due(runtime)
    assert len(await _customer_mail(runtime)) == 1
    await _solve(runtime, ticket.id, agent.id, "open")
    await _solve(runtime, ticket.id, agent.id, "solved")
    await run_due(runtime)
    assert len(await _customer_mail(runtime)) == 2
    async with runtime.read() as session:
        asked = await rating_requests(session, ticket.id)
    assert [item.recipient for item in asked] == ["kim@example.com"] * 2


async def test_the_solved_mail_is_in_english_for_an_english_customer(runtime, agent):
    ticket = await _ticket(runtime)
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, ticket.customer_id)
        customer.language = "en"
    await _solve(runtime, ticket.id, agent.id)
    await run_due(runtime)
    [mail] = await _customer_mail(runtime)
    assert mail.subject == f"[#{ticket.number}] Your request was solved"
    assert "How satisfied were you?" in mail.text


async def test_a_ticket_reopened_before_the_job_ran_sends_nothing(runtime, agent):
    ticket = await _ticket(runtime)
    await _solve(runtime, ticket.id, agent.id)
    await _solve(runtime, ticket.id, agent.id, "open")
    await run_due(runtime)
    assert await _customer_mail(runtime) == []


async def test_a_customer_without_an_address_is_not_mailed_and_that_is_recorded(runtime, agent):
    from customers.actions import create_customer
    from tickets.actions import open_ticket

    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Phone only", identities=[])
        ticket = await open_ticket(
            tx, customer_id=customer.id, subject="Call back", channel="web", actor=Actor()
        )
    await _solve(runtime, ticket.id, agent.id)
    await run_due(runtime)
    assert await _customer_mail(runtime) == []
    async with runtime.read() as session:
        [asked] = await rating_requests(session, ticket.id)
    assert asked.recipient is None and asked.skipped == "the customer has no e-mail address"


async def test_a_customer_who_objected_to_service_mail_is_not_asked(runtime, agent):
    from customers.consent import set_consent

    ticket = await _ticket(runtime)
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, ticket.customer_id)
        await set_consent(tx, customer, {"service_mail": False}, source="portal")
    await _solve(runtime, ticket.id, agent.id)
    await run_due(runtime)
    assert await _customer_mail(runtime) == []
    async with runtime.read() as session:
        [asked] = await rating_requests(session, ticket.id)
    assert asked.recipient is None and asked.skipped == "the customer does not want service mail"


async def test_a_low_rating_tells_the_queues_supervisors_once(runtime, agent):
    sam = await create_user(runtime, email="sam@example.com", name="Sam", role="supervisor")
    other = await create_user(runtime, email="olga@example.com", name="Olga", role="supervisor")
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Billing")
        await set_queue_routing(
            tx,
            queue.id,
            members=[
                {"user_id": agent.id, "role": "agent"},
                {"user_id": sam.id, "role": "supervisor"},
            ],
        )
    ticket = await _ticket(runtime, queue_id=queue.id)
    async with runtime.transaction() as tx:
        await rate(tx, ticket.id, ticket.customer_id, 1, "nobody answered")
    await run_due(runtime)
    async with runtime.transaction() as tx:  # still low: no second alert
        await rate(tx, ticket.id, ticket.customer_id, 2)
    async with runtime.transaction() as tx:  # good: none
        await rate(tx, ticket.id, ticket.customer_id, 5)
    await run_due(runtime)
    async with runtime.read() as session:
        notices = list(await session.scalars(select(Notification).order_by(Notification.id)))
    assert [(n.user_id, n.kind, n.link) for n in notices] == [
        (sam.id, "csat.low", f"/tickets/{ticket.id}")
    ]
    assert notices[0].text == f"Ticket #{ticket.number} was rated 1 of 5 by the customer"
    assert other.id not in [n.user_id for n in notices]


async def test_a_low_rating_without_queue_supervisors_tells_every_supervisor(runtime):
    sam = await create_user(runtime, email="sam@example.com", name="Sam", role="supervisor")
    ticket = await _ticket(runtime)
    async with runtime.transaction() as tx:
        await rate(tx, ticket.id, ticket.customer_id, 2)
    await run_due(runtime)
    async with runtime.read() as session:
        notices = list(await session.scalars(select(Notification)))
    assert [(n.user_id, n.kind) for n in notices] == [(sam.id, "csat.low")]


async def test_figures_by_queue_agent_and_week(runtime, agent):
    runtime.clock = FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # a Monday, W48
    bob = await create_user(runtime, email="bob@example.com", name="Bob", role="agent")
    async with runtime.transaction() as tx:
        billing = await create_queue(tx, name="Billing")
        tech = await create_queue(tx, name="Technik")
    scores = [(billing, agent, 5), (billing, bob, 4), (tech, bob, 1)]
    for number, (queue, user, score) in enumerate(scores):
        ticket = await _ticket(
            runtime, f"<fig-{number}@example.com>", queue_id=queue.id, subject=f"Frage {number}"
        )
        async with runtime.transaction() as tx:
            row = await tx.session.get(Ticket, ticket.id)
            await update_ticket(tx, row, {"assignee_id": user.id}, Actor(user_id=user.id))
            await rate(tx, ticket.id, ticket.customer_id, score)
    runtime.clock.advance(timedelta(days=7))  # W49
    ticket = await _ticket(runtime, "<fig-late@example.com>", queue_id=tech.id, subject="Spät")
    async with runtime.transaction() as tx:
        await rate(tx, ticket.id, ticket.customer_id, 3)  # unassigned
    since = runtime.clock.now() - timedelta(weeks=12)
    async with runtime.read() as session:
        [total] = await csat_report(session, "total", since)
        by_queue = await csat_report(session, "queue", since)
        by_agent = await csat_report(session, "agent", since)
        by_week = await csat_report(session, "week", since)
        recent = await csat_report(session, "week", runtime.clock.now() - timedelta(days=1))
    assert (total.count, total.average, total.satisfied) == (4, 3.25, 50.0)
    assert [(f.label, f.count, f.average, f.satisfied) for f in by_queue] == [
        ("Billing", 2, 4.5, 100.0),
        ("Technik", 2, 2.0, 0.0),
    ]
    assert [(f.label, f.count, f.average) for f in by_agent] == [
        ("Anna Agent", 1, 5.0),
        ("Bob", 2, 2.5),
        ("", 1, 3.0),  # nobody's: unassigned when rated
    ]
    assert [(f.label, f.count) for f in by_week] == [("2026-W49", 1), ("2026-W48", 3)]
    assert [(f.label, f.count) for f in recent] == [("2026-W49", 1)]
