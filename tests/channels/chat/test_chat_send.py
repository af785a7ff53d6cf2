"""An agent's chat reply: shown in the chat while the visitor is there, mailed (once) through
a real SMTP server when they have left and gave an address, kept for their return when not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from channels.chat.models import ChatSession
from channels.email.parse import parse_message
from tests.channels.chat.conftest import chat_session, visitor_writes
from tickets import outbox
from tickets.history import Actor
from tickets.inbox import receive
from tickets.messages import add_message
from tickets.models import Message, OutboxMessage, Ticket


async def conversation(runtime, *, language="en", email=None) -> tuple[int, int]:
    """A visitor's chat session with their first message: (session id, ticket id)."""
    session_id = await chat_session(runtime, language=language, email=email)
    return session_id, await visitor_writes(runtime, session_id, "Where is my parcel?")


async def change(runtime, session_id: int, **values) -> None:
    async with runtime.transaction() as tx:
        row = await tx.session.get(ChatSession, session_id)
        for field, value in values.items():
            setattr(row, field, value)


async def reply(runtime, ticket_id: int, agent, text="It left our warehouse today.") -> int:
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        message = await add_message(
            tx, ticket, direction="outbound", text=text, actor=Actor(user_id=agent.id)
        )
    return message.id


async def delivery(runtime, message_id: int) -> tuple[OutboxMessage, Message]:
    async with runtime.read() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        )
        return row, await session.get(Message, message_id)


async def test_a_visitor_who_is_here_gets_the_reply_in_the_chat(desk, smtp_server, agent):
    session_id, ticket_id = await conversation(desk, email="kim@example.com")
    desk.clock.advance(timedelta(seconds=60))  # seen a minute ago: still here
    message_id = await reply(desk, ticket_id, agent)
    assert await outbox.deliver_due(desk) == 1
    row, message = await delivery(desk, message_id)
    assert row.status == "sent" and message.external_id == f"chat:{message_id}"
    assert smtp_server.received == []


async def test_a_visitor_who_left_gets_the_reply_by_mail_once(desk, smtp_server, agent):
    session_id, ticket_id = await conversation(desk, language="de", email="kim@example.com")
    desk.clock.advance(timedelta(minutes=5))
    await change(desk, session_id, left_at=desk.clock.now() - timedelta(minutes=4))
    message_id = await reply(desk, ticket_id, agent, "Ihr Paket ist unterwegs.")
    assert await outbox.deliver_due(desk) == 1

    [(_sender, recipients, _raw)] = smtp_server.received
    [sent] = smtp_server.messages()
    async with desk.read() as session:
        number = (await session.get(Ticket, ticket_id)).number
    assert recipients == ["kim@example.com"]
    assert sent["Subject"] == f"Re: Ihr Chat [#{number}]"
    body = sent.get_body(("plain",)).get_content()
    assert body.startswith("Ihr Paket ist unterwegs.") and "im Chat auf unserer Website" in body
    row, message = await delivery(desk, message_id)
    assert row.status == "sent" and message.external_id == sent["Message-ID"]
    assert await outbox.deliver_due(desk) == 0 and len(smtp_server.received) == 1

    # Kim answers the mail: it lands in the chat's ticket.
    answer = (
        f"From: Kim Meyer <kim@example.com>\r\nTo: support@tresen.test\r\n"
        f"Subject: Re: Ihr Chat [#{number}]\r\nMessage-ID: <kim-9@example.com>\r\n"
        f"In-Reply-To: {sent['Message-ID']}\r\n\r\nDanke!\r\n"
    ).encode()
    result = await receive(desk, parse_message(answer, account="support@tresen.test"))
    assert result.ticket_id == ticket_id


async def test_a_visitor_who_just_left_is_mailed_only_when_they_do_not_come_back(
    desk, smtp_server, agent
):
    session_id, ticket_id = await conversation(desk, email="kim@example.com")
    await change(desk, session_id, left_at=desk.clock.now())  # closed the tab, or reloads
    message_id = await reply(desk, ticket_id, agent)
    assert await outbox.deliver_due(desk) == 0
    row, _message = await delivery(desk, message_id)
    assert row.status == "queued" and "left the chat a moment ago" in row.last_error
    assert smtp_server.received == []

    desk.clock.advance(timedelta(minutes=2))  # the retry: they did not come back
    assert await outbox.deliver_due(desk) == 1
    assert [recipients for _s, recipients, _r in smtp_server.received] == [["kim@example.com"]]
    [sent] = smtp_server.messages()
    assert sent["Subject"].startswith("Re: your chat [#")


async def test_a_crashed_socket_counts_as_gone_after_the_away_time(desk, smtp_server, agent):
    _session_id, ticket_id = await conversation(desk, email="kim@example.com")
    # No socket refreshed last_seen_at for longer than chat_away_seconds (90 s).
    desk.clock.advance(timedelta(seconds=desk.settings.chat_away_seconds + 1))
    await reply(desk, ticket_id, agent)
    assert await outbox.deliver_due(desk) == 1
    assert len(smtp_server.received) == 1


async def test_a_visitor_gone_without_an_address_finds_the_reply_when_back(
    desk, smtp_server, agent
):
    session_id, ticket_id = await conversation(desk)
    desk.clock.advance(timedelta(hours=1))
    await change(desk, session_id, left_at=desk.clock.now() - timedelta(minutes=50))
    message_id = await reply(desk, ticket_id, agent)
    assert await outbox.deliver_due(desk) == 1
    row, message = await delivery(desk, message_id)
    assert row.status == "sent" and message.external_id == f"chat:{message_id}"
    assert smtp_server.received == []


async def test_an_ended_chat_is_answered_by_mail(desk, smtp_server, agent):
    session_id, ticket_id = await conversation(desk, email="kim@example.com")
    await change(desk, session_id, status="ended", ended_at=desk.clock.now())
    await reply(desk, ticket_id, agent)  # the visitor's page is still open
    assert await outbox.deliver_due(desk) == 1
    assert len(smtp_server.received) == 1


async def test_a_refused_mail_is_retried_and_sent_once(desk, smtp_server, agent):
    session_id, ticket_id = await conversation(desk, email="kim@example.com")
    desk.clock.advance(timedelta(minutes=5))
    await change(desk, session_id, left_at=desk.clock.now() - timedelta(minutes=4))
    smtp_server.refuse["kim@example.com"] = (451, "try again later")
    message_id = await reply(desk, ticket_id, agent)
    assert await outbox.deliver_due(desk) == 0
    row, _message = await delivery(desk, message_id)
    assert row.status == "queued" and "451" in row.last_error
    del smtp_server.refuse["kim@example.com"]
    desk.clock.advance(timedelta(minutes=2))
    assert await outbox.deliver_due(desk) == 1
    assert await outbox.deliver_due(desk) == 0
    assert len(smtp_server.received) == 1
