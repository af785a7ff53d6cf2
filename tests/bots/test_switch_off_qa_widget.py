"""Switching the bot off mid-chat (QA item 9): a customer waiting for the bot's reply goes to
the team and is told who answers; a conversation where the bot had the last word (an answer
awaiting Yes/No) makes no work for anybody now, and the customer's next message goes to the
team; the administrator learns how many went. Taking over from the bot (QA item 10) tells
the customer, in their language, that a person has joined."""

from __future__ import annotations

from bots.settings import handed_over_notice, save_settings
from bots.takeover import take_over
from tests.bots.bot_world import bot_messages, conversation, say, ticket
from tests.bots.test_handler import QUESTION, faq_desk
from tickets.actions import Actor
from tresen.i18n import using


async def test_switching_off_hands_over_only_the_customers_waiting_for_a_reply(runtime):
    world = await faq_desk(runtime)
    answered = await say(runtime, "q9a", QUESTION, world["queue_id"], "de")  # Yes/No shown
    waiting = await say(runtime, "q9b", QUESTION, world["queue_id"], "de", turn=False)
    told_before = len(await bot_messages(runtime, answered))

    async with runtime.transaction() as tx:
        saved = await save_settings(tx, "chat", {"enabled": False})
        assert saved.handed_over == 1

    # The customer waiting: to the team, and told in their language who answers.
    found = await ticket(runtime, waiting)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert (await conversation(runtime, waiting)).handoff_reason == "switched_off"
    [told] = await bot_messages(runtime, waiting)
    assert "Ada Agent" in told.text and "Ihnen" in told.text, told.text

    # The bot had the last word: nobody's work, nothing said to the customer.
    assert (await ticket(runtime, answered)).state == "bot"
    assert (await conversation(runtime, answered)).outcome is None
    assert len(await bot_messages(runtime, answered)) == told_before

    # Their next message goes to the team (docs/bots.md), and they are told.
    await say(runtime, "q9a", "Hallo, sind Sie noch da?", world["queue_id"], "de")
    back = await ticket(runtime, answered)
    assert back.state == "new" and back.assignee_id == world["agent"].id
    assert (await conversation(runtime, answered)).handoff_reason == "switched_off"
    assert "Ada Agent" in (await bot_messages(runtime, answered))[-1].text

    # Saving it off again hands nobody over.
    async with runtime.transaction() as tx:
        assert (await save_settings(tx, "chat", {"enabled": False})).handed_over == 0


async def test_the_admin_is_told_how_many_went_to_the_team():
    assert handed_over_notice(0) == ""
    with using("en"):
        assert handed_over_notice(1) == "1 conversation waiting for a reply went to the team."
        assert handed_over_notice(7) == "7 conversations waiting for a reply went to the team."
    with using("de"):
        assert handed_over_notice(7) == "7 wartende Gespräche gingen an das Team."


async def test_taking_over_tells_the_customer_who_joined(runtime):
    world = await faq_desk(runtime)
    german = await say(runtime, "q10a", QUESTION, world["queue_id"], "de")
    english = await say(
        runtime, "q10b", "How do I reset my forgotten password?", world["queue_id"], "en"
    )
    for ticket_id in (german, english):
        async with runtime.transaction() as tx:
            await take_over(tx, ticket_id, Actor(user_id=world["agent"].id))
    de_told = (await bot_messages(runtime, german))[-1]
    en_told = (await bot_messages(runtime, english))[-1]
    assert de_told.text == "Ada Agent ist dem Gespräch beigetreten."
    assert en_told.text == "Ada Agent has joined the conversation."
    assert de_told.interactive is None  # no buttons: the bot's are over
    assert de_told.outbox is not None  # it goes out to the customer like a reply
