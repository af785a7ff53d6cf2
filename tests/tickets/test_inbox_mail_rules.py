"""The inbox's rules for mail: bounces, machines, subjects, closed tickets, confirmations."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from channels.email.parse import parse_message
from customers.models import Customer, Identity
from tests.fixtures import DSN, corpus_files, inbound_mail
from tickets.actions import Actor, add_message, update_ticket
from tickets.inbox import deliver, receive
from tickets.models import InboundRecord, Message, OutboxMessage, Ticket, TicketTag
from tickets.queues import create_queue
from tresen.runtime import Runtime


async def scalar(runtime, statement):
    async with runtime.read() as session:
        return await session.scalar(statement)


async def reply_as_agent(runtime, ticket_id: int, sent_as: str) -> int:
    """An agent's reply, recorded as sent with the Message-ID the sender gave it."""
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        message = await add_message(tx, ticket, direction="outbound", text="Bitte neu starten.")
        message.external_id = sent_as
    return message.id


async def test_bounce_lands_on_the_ticket_of_the_bounced_reply_and_flags_the_address(runtime):
    first = await receive(
        runtime,
        inbound_mail(
            "<m1@example.com>", **{"from": {"kind": "email", "value": "gone@example.org"}}
        ),
    )
    reply_id = await reply_as_agent(runtime, first.ticket_id, "<t-42@tresen.test>")
    bounce = parse_message(DSN.replace(b"\n", b"\r\n"))
    result = await receive(runtime, bounce)
    assert result.ticket_id == first.ticket_id
    async with runtime.read() as session:
        note = await session.get(Message, result.message_id)
        outbox = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == reply_id)
        )
        identity = await session.scalar(
            select(Identity).where(Identity.value == "gone@example.org")
        )
        ticket = await session.get(Ticket, first.ticket_id)
    assert note.internal and note.auto_submitted == "delivery report: failed"
    assert note.author_customer_id is None
    assert outbox.status == "bounced" and "550 5.1.1" in outbox.last_error
    assert identity.bounced_at is not None and "User unknown" in identity.bounce_reason
    assert ticket.state == "open"  # the agent's reply opened it; the bounce changed nothing
    assert await scalar(runtime, select(func.count(Ticket.id))) == 1

    from httpx import ASGITransport, AsyncClient

    from tresen.accounts import create_token, create_user
    from tresen.app import create_app

    await create_user(runtime, email="a@x.de", name="A", role="agent", password="agent-password")
    headers = {"Authorization": f"Bearer {await create_token(runtime, 'a@x.de')}"}
    transport = ASGITransport(app=create_app(runtime=runtime))
    async with AsyncClient(transport=transport, base_url="http://t") as api:
        customer = await api.get(f"/api/v1/customers/{ticket.customer_id}", headers=headers)
    [shown] = customer.json()["identities"]
    assert shown["bounced_at"] and "User unknown" in shown["bounce_reason"]


async def test_bounce_about_no_message_of_ours_flags_nobody_and_is_kept_for_a_person(runtime):
    result = await receive(runtime, parse_message(DSN.replace(b"\n", b"\r\n")))
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        note = await session.get(Message, result.message_id)
    assert [tag.tag for tag in ticket.tag_rows] == ["unmatched-bounce"]
    assert note.internal and note.auto_submitted.startswith("delivery report: failed")
    assert await scalar(runtime, select(Identity.bounced_at)) is None  # only the sender's
    record = await scalar(runtime, select(InboundRecord))
    assert record.status == "processed" and record.payload["report"]["action"] == "failed"


async def test_a_person_writing_again_clears_the_bounce_flag(runtime):
    await receive(runtime, inbound_mail("<a@x>"))
    async with runtime.transaction() as tx:
        await tx.session.execute(update(Identity).values(bounced_at=tx.now(), bounce_reason="x"))
    await receive(runtime, inbound_mail("<auto@x>", auto_submitted="Auto-Submitted: auto-replied"))
    assert await scalar(runtime, select(Identity.bounced_at)) is not None
    await receive(runtime, inbound_mail("<b@x>", subject="Neue Frage"))
    assert await scalar(runtime, select(Identity.bounced_at)) is None


async def test_an_automatic_reply_does_not_reopen_a_pending_ticket(runtime):
    first = await receive(runtime, inbound_mail("<p1@x>"))
    async with runtime.transaction() as tx:
        await update_ticket(
            tx, await tx.session.get(Ticket, first.ticket_id), {"state": "pending"}, Actor()
        )
    away = await receive(
        runtime,
        inbound_mail(
            "<ooo@x>",
            in_reply_to="<p1@x>",
            subject="Abwesenheitsnotiz: Drucker",
            auto_submitted="x",
        ),
    )
    assert away.ticket_id == first.ticket_id
    assert await scalar(runtime, select(Ticket.state)) == "pending"
    person = await receive(
        runtime, inbound_mail("<p2@x>", in_reply_to="<p1@x>", subject="AW: Drucker")
    )
    assert person.ticket_id == first.ticket_id
    assert await scalar(runtime, select(Ticket.state)) == "open"


async def test_same_subject_threads_only_into_the_same_customers_open_ticket(runtime):
    first = await receive(runtime, inbound_mail("<s1@x>", subject="Drucker defekt"))
    again = await receive(runtime, inbound_mail("<s2@x>", subject="AW: WG: drucker  DEFEKT"))
    assert again.ticket_id == first.ticket_id
    stranger = await receive(
        runtime,
        inbound_mail(
            "<s3@x>",
            subject="Re: Drucker defekt",
            **{"from": {"kind": "email", "value": "other@x.de"}},
        ),
    )
    assert stranger.ticket_id != first.ticket_id
    async with runtime.transaction() as tx:
        await update_ticket(
            tx, await tx.session.get(Ticket, first.ticket_id), {"state": "solved"}, Actor()
        )
    later = await receive(runtime, inbound_mail("<s4@x>", subject="Drucker defekt"))
    assert later.ticket_id not in (first.ticket_id, stranger.ticket_id)


async def test_reply_from_second_address_and_with_support_in_cc_threads(runtime):
    first = await receive(runtime, inbound_mail("<c1@x>"))
    second_address = inbound_mail(
        "<c2@x>",
        subject="Andere Betreffzeile",
        in_reply_to="<c1@x>",
        to="kollege@example.com",
        recipients=["kollege@example.com", "support@tresen.test"],
        **{"from": {"kind": "email", "value": "kim.privat@example.net"}},
    )
    assert (await receive(runtime, second_address)).ticket_id == first.ticket_id


async def test_reply_to_a_closed_ticket_opens_a_linked_follow_up_or_reopens(runtime, settings):
    first = await receive(runtime, inbound_mail("<f1@x>"))
    async with runtime.transaction() as tx:
        await update_ticket(
            tx, await tx.session.get(Ticket, first.ticket_id), {"state": "closed"}, Actor()
        )
    follow_up = await receive(runtime, inbound_mail("<f2@x>", in_reply_to="<f1@x>"))
    assert follow_up.ticket_id != first.ticket_id
    assert (
        await scalar(
            runtime, select(Ticket.follow_up_of_id).where(Ticket.id == follow_up.ticket_id)
        )
        == first.ticket_id
    )

    reopening = Runtime.create(replace(settings, reply_to_closed="reopen"))
    await reopening.start()
    try:
        again = await receive(reopening, inbound_mail("<f3@x>", in_reply_to="<f1@x>"))
    finally:
        await reopening.close()
    assert again.ticket_id == first.ticket_id
    assert await scalar(runtime, select(Ticket.state).where(Ticket.id == first.ticket_id)) == "open"


async def _queue_with_confirmation(runtime) -> int:
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True
    return queue.id


async def test_new_ticket_in_a_confirming_queue_gets_an_acknowledgement(runtime):
    queue_id = await _queue_with_confirmation(runtime)
    result = await receive(runtime, inbound_mail("<ack1@x>", queue_id=queue_id))
    async with runtime.read() as session:
        sent = await session.scalar(
            select(Message).where(
                Message.direction == "outbound", Message.ticket_id == result.ticket_id
            )
        )
        outbox = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == sent.id)
        )
    assert sent.auto_submitted == "auto-replied" and sent.recipient == "kim@example.com"
    assert sent.sender == "support@tresen.test"
    assert f"#{result.ticket_number}" in sent.text and sent.text.startswith("Guten Tag,\n")
    assert outbox.status == "queued" and outbox.recipient == "kim@example.com"
    # A reply into the ticket is not a new ticket: no second confirmation.
    await receive(runtime, inbound_mail("<ack2@x>", in_reply_to="<ack1@x>", queue_id=queue_id))
    assert await scalar(runtime, select(func.count(OutboxMessage.id))) == 1


async def test_acknowledgement_speaks_english_to_english_customers(runtime):
    queue_id = await _queue_with_confirmation(runtime)
    await receive(runtime, inbound_mail("<en0@x>"))
    async with runtime.transaction() as tx:
        await tx.session.execute(update(Customer).values(language="en"))
    await receive(runtime, inbound_mail("<en1@x>", subject="Printer", queue_id=queue_id))
    text = await scalar(runtime, select(Message.text).where(Message.direction == "outbound"))
    assert text.startswith("Hello,\n") and "We have" not in text.splitlines()[0]


async def test_no_acknowledgement_to_machines_and_at_most_three_per_hour(runtime):
    queue_id = await _queue_with_confirmation(runtime)
    for n, headers in enumerate(
        [
            {"auto_submitted": "Auto-Submitted: auto-replied"},
            {"auto_submitted": "mailing list (List-Id)"},
        ]
    ):
        await receive(
            runtime,
            inbound_mail(f"<machine{n}@x>", subject=f"Thema {n}", queue_id=queue_id, **headers),
        )
    assert await scalar(runtime, select(func.count(OutboxMessage.id))) == 0
    for n in range(5):
        await receive(
            runtime, inbound_mail(f"<many{n}@x>", subject=f"Frage {n}", queue_id=queue_id)
        )
    assert await scalar(runtime, select(func.count(OutboxMessage.id))) == 3
    runtime.clock = _later(runtime.clock, timedelta(hours=1, minutes=1))
    await receive(runtime, inbound_mail("<later@x>", subject="Noch eine Frage", queue_id=queue_id))
    assert await scalar(runtime, select(func.count(OutboxMessage.id))) == 4


def _later(clock, delta):
    from tresen.clock import FrozenClock

    return FrozenClock(clock.now() + delta)


async def test_mail_without_a_usable_sender_is_kept_as_rejected(runtime):
    parsed = parse_message(b"From: Kein Absender\r\nMessage-ID: <nobody@x>\r\n\r\nHallo\r\n")
    result = await deliver(runtime, parsed)
    record = await scalar(runtime, select(InboundRecord).where(InboundRecord.id == result.inbox_id))
    assert record.status == "rejected" and "from" in record.error
    assert record.payload["text"].strip() == "Hallo"
    again = await deliver(runtime, parsed)
    assert again.inbox_id == result.inbox_id
    assert await scalar(runtime, select(func.count(InboundRecord.id))) == 1
    # Kept as rejected, not turned into a failure that is retried for ever.
    assert await scalar(runtime, select(InboundRecord.status)) == "rejected"


@pytest.mark.slow  # all 900 corpus mails through the inbox
async def test_every_corpus_mail_goes_through_the_inbox_and_bounces_wait_for_a_person(runtime):
    """None of these bounces is about our mail: each waits on an `unmatched-bounce` ticket
    (those from one sender with one subject on one ticket), and none opens another."""
    opened_by_report, distinct = 0, set()
    for path in corpus_files():
        parsed = parse_message(Path(path).read_bytes(), account="support@tresen.test")
        sender = (parsed.sender.value, parsed.sender.name)  # the inbox tells mail apart by both
        distinct.add((parsed.external_id, sender, parsed.subject, parsed.text))
        tickets_before = await scalar(runtime, select(func.count(Ticket.id)))
        result = await deliver(runtime, parsed)
        assert result.inbox_id
        if parsed.report is not None:
            opened_by_report += (
                await scalar(runtime, select(func.count(Ticket.id))) - tickets_before
            )
            tags = await scalar(
                runtime, select(func.count()).where(TicketTag.ticket_id == result.ticket_id)
            )
            assert tags == 1, path  # its ticket is tagged unmatched-bounce
    review = await scalar(runtime, select(func.count()).where(TicketTag.tag == "unmatched-bounce"))
    assert opened_by_report == review
    statuses = dict(await _statuses(runtime))
    assert set(statuses) <= {"processed", "rejected"}, statuses
    # Every distinct message is kept once, including those that reuse another's Message-ID.
    assert sum(statuses.values()) == len(distinct)


async def _statuses(runtime):
    async with runtime.read() as session:
        return (
            await session.execute(
                select(InboundRecord.status, func.count(InboundRecord.id)).group_by(
                    InboundRecord.status
                )
            )
        ).all()
