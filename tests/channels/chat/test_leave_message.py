"""Outside the queue's business hours the chat says so, asks for an e-mail address and
takes a message; the agent's answer goes out by e-mail (a real SMTP server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from channels.chat.actions import create_chat_channel
from channels.chat.models import ChatSession
from channels.email.accounts import create_account
from routing.actions import create_calendar, set_queue_routing
from routing.assign import set_presence
from tests.channels.chat.conftest import Visitor
from tickets import outbox, replies
from tickets.history import Actor
from tickets.models import Message, Ticket
from tickets.queues import create_queue
from tresen.clock import FrozenClock

OFFICE = {str(day): [["09:00", "17:00"]] for day in range(5)}  # Monday to Friday, Berlin


async def test_outside_business_hours_a_message_is_left_and_answered_by_mail(
    runtime, app, agent, smtp_server
):
    # Wednesday, 2 December 2026, 20:00 in Berlin: the office closed at 17:00.
    runtime.clock = FrozenClock(datetime(2026, 12, 2, 19, 0, tzinfo=UTC))
    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
        calendar = await create_calendar(tx, name="Office", weekly=OFFICE, is_default=True)
        queue = await create_queue(tx, name="Chat")
        await set_queue_routing(
            tx, queue.id, mode="least_loaded", members=[{"user_id": agent.id, "role": "agent"}]
        )
        await set_presence(tx, agent.id, "online")  # online, but the queue is closed
        row, _secret = await create_chat_channel(
            tx, name="Shop", allowed_origins=["https://shop.example.com"], queue_id=queue.id
        )
    assert calendar.is_default

    visitor = Visitor(app, row.public_key)
    welcome = await visitor.hello(lang="de")
    available = welcome["available"]
    assert available["available"] is False and available["reason"] == "closed"
    # Thursday 09:00 in Berlin is 08:00 UTC.
    assert available["opens_at"].startswith("2026-12-03T08:00")

    await visitor.send({"type": "message", "client_id": "m1", "text": "Meine Rechnung fehlt"})
    refused = await visitor.frame()
    assert refused["code"] == "prechat_required" and refused["fields"] == ["email"]
    await visitor.send({"type": "prechat", "name": "Kim", "email": "kim@example.com"})
    assert (await visitor.frame())["email"] == "kim@example.com"
    await visitor.send({"type": "message", "client_id": "m1", "text": "Meine Rechnung fehlt"})
    ack = (await visitor.collect("ack", "message"))["ack"]
    await visitor.close()  # the visitor leaves the page

    async with runtime.read() as session:
        chat = await session.scalar(select(ChatSession))
        ticket_id = await session.scalar(select(Message.ticket_id).where(Message.id == ack["id"]))
    assert chat.status == "offline" and chat.ticket_id == ticket_id

    # The next morning the agent answers: it goes to the address the visitor left.
    runtime.clock.advance(timedelta(hours=13))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        await replies.reply(tx, ticket, Actor(user_id=agent.id), text="Sie ist unterwegs.")
    before = len(smtp_server.received)
    assert await outbox.deliver_due(runtime) == 1
    [mail] = smtp_server.messages()[before:]
    assert mail["To"] == "kim@example.com"
    assert "Sie ist unterwegs." in mail.get_body(("plain",)).get_content()
