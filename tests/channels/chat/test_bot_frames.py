"""The chat and its bot: the bot's messages as frames (its name, buttons, an https image,
the e-mail asked for), the bot in the settings and the welcome (no "leave a message" while
it answers), and the visitor's language on every message the socket delivers."""

from __future__ import annotations

from sqlalchemy import select

from bots.models import BotSettings
from channels.chat.actions import create_chat_channel
from channels.chat.mail import send_transcript
from channels.chat.models import ChatSession
from customers.models import Customer
from tests.channels.chat.conftest import ORIGIN, Visitor, chat_session
from tickets import outbox
from tickets.bot_messages import add_bot_message
from tickets.models import InboundRecord, Message, Ticket

YES_NO = {"buttons": [{"title": "Yes", "payload": "/yes"}, {"title": "No", "payload": "/no"}]}


async def bot_on(runtime, *, enabled: bool = True) -> None:
    """The chat's bot "Tilda", switched on (or off); read again at once, not after the few
    seconds the chat keeps what it read."""
    async with runtime.transaction() as tx:
        row = await tx.session.get(BotSettings, "chat")
        if row is None:
            row = BotSettings(channel="chat")
            tx.session.add(row)
        row.enabled, row.engine, row.name, row.hours = enabled, "faq", "Tilda", "always"
        row.greeting_en, row.greeting_de = "Hi, I am Tilda.", "Hallo, ich bin Tilda."
        row.languages, row.rasa_timeout = ["de", "en"], 5.0
    runtime.caches.pop("chat.bot", None)


async def bot_says(runtime, message_id: int, text: str, interactive=None, **options) -> int:
    """The bot's message on the ticket of the visitor's message; its id."""
    async with runtime.transaction() as tx:
        ticket_id = await tx.session.scalar(
            select(Message.ticket_id).where(Message.id == message_id)
        )
        ticket = await tx.session.get(Ticket, ticket_id)
        written = await add_bot_message(tx, ticket, text, interactive=interactive, **options)
        return written.id


async def test_the_bots_messages_come_with_its_name_buttons_image_and_question(runtime, visitor):
    await bot_on(runtime)
    chat = visitor()
    token = (await chat.hello())["token"]
    await chat.send({"type": "message", "client_id": "q", "text": "How do I return shoes?"})
    asked = (await chat.collect("ack", "message"))["ack"]["id"]

    answer = await bot_says(
        runtime,
        asked,
        "Returns: within 30 days. https://desk.example/help/returns\nDid this answer it?",
        {**YES_NO, "image": "https://desk.example/returns.png"},
    )
    frame = await chat.until("message")
    assert frame["id"] == answer and frame["from"] == "bot"
    assert frame["author"] == {"name": "Tilda"}
    assert frame["text"].startswith("Returns: within 30 days.")
    assert frame["buttons"] == YES_NO["buttons"]
    assert frame["image"] == "https://desk.example/returns.png"
    assert "ask" not in frame

    # Only https images, only titled buttons, only the e-mail asked for; notes stay inside.
    await bot_says(runtime, asked, "Only people see this.", internal=True)
    odd = {
        "image": "http://plain.example/x.png",
        "buttons": [{"title": 5}, "Yes", {"title": " "}, {"title": "Talk to a person"}],
        "ask": "email",
        "script": "<b>",
    }
    second = await bot_says(runtime, asked, "Where may we write to you?", odd)
    frame = await chat.until("message")
    assert frame["id"] == second and frame["text"] == "Where may we write to you?"
    assert "image" not in frame and "script" not in frame and frame["ask"] == "email"
    assert frame["buttons"] == [{"title": "Talk to a person", "payload": ""}]
    await chat.close()

    # After a reload the welcome has them alike (and never the note).
    back = visitor()
    welcome = await back.hello(token=token)
    shown = welcome["messages"]
    assert [m["from"] for m in shown] == ["visitor", "bot", "bot"]
    assert shown[1]["buttons"] == YES_NO["buttons"] and shown[1]["author"] == {"name": "Tilda"}
    assert shown[2]["ask"] == "email"
    assert all("Only people" not in m["text"] for m in shown)
    await back.close()


async def test_an_agents_and_the_systems_messages_are_not_the_bots(runtime, visitor, chat_agent):
    from tickets import replies
    from tickets.history import Actor

    await bot_on(runtime)
    chat = visitor()
    await chat.hello()
    await chat.send({"type": "message", "client_id": "q", "text": "Hello?"})
    asked = (await chat.collect("ack", "message"))["ack"]["id"]
    async with runtime.transaction() as tx:
        ticket_id = await tx.session.scalar(select(Message.ticket_id).where(Message.id == asked))
        ticket = await tx.session.get(Ticket, ticket_id)
        await replies.reply(tx, ticket, Actor(user_id=chat_agent[0].id), text="Clara here.")
    frame = await chat.until("message")
    assert frame["from"] == "agent" and frame["author"] == {"name": "Clara Chat"}
    assert "buttons" not in frame
    await chat.close()


async def test_the_settings_and_the_welcome_carry_the_bot_in_the_visitors_language(
    runtime, client, visitor, chat_channel
):
    key = chat_channel[0].public_key
    answer = await client.get(f"/chat/{key}/config?lang=de", headers={"Origin": ORIGIN})
    assert answer.status_code == 200 and answer.json()["bot"] is None
    assert (await visitor().hello())["bot"] is None

    await bot_on(runtime)
    german = (await client.get(f"/chat/{key}/config?lang=de", headers={"Origin": ORIGIN})).json()
    assert german["bot"] == {"name": "Tilda", "greeting": "Hallo, ich bin Tilda."}
    english = (await client.get(f"/chat/{key}/config?lang=en", headers={"Origin": ORIGIN})).json()
    assert english["bot"] == {"name": "Tilda", "greeting": "Hi, I am Tilda."}
    welcome = await visitor().hello(lang="de")
    assert welcome["bot"] == {"name": "Tilda", "greeting": "Hallo, ich bin Tilda."}

    # A bot that answers in English only greets a German page in English: its greeting
    # invites questions in the language it answers in.
    async with runtime.transaction() as tx:
        (await tx.session.get(BotSettings, "chat")).languages = ["en"]
    runtime.caches.pop("chat.bot", None)
    german = (await client.get(f"/chat/{key}/config?lang=de", headers={"Origin": ORIGIN})).json()
    assert german["bot"] == {"name": "Tilda", "greeting": "Hi, I am Tilda."}

    await bot_on(runtime, enabled=False)
    off = (await client.get(f"/chat/{key}/config?lang=en", headers={"Origin": ORIGIN})).json()
    assert off["bot"] is None


async def test_with_the_bot_on_nobody_online_is_no_reason_to_leave_a_message(runtime, app):
    async with runtime.transaction() as tx:  # no agent anywhere: nobody takes chats
        row, _secret = await create_chat_channel(tx, name="Shop", allowed_origins=[ORIGIN])
    away = Visitor(app, row.public_key)
    welcome = await away.hello()
    assert welcome["available"]["available"] is False
    await away.send({"type": "message", "client_id": "m1", "text": "Anyone?"})
    refused = await away.frame()
    assert refused["code"] == "prechat_required" and refused["fields"] == ["email"]
    await away.close()

    await bot_on(runtime)
    runtime.caches.pop("chat.availability", None)
    chat = Visitor(app, row.public_key, address="127.0.0.2")
    welcome = await chat.hello()
    assert welcome["bot"]["name"] == "Tilda"
    await chat.send({"type": "message", "client_id": "m1", "text": "Anyone?"})
    got = await chat.collect("ack", "message")
    assert got["message"]["text"] == "Anyone?"
    await chat.close()


async def test_the_widgets_language_goes_with_every_message(runtime, visitor):
    chat = visitor()
    await chat.hello(lang="de")
    # English words: detection would say "en"; the visitor chose German in the widget.
    await chat.send({"type": "message", "client_id": "q1", "text": "Hello, where is my order?"})
    await chat.until("ack")
    english = visitor(address="127.0.0.3")
    await english.hello(lang="en")
    await english.send({"type": "message", "client_id": "q2", "text": "Hallo, wo ist mein Paket?"})
    await english.until("ack")
    await chat.close()
    await english.close()
    async with runtime.read() as session:
        payloads = (
            await session.scalars(
                select(InboundRecord.payload)
                .where(InboundRecord.channel == "chat")
                .order_by(InboundRecord.id)
            )
        ).all()
        languages = (
            await session.scalars(
                select(Customer.language)
                .join(Ticket, Ticket.customer_id == Customer.id)
                .where(Ticket.channel == "chat")
                .order_by(Ticket.id)
            )
        ).all()
    assert [payload["language"] for payload in payloads] == ["de", "en"]
    assert languages == ["de", "en"]  # routing took the chosen one, not the detected


async def test_the_transcript_names_the_bot(desk, smtp_server):
    await bot_on(desk)
    session_id = await chat_session(
        desk, email="kim@example.com", text="Where is my parcel?", verified=True
    )
    async with desk.transaction() as tx:
        ticket_id = (await tx.session.get(ChatSession, session_id)).ticket_id
        ticket = await tx.session.get(Ticket, ticket_id)
        await add_bot_message(tx, ticket, "Parcels arrive within 3 days.", interactive=YES_NO)
    await outbox.deliver_due(desk)  # shown in the chat: the visitor is here
    before = len(smtp_server.received)
    assert await send_transcript(desk, session_id) == "kim@example.com"
    await outbox.deliver_due(desk)
    [sent] = smtp_server.messages()[before:]
    body = sent.get_body(("plain",)).get_content()
    assert "Tilda:" in body and "Parcels arrive within 3 days." in body
