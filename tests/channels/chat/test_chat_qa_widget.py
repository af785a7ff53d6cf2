"""The chat's side of the QA findings: a chat left unresolved with the bot ends without
"How satisfied were you?" (item 15), the header's name in the page's language (item 17),
and the widget told the socket's limit on a message's length (item 12)."""

from __future__ import annotations

from sqlalchemy import select

from channels.chat.actions import create_chat_channel
from channels.chat.protocol import MAX_TEXT
from tests.channels.chat.conftest import ORIGIN
from tests.channels.chat.test_bot_frames import bot_on
from tickets.models import Message, Ticket


async def test_a_chat_ended_while_the_bot_has_it_offers_no_rating(runtime, visitor):
    await bot_on(runtime)
    chat = visitor()
    await chat.hello()
    await chat.send({"type": "message", "client_id": "q", "text": "Where is my parcel?"})
    asked = (await chat.until("ack"))["id"]
    async with runtime.read() as session:
        ticket_id = await session.scalar(select(Message.ticket_id).where(Message.id == asked))
        assert (await session.get(Ticket, ticket_id)).state == "bot"
    await chat.send({"type": "end"})
    ended = await chat.until("ended")
    await chat.close()
    assert ended["by"] == "visitor"
    assert "rating_url" not in ended  # abandoned: no survey (docs/bots.md)


async def test_the_header_names_the_channel_in_the_pages_language(runtime, client, chat_channel):
    async with runtime.transaction() as tx:
        row, _secret = await create_chat_channel(
            tx, name="Help centre", allowed_origins=[ORIGIN], queue_id=chat_channel[0].queue_id
        )
    url = f"/chat/{row.public_key}/config"
    german = (await client.get(url + "?lang=de", headers={"Origin": ORIGIN})).json()
    english = (await client.get(url + "?lang=en", headers={"Origin": ORIGIN})).json()
    assert (german["name"], english["name"]) == ("Hilfe-Center", "Help centre")
    # Any other name is the desk's own: shown as it is.
    shop = f"/chat/{chat_channel[0].public_key}/config?lang=de"
    assert (await client.get(shop, headers={"Origin": ORIGIN})).json()["name"] == "Shop"


async def test_the_widget_is_told_the_sockets_limit_on_a_message(client, chat_channel):
    url = f"/chat/{chat_channel[0].public_key}/config?lang=en"
    body = (await client.get(url, headers={"Origin": ORIGIN})).json()
    assert body["max_text"] == MAX_TEXT == 5000
