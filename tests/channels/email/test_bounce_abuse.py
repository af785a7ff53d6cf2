"""Bounces flag only what they prove: forged ones flag nobody, unmatched ones are never lost.

A report counts only when it names a Message-ID of our own outbound mail; then only that
mail's recipient is flagged. Real bounces from many mail systems (the sisimai corpus) are
checked to still match when they refer to our messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels.email.parse import parse_message
from customers.models import Identity
from routing.actions import create_rule, create_sla_policy
from routing.models import TicketSla
from tests.fixtures import DSN, MAIL_CORPUS, inbound_mail
from tickets.actions import add_message
from tickets.inbox import UNMATCHED_REPORT_TAG, deliver, receive
from tickets.models import Message, OutboxMessage, Ticket, TicketTag
from tickets.queues import create_queue

SISIMAI = MAIL_CORPUS / "sisimai" / "maildir-bsd"
VICTIMS = [f"victim{n}@example.org" for n in range(1, 6)]


def forged_bounce(message_id: str, *, refers_to: str | None = None) -> bytes:
    """What anyone can send: a bounce-like subject and X-Failed-Recipients naming customers."""
    quoted = (
        f"\r\n\r\n------ original message ------\r\nMessage-ID: {refers_to}\r\n"
        if refers_to
        else ""
    )
    return (
        "From: Mail Delivery System <mailer-daemon@evil.example>\r\n"
        "To: support@tresen.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\n"
        f"X-Failed-Recipients: {', '.join(VICTIMS)}\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Your message could not be delivered: user unknown." + quoted
    ).encode()


async def scalar(runtime, statement):
    async with runtime.read() as session:
        return await session.scalar(statement)


async def customers_writing(runtime, addresses: list[str]) -> list[int]:
    """Each address writes once: a customer with a ticket; their tickets' ids."""
    tickets = []
    for n, address in enumerate(addresses):
        sender = {"kind": "email", "value": address, "name": "Someone"}
        result = await receive(runtime, inbound_mail(f"<c{n}-{address}>", **{"from": sender}))
        tickets.append(result.ticket_id)
    return tickets


async def reply(runtime, ticket_id: int, message_id: str) -> int:
    """An agent's reply to the ticket's customer, sent with this Message-ID."""
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        message = await add_message(tx, ticket, direction="outbound", text="Bitte neu starten.")
        message.external_id = message_id
    return message.id


async def flagged(runtime) -> list[str]:
    async with runtime.read() as session:
        return sorted(
            await session.scalars(select(Identity.value).where(Identity.bounced_at.is_not(None)))
        )


async def tagged_unmatched(runtime) -> list[int]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(TicketTag.ticket_id).where(TicketTag.tag == UNMATCHED_REPORT_TAG)
            )
        )


async def test_a_forged_bounce_flags_nobody_and_waits_for_a_person(runtime):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True  # confirmations on: the forged report must get none
        policy = await create_sla_policy(
            tx, name="Fast", targets={"normal": {"first_response": 5}}, warn_before_minutes=1
        )
        await create_rule(
            tx,
            name="Everything",
            conditions=[],
            actions={"sla_policy_id": policy.id, "auto_reply": "Danke, {name}!"},
        )
    victims_tickets = await customers_writing(runtime, VICTIMS)
    outbox_before = await scalar(runtime, select(func.count(OutboxMessage.id)))
    parsed = parse_message(forged_bounce("<forged-1@evil.example>"), account="support@tresen.test")
    assert parsed.report is not None and set(parsed.report.recipients) == set(VICTIMS)

    result = await deliver(runtime, parsed.model_copy(update={"queue_id": queue.id}))

    assert await flagged(runtime) == []
    assert result.ticket_id not in victims_tickets
    assert await tagged_unmatched(runtime) == [result.ticket_id]
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        note = await session.get(Message, result.message_id)
        sla = await session.scalar(select(TicketSla).where(TicketSla.ticket_id == ticket.id))
    assert ticket.queue_id == queue.id and ticket.state == "new"
    assert note.internal and "none of our messages" in note.auto_submitted
    assert "could not be delivered" in note.text
    assert sla is None  # not routed: no SLA clock to escalate about a bounce
    # No confirmation and no rule's auto-reply went anywhere.
    assert await scalar(runtime, select(func.count(OutboxMessage.id))) == outbox_before


async def test_forged_bounces_gather_on_one_ticket_and_a_repeat_adds_nothing(runtime):
    first = await deliver(runtime, parse_message(forged_bounce("<forged-1@evil.example>")))
    again = await deliver(runtime, parse_message(forged_bounce("<forged-1@evil.example>")))
    second = await deliver(runtime, parse_message(forged_bounce("<forged-2@evil.example>")))
    assert again.duplicate and again.ticket_id == first.ticket_id
    assert second.ticket_id == first.ticket_id and second.message_id != first.message_id
    assert await scalar(runtime, select(func.count(Ticket.id))) == 1


async def test_a_bounce_naming_another_customer_than_our_recipient_flags_nobody(runtime):
    """The customer who got our reply knows its Message-ID; quoting it does not let them
    flag someone else."""
    anna, *_ = await customers_writing(runtime, ["anna@example.com", *VICTIMS])
    await reply(runtime, anna, "<reply-1@tresen.test>")
    forged = forged_bounce("<forged-3@evil.example>", refers_to="<reply-1@tresen.test>")
    result = await deliver(runtime, parse_message(forged))
    assert await flagged(runtime) == []
    # It does refer to our reply: kept on that ticket, the reply's delivery left alone.
    assert result.ticket_id == anna
    assert await scalar(runtime, select(OutboxMessage.status)) == "queued"
    assert await tagged_unmatched(runtime) == []


async def test_a_bounce_referring_to_a_customers_own_mail_is_not_ours(runtime):
    """Only our outbound mail counts; a customer's Message-ID is no proof of anything."""
    [ticket_id] = await customers_writing(runtime, [VICTIMS[0]])
    inbound_id = await scalar(runtime, select(Message.external_id))
    result = await deliver(
        runtime, parse_message(forged_bounce("<forged-4@evil.example>", refers_to=inbound_id))
    )
    assert await flagged(runtime) == []
    assert result.ticket_id != ticket_id
    assert await tagged_unmatched(runtime) == [result.ticket_id]


async def test_a_report_without_a_sender_address_is_kept_too(runtime):
    raw = DSN.replace(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>", b"From: MAILER-DAEMON <>"
    )
    result = await deliver(runtime, parse_message(raw, account="support@tresen.test"))
    assert result.ticket_id is not None
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        owner = await session.scalar(
            select(Identity.value).where(Identity.customer_id == ticket.customer_id)
        )
    assert owner == "mailer-daemon@tresen.test"
    assert await flagged(runtime) == []


async def test_a_bounce_after_forwarding_flags_the_address_we_wrote_to(runtime):
    """The customer's address forwarded our mail to a mailbox that is gone: the report
    names both (RFC 3464 Original- and Final-Recipient); ours is the one flagged."""
    [ticket_id] = await customers_writing(runtime, ["gone@example.org"])
    await reply(runtime, ticket_id, "<t-42@tresen.test>")
    raw = DSN.replace(
        b"Final-Recipient: rfc822; gone@example.org",
        b"Original-Recipient: rfc822; gone@example.org\n"
        b"Final-Recipient: rfc822; gone.forwarded@mail.example.net",
    ).replace(b"\n", b"\r\n")
    result = await deliver(runtime, parse_message(raw))
    assert result.ticket_id == ticket_id
    assert await flagged(runtime) == ["gone@example.org"]
    assert await scalar(runtime, select(OutboxMessage.status)) == "bounced"


# Real bounces of many mail systems, each naming one failed recipient and our Message-ID.
REAL_BOUNCES = [
    "lhost-exim-01.eml",
    "lhost-gmail-01.eml",
    "lhost-sendmail-01.eml",
    "lhost-qmail-01.eml",
    "lhost-outlook-01.eml",
    "lhost-amazonses-01.eml",
    "lhost-barracuda-01.eml",  # from "MAILER-DAEMON <>"
    "lhost-postfix-03.eml",
    "lhost-postfix-11.eml",  # names two recipients; our reply went to the first only
    "lhost-yandex-01.eml",
]


@pytest.mark.parametrize("name", REAL_BOUNCES)
async def test_a_real_bounce_of_our_reply_flags_exactly_its_recipient(runtime, name):
    parsed = parse_message((SISIMAI / name).read_bytes(), account="support@tresen.test")
    report = parsed.report
    assert report is not None and report.action == "failed" and report.refers_to
    recipient, *others = report.recipients
    bystander = "bystander@example.org"
    ticket_id, bystander_ticket, *_ = await customers_writing(
        runtime, [recipient, bystander, *others]
    )
    # Our reply to the bounced customer carried the id the bounce quotes; the bystander
    # got a reply too, and stays untouched.
    bounced_reply = await reply(runtime, ticket_id, report.refers_to[0])
    await reply(runtime, bystander_ticket, "<other@tresen.test>")

    result = await deliver(runtime, parsed)

    assert result.ticket_id == ticket_id
    assert await flagged(runtime) == [recipient]
    async with runtime.read() as session:
        statuses = dict(
            (await session.execute(select(OutboxMessage.message_id, OutboxMessage.status))).all()
        )
        note = await session.get(Message, result.message_id)
    assert statuses.pop(bounced_reply) == "bounced"
    assert set(statuses.values()) == {"queued"}
    assert note.internal and note.auto_submitted == "delivery report: failed"
    assert await tagged_unmatched(runtime) == []


async def test_a_real_bounce_of_mail_sent_elsewhere_waits_for_a_person(runtime):
    """The same real bounce, but about mail Tresen never sent: flagged nobody, kept."""
    parsed = parse_message((SISIMAI / "lhost-gmail-01.eml").read_bytes())
    await customers_writing(runtime, parsed.report.recipients)
    result = await deliver(runtime, parsed)
    assert await flagged(runtime) == []
    assert await tagged_unmatched(runtime) == [result.ticket_id]


def test_the_real_bounces_are_in_the_corpus():
    assert all(Path(SISIMAI / name).is_file() for name in REAL_BOUNCES)


def test_a_megabyte_of_bounce_looking_lines_is_read_in_well_under_a_second():
    """flufl.bounce matches every line against many patterns: it reads the report's head,
    where the notice and the status are (the whole megabyte took 5.5 s of CPU)."""
    import time

    head = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: support@tresen.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <big@mx.example>\r\n"
        b"Content-Type: text/plain\r\n\r\nThis is the mail system: delivery failed.\r\n"
    )
    body = b"a\r\n" * 300_000  # short lines: the detectors' worst case
    started = time.process_time()
    message = parse_message(head + body)
    assert time.process_time() - started < 1.0  # CPU time: other processes do not count
    assert message.report is not None and message.sender.value == "mailer-daemon@mx.example"
