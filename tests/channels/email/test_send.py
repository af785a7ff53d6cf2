"""Replies leave through the outbox and a real SMTP server, threaded, once, with retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from channels.email.accounts import create_account
from channels.email.compose import subject_with_number
from channels.email.parse import parse_message
from tests.fixtures import inbound_mail
from tickets import outbox
from tickets.actions import add_message
from tickets.inbox import receive
from tickets.models import Message, OutboxMessage, Ticket
from tickets.queues import create_queue
from tresen.clock import FrozenClock


@pytest.fixture
async def desk(runtime, smtp_server):
    """The runtime on a moving clock, with support@tresen.test answered through the SMTP server."""
    runtime.clock = FrozenClock(runtime.clock.now())
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    return runtime


async def agent_reply(runtime, ticket_id: int, text: str = "Bitte starten Sie ihn neu.") -> int:
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        message = await add_message(tx, ticket, direction="outbound", text=text)
    return message.id


async def outbox_row(runtime, message_id: int) -> OutboxMessage:
    async with runtime.read() as session:
        return await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        )


async def test_reply_reaches_smtp_threaded_and_the_answer_to_it_lands_in_the_ticket(
    desk, smtp_server
):
    first = await receive(
        desk, inbound_mail("<kunde-1@example.com>", subject="Drucker druckt nicht")
    )
    reply_id = await agent_reply(desk, first.ticket_id)
    assert await outbox.deliver_due(desk) == 1

    [(sender, recipients, _raw)] = smtp_server.received
    [sent] = smtp_server.messages()
    assert sender == "support@tresen.test" and recipients == ["kim@example.com"]
    assert sent["Subject"] == f"Re: Drucker druckt nicht [#{first.ticket_number}]"
    assert sent["In-Reply-To"] == "<kunde-1@example.com>"
    assert sent["References"] == "<kunde-1@example.com>"
    assert sent["Auto-Submitted"] is None
    assert sent.get_body(("plain",)).get_content().strip() == "Bitte starten Sie ihn neu."
    assert "<p>Bitte starten" in sent.get_body(("html",)).get_content()
    row = await outbox_row(desk, reply_id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    async with desk.read() as session:
        assert (await session.get(Message, reply_id)).external_id == sent["Message-ID"]

    # The customer answers our mail with a new subject: In-Reply-To finds the ticket.
    answer = (
        f"From: Kim Meyer <kim@example.com>\r\nTo: support@tresen.test\r\n"
        f"Subject: Neue Frage\r\nMessage-ID: <kunde-2@example.com>\r\n"
        f"In-Reply-To: {sent['Message-ID']}\r\n\r\nGeht wieder, danke!\r\n"
    ).encode()
    result = await receive(desk, parse_message(answer, account="support@tresen.test"))
    assert result.ticket_id == first.ticket_id
    # Nothing was sent twice.
    assert await outbox.deliver_due(desk) == 0 and len(smtp_server.received) == 1


async def test_acknowledgement_is_marked_automatic(desk, smtp_server):
    async with desk.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True
    result = await receive(desk, inbound_mail("<a1@example.com>", queue_id=queue.id))
    assert await outbox.deliver_due(desk) == 1
    [sent] = smtp_server.messages()
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert f"[#{result.ticket_number}]" in sent["Subject"]
    assert sent["In-Reply-To"] == "<a1@example.com>"


async def test_temporary_refusal_is_retried_with_backoff(desk, smtp_server):
    first = await receive(desk, inbound_mail("<t1@example.com>"))
    smtp_server.refuse["kim@example.com"] = (451, "try again later")
    reply_id = await agent_reply(desk, first.ticket_id)
    assert await outbox.deliver_due(desk) == 0
    row = await outbox_row(desk, reply_id)
    assert row.status == "queued" and row.attempts == 1 and "451" in row.last_error
    assert row.next_attempt_at == desk.clock.now() + timedelta(seconds=outbox.BACKOFF[0])
    assert await outbox.deliver_due(desk) == 0  # not due yet: nothing tried
    assert (await outbox_row(desk, reply_id)).attempts == 1

    del smtp_server.refuse["kim@example.com"]
    desk.clock.advance(timedelta(seconds=61))
    assert await outbox.deliver_due(desk) == 1
    row = await outbox_row(desk, reply_id)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None
    assert len(smtp_server.received) == 1


async def test_permanent_refusal_is_recorded_and_not_retried(desk, smtp_server):
    first = await receive(desk, inbound_mail("<p1@example.com>"))
    smtp_server.refuse["kim@example.com"] = (550, "5.1.1 no such user")
    reply_id = await agent_reply(desk, first.ticket_id)
    await outbox.deliver_due(desk)
    row = await outbox_row(desk, reply_id)
    assert row.status == "failed" and "550" in row.last_error and row.next_attempt_at is None
    desk.clock.advance(timedelta(days=3))
    assert await outbox.deliver_due(desk) == 0 and smtp_server.received == []


async def test_server_down_and_wrong_password_keep_the_reply_queued(desk, smtp_server):
    first = await receive(desk, inbound_mail("<d1@example.com>"))
    smtp_server.password = "changed"
    reply_id = await agent_reply(desk, first.ticket_id)
    await outbox.deliver_due(desk)
    row = await outbox_row(desk, reply_id)
    assert row.status == "queued" and "login refused" in row.last_error
    assert "smtp-secret" not in row.last_error

    smtp_server.stop()
    desk.clock.advance(timedelta(minutes=2))
    await outbox.deliver_due(desk)
    row = await outbox_row(desk, reply_id)
    assert row.status == "queued" and row.attempts == 2


async def test_a_crash_between_sending_and_recording_never_sends_twice(
    desk, smtp_server, monkeypatch
):
    first = await receive(desk, inbound_mail("<c1@example.com>"))
    reply_id = await agent_reply(desk, first.ticket_id)

    async def sent_then_crashed(runtime, _outbox_id, outbound):
        from channels.email import send

        await send.send(runtime, outbound)  # the mail leaves ...
        raise SystemExit  # ... and the process dies before recording it

    monkeypatch.setattr(outbox, "_deliver", sent_then_crashed)
    with pytest.raises(SystemExit):
        await outbox.deliver_due(desk)
    monkeypatch.undo()
    assert len(smtp_server.received) == 1

    # The restarted worker finds the attempt recorded: it waits out the lease, then
    # marks the message uncertain instead of sending it again.
    assert await outbox.deliver_due(desk) == 0
    desk.clock.advance(outbox.LEASE + timedelta(seconds=1))
    assert await outbox.deliver_due(desk) == 0
    row = await outbox_row(desk, reply_id)
    assert row.status == "uncertain" and len(smtp_server.received) == 1
    async with desk.read() as session:
        # Its Message-ID was fixed before sending, so an answer to it still threads.
        assert (await session.get(Message, reply_id)).external_id == smtp_server.messages()[0][
            "Message-ID"
        ]

    # A person decides to send it again.
    async with desk.transaction() as tx:
        await outbox.requeue_delivery(tx, reply_id)
    assert await outbox.deliver_due(desk) == 1 and len(smtp_server.received) == 2


async def test_two_workers_never_send_the_same_message(desk, smtp_server):
    import asyncio

    first = await receive(desk, inbound_mail("<w1@example.com>"))
    for n in range(6):
        await agent_reply(desk, first.ticket_id, text=f"Antwort {n}")
    sent = await asyncio.gather(outbox.deliver_due(desk), outbox.deliver_due(desk))
    assert sum(sent) == 6 and len(smtp_server.received) == 6
    assert len({m["Message-ID"] for m in smtp_server.messages()}) == 6


def test_subject_carries_the_ticket_number_once():
    assert subject_with_number("Re: Drucker", 10042) == "Re: Drucker [#10042]"
    assert subject_with_number("Re: Drucker [#10042]", 10042) == "Re: Drucker [#10042]"
    assert subject_with_number("", 7) == "[#7]"


def test_composed_mail_carries_text_html_attachments_and_threading():
    from datetime import UTC, datetime

    from channels.email.compose import compose
    from channels.email.parse import parse_message
    from tresen.outbound import OutboundAttachment, OutboundMessage

    outbound = OutboundMessage(
        channel="email",
        message_id=7,
        external_id="<tresen.7.1@tresen.test>",
        sender="support@tresen.test",
        recipient="kim@example.com",
        subject="Re: Rechnung",
        text="Anbei die Rechnung.",
        html="<p>Anbei die <b>Rechnung</b>.</p>",
        ticket_number=10042,
        created_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        in_reply_to="<kim-2@example.com>",
        references=["<kim-1@example.com>", "<kim-2@example.com>"],
        attachments=[OutboundAttachment("Rechnung März.pdf", "application/pdf", b"%PDF-1.7 ...")],
    )
    mail = compose(outbound, "support@tresen.test", "Tresen Support")
    again = parse_message(bytes(mail))  # what the customer's mail program will read
    assert again.subject == "Re: Rechnung [#10042]" and again.in_reply_to == "<kim-2@example.com>"
    assert again.references == ["<kim-1@example.com>", "<kim-2@example.com>"]
    assert again.text.strip() == "Anbei die Rechnung." and "<b>Rechnung</b>" in again.html
    [attachment] = again.attachments
    assert (
        attachment.filename == "Rechnung März.pdf" and attachment.content_type == "application/pdf"
    )
    assert mail["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert mail["From"] == "Tresen Support <support@tresen.test>"
