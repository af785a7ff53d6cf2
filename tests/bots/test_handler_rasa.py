"""The Rasa engine on a chat: the assistant's answers (text, buttons) become the bot's
messages; a button's title sent back reaches Rasa as its payload; the assistant's custom
handoff, a 500 and a timeout hand off, and the customer's message stays on the ticket."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bots.handler import sender_of
from tests.bots.bot_world import bot_messages, conversation, desk, say, ticket
from tests.bots.test_rasa_rest import Stub
from tickets.models import Message


@pytest.fixture(scope="module")
def rasa():
    stub = Stub()
    stub.start()
    yield stub
    stub.stop()


async def rasa_desk(runtime, rasa) -> dict:
    return await desk(runtime, engine="rasa", rasa_url=rasa.url, rasa_timeout=1.0)


async def test_the_assistants_answers_are_the_bots_messages(runtime, rasa):
    world = await rasa_desk(runtime, rasa)
    ticket_id = await say(runtime, "r1", "buttons", world["queue_id"], "en")
    [answer] = await bot_messages(runtime, ticket_id)
    assert answer.text == "Did that help?"
    assert answer.interactive == {
        "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    }
    sender = rasa.received[-1]["sender"]  # Tresen's own, and not guessable from the ticket
    assert sender == sender_of(runtime.settings.secret_key, ticket_id)
    assert sender.startswith("tresen-") and len(sender) == len("tresen-") + 32
    assert (await ticket(runtime, ticket_id)).state == "bot"
    await say(runtime, "r1", "Yes", world["queue_id"], "en")  # the button's title
    assert rasa.received[-1]["message"] == "/affirm"


@pytest.mark.parametrize(
    ("message", "reason"),
    [("person", "assistant"), ("crash", "assistant_failed"), ("slow", "assistant_failed")],
)
async def test_the_assistant_hands_off_or_fails_and_nothing_is_lost(runtime, rasa, message, reason):
    world = await rasa_desk(runtime, rasa)
    ticket_id = await say(runtime, f"r-{message}", message, world["queue_id"], "en")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert (await conversation(runtime, ticket_id)).handoff_reason == reason
    async with runtime.read() as session:
        kept = list(
            await session.scalars(
                select(Message.text).where(
                    Message.ticket_id == ticket_id, Message.direction == "inbound"
                )
            )
        )
    assert kept == [message]
    assert "Ada Agent" in (await bot_messages(runtime, ticket_id))[-1].text
