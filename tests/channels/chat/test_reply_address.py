"""`Channel.reply_address` of the chat: the address a visitor typed in the conversation,
where the chat mails an answer once they have left (a claim: it links nobody), so the bot
does not ask for an address it was given, and its "by e-mail" comes true."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from bots.models import BotSettings
from channels.chat.models import ChatSession
from tests.channels.chat.conftest import chat_session, visitor_writes
from tests.channels.chat.test_chat_send import change, reply
from tickets import outbox
from tickets.models import Message, Ticket
from tresen import channel as channel_registry
from tresen.handlers import run_due


async def address_of(runtime, ticket_id: int) -> str | None:
    told = channel_registry.get("chat").reply_address
    async with runtime.read() as session:
        return await told(session, ticket_id)


async def email_identities(runtime, ticket_id: int) -> list[str]:
    async with runtime.read() as session:
        customer_id = (await session.get(Ticket, ticket_id)).customer_id
        rows = await session.execute(
            text("SELECT value FROM identities WHERE customer_id = :id AND kind = 'email'"),
            {"id": customer_id},
        )
        return [row.value for row in rows]


async def test_the_address_the_visitor_typed_is_told_and_links_nobody(desk):
    given = await chat_session(desk, email="kim@example.com", text="Where is my parcel?")
    async with desk.read() as session:
        ticket_id = (await session.get(ChatSession, given)).ticket_id
    assert await address_of(desk, ticket_id) == "kim@example.com"
    assert await email_identities(desk, ticket_id) == []  # unverified: no customer linked

    silent = await chat_session(desk, text="And mine?")
    async with desk.read() as session:
        other = (await session.get(ChatSession, silent)).ticket_id
    assert other != ticket_id and await address_of(desk, other) is None


async def test_the_address_is_told_before_the_chat_links_its_ticket(desk):
    # The bot's turn may run before the socket writes the session's ticket.
    session_id = await chat_session(desk, email="kim@example.com")
    ticket_id = await visitor_writes(desk, session_id, "Where is my parcel?")
    await change(desk, session_id, ticket_id=None)
    assert await address_of(desk, ticket_id) == "kim@example.com"


async def bot_on(runtime) -> None:
    async with runtime.transaction() as tx:
        tx.session.add(
            BotSettings(
                channel="chat",
                enabled=True,
                engine="faq",
                name="Tresen bot",
                greeting_en="",
                greeting_de="",
                languages=["de", "en"],
                hours="always",
                rasa_timeout=5.0,
            )
        )


async def handed_off(runtime, session_id: int) -> tuple[int, Message]:
    """Nobody is online: the visitor asks for a person; the ticket and the bot's last line."""
    ticket_id = await visitor_writes(runtime, session_id, "I want to talk to a human")
    await run_due(runtime)
    async with runtime.read() as session:
        told = await session.scalar(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                Message.auto_submitted == "bot",
                Message.internal.is_(False),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        assert (await session.get(Ticket, ticket_id)).state == "new"
    return ticket_id, told


async def test_the_bot_does_not_ask_for_the_address_typed_in_the_form(desk):
    await bot_on(desk)
    # Kim typed her address in the pre-chat form.
    ticket_id, told = await handed_off(desk, await chat_session(desk, email="kim@example.com"))
    assert "by e-mail" in told.text
    assert "Please leave your e-mail address" not in told.text and not told.interactive
    # Without one, the bot asks.
    _other, asking = await handed_off(desk, await chat_session(desk))
    assert asking.interactive == {"ask": "email"}
    assert await email_identities(desk, ticket_id) == []


async def test_after_the_handoff_the_answer_goes_to_the_typed_address(desk, smtp_server, agent):
    await bot_on(desk)
    session_id = await chat_session(desk, email="kim@example.com")
    ticket_id, _told = await handed_off(desk, session_id)
    # Kim leaves; the agent's answer is mailed to the address she typed.
    desk.clock.advance(timedelta(minutes=5))
    await change(desk, session_id, left_at=desk.clock.now() - timedelta(minutes=4))
    smtp_server.received.clear()
    await reply(desk, ticket_id, agent, "Here is our answer.")
    await outbox.deliver_due(desk)
    mailed = [(recipients, raw) for _sender, recipients, raw in smtp_server.received]
    assert any(
        recipients == ["kim@example.com"] and b"Here is our answer." in raw
        for recipients, raw in mailed
    ), mailed
    assert await email_identities(desk, ticket_id) == []
