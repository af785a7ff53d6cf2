"""The bot's turn on a chat (the durable handler `bots.answer`): its answer with buttons,
"yes" resolves (deflected), "no" hands off to an agent (routed, offered, a note saying why,
SLA from the handoff), a request for a person hands off at once, a retried job writes
nothing twice, and a failing Rasa assistant hands off without losing the message."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update

from bots.models import BotSettings
from bots.takeover import take_over
from knowledge_base.models import SearchGap
from routing.actions import create_calendar, create_rule
from routing.assign import set_presence
from tests.bots.bot_world import (
    START,
    bot_messages,
    clocks_of,
    conversation,
    desk,
    offers_of,
    policy_of,
    say,
    ticket,
)
from tests.fixtures import lexical_only, load_kb_samples
from tickets.actions import Actor
from tickets.models import Message
from tresen.accounts import create_user
from tresen.handlers import run_due
from tresen.models import EventJob

QUESTION = "Wie kann ich mein vergessenes Passwort zurücksetzen?"


async def faq_desk(runtime, **fields) -> dict:
    lexical_only(runtime)
    world = await desk(runtime, threshold=fields.pop("threshold", 0.0), **fields)
    world["articles"] = await load_kb_samples(runtime)
    return world


async def test_the_bot_answers_with_the_article_and_yes_no_buttons(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v1", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    assert answer.direction == "outbound" and answer.author_user_id is None
    assert "/help/" in answer.text  # the article's link
    payloads = [button["payload"] for button in answer.interactive["buttons"]]
    assert payloads == ["/yes", "/no"]
    async with runtime.read() as session:  # it goes out through the outbox like a reply
        queued = await session.scalar(select(Message).where(Message.id == answer.id))
        assert queued.outbox is not None and queued.recipient == "visitor:v1"
    found = await ticket(runtime, ticket_id)
    assert found.state == "bot" and found.assignee_id is None
    talk = await conversation(runtime, ticket_id)
    assert talk.answers == 1 and talk.last_article_id == world["articles"]["password-de"]


async def test_yes_resolves_the_conversation_as_deflected(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v2", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    yes = answer.interactive["buttons"][0]["title"]  # the widget sends the button's title
    await say(runtime, "v2", yes, world["queue_id"], "de")
    found = await ticket(runtime, ticket_id)
    assert found.state == "solved" and found.solved_at is not None
    talk = await conversation(runtime, ticket_id)
    assert talk.outcome == "deflected" and talk.ended_at is not None
    assert await offers_of(runtime, ticket_id) == []
    assert await policy_of(runtime, ticket_id) is None


async def test_a_customer_writing_again_after_a_yes_is_answered_by_the_bot_again(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v2b", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    await say(runtime, "v2b", answer.interactive["buttons"][0]["title"], world["queue_id"], "de")
    assert (await ticket(runtime, ticket_id)).state == "solved"

    again = await say(runtime, "v2b", "Ich möchte mit einem Mitarbeiter sprechen", None, "de")
    assert again == ticket_id  # the same conversation, reopened: the bot has it first
    found = await ticket(runtime, ticket_id)
    assert found.state == "new"  # and handed it to people, as asked
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "asked_for_person")
    assert await offers_of(runtime, ticket_id)  # offered to the agent, as any handoff


async def test_no_hands_off_to_an_agent_with_the_reason_and_the_sla_from_the_handoff(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v3", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    no = answer.interactive["buttons"][1]["title"]
    runtime.clock.advance(timedelta(minutes=30))  # half an hour with the bot: not counted
    await say(runtime, "v3", no, world["queue_id"], "de")
    found = await ticket(runtime, ticket_id)
    agent = world["agent"]
    assert found.state == "new" and found.assignee_id == agent.id
    assert await offers_of(runtime, ticket_id) == [(agent.id, "offered")]
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    assert note.author_user_id is None and note.text.startswith("Übergeben:")
    assert "nicht geholfen" in note.text  # said_no, in the desk's language (German)
    talk = await conversation(runtime, ticket_id)
    assert talk.outcome == "handed_off" and talk.handoff_reason == "said_no"
    assert await policy_of(runtime, ticket_id) == world["policy_id"]
    [clock] = await clocks_of(runtime, ticket_id)
    assert clock.target == "first_response"
    assert clock.due_at == START + timedelta(minutes=30 + 60)
    told = (await bot_messages(runtime, ticket_id))[-1]
    assert "Ada Agent" in told.text  # who will answer
    async with runtime.read() as session:
        gaps = list(
            await session.scalars(select(SearchGap.query).where(SearchGap.audience == "bot"))
        )
    assert gaps == [QUESTION]


async def test_a_request_for_a_person_hands_off_at_once(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v4", "I want to talk to a human", world["queue_id"], "en")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    talk = await conversation(runtime, ticket_id)
    assert talk.handoff_reason == "asked_for_person" and talk.answers == 0
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    assert "person" in note.text or "Person" in note.text
    # The bot is done: what the customer writes now is the agent's to answer.
    await say(runtime, "v4", QUESTION, world["queue_id"], "en")
    assert len(await bot_messages(runtime, ticket_id)) == 2  # the handoff and who answers


async def test_a_retried_turn_writes_nothing_twice(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v5", QUESTION, world["queue_id"], "de")
    before = [m.id for m in await bot_messages(runtime, ticket_id)]
    async with runtime.transaction() as tx:  # the job runs again (as after a lost commit)
        await tx.session.execute(
            update(EventJob)
            .where(EventJob.handler == "bots.answer")
            .values(status="pending", next_attempt_at=runtime.clock.now(), done_at=None)
        )
    assert await run_due(runtime) >= 1
    assert [m.id for m in await bot_messages(runtime, ticket_id)] == before
    assert (await conversation(runtime, ticket_id)).answers == 1


async def test_an_agent_taking_over_stops_the_bot(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v6", QUESTION, world["queue_id"], "de")
    agent = world["agent"]
    async with runtime.transaction() as tx:
        await take_over(tx, ticket_id, Actor(user_id=agent.id))
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == agent.id
    assert (await conversation(runtime, ticket_id)).handoff_reason == "taken_by_agent"
    await say(runtime, "v6", "Und wie ändere ich meine Adresse?", world["queue_id"], "de")
    said = await bot_messages(runtime, ticket_id)
    # Its first answer, then the notice that a person joined: nothing after the agent took it.
    assert len(said) == 2 and "ist dem Gespräch beigetreten" in said[-1].text


async def test_a_greeting_is_answered_with_the_configured_greeting(runtime):
    world = await faq_desk(runtime, greeting_de="Hallo! Ich bin der Bot vom Shop.")
    ticket_id = await say(runtime, "v7", "Hallo", world["queue_id"], "de")
    [greeting] = await bot_messages(runtime, ticket_id)
    assert greeting.text == "Hallo! Ich bin der Bot vom Shop."
    assert (await ticket(runtime, ticket_id)).state == "bot"


async def test_a_failing_rasa_assistant_hands_off_and_loses_nothing(runtime):
    world = await desk(runtime, engine="rasa", rasa_url="http://127.0.0.1:9", rasa_timeout=1.0)
    ticket_id = await say(runtime, "v8", "Where is my parcel?", world["queue_id"], "en")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    talk = await conversation(runtime, ticket_id)
    assert talk.outcome == "handed_off" and talk.handoff_reason == "assistant_failed"
    async with runtime.read() as session:
        kept = list(
            await session.scalars(
                select(Message.text).where(
                    Message.ticket_id == ticket_id, Message.direction == "inbound"
                )
            )
        )
    assert kept == ["Where is my parcel?"]
    said = [m.text for m in await bot_messages(runtime, ticket_id)]
    assert said[0].startswith("Sorry") and "Ada Agent" in said[-1]


async def test_outside_business_hours_the_answer_comes_by_mail_and_the_bot_asks_for_it(runtime):
    world = await faq_desk(runtime)
    async with runtime.transaction() as tx:  # open on Saturdays only: closed now
        await create_calendar(tx, name="Desk", weekly={"5": [["09:00", "17:00"]]}, is_default=True)
    async with runtime.transaction() as tx:
        await set_presence(tx, world["agent"].id, "offline")
    ticket_id = await say(runtime, "v9", "I want to talk to a human", world["queue_id"], "en")
    told = (await bot_messages(runtime, ticket_id))[-1]
    assert "e-mail" in told.text and told.interactive == {"ask": "email"}


async def test_outside_hours_an_agent_online_is_not_promised_the_answer_comes_by_mail(runtime):
    """An agent online after hours may be offered the chat, and may never take it: the
    customer is told the answer comes by e-mail, not that the agent will answer now."""
    world = await faq_desk(runtime)
    async with runtime.transaction() as tx:  # open on Saturdays only: closed now
        await create_calendar(tx, name="Desk", weekly={"5": [["09:00", "17:00"]]}, is_default=True)
    ticket_id = await say(runtime, "v9b", "I want to talk to a human", world["queue_id"], "en")
    told = (await bot_messages(runtime, ticket_id))[-1]
    assert "e-mail" in told.text and told.interactive == {"ask": "email"}
    assert world["agent"].name not in told.text


async def test_a_bot_switched_off_mid_conversation_hands_it_off(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v10", QUESTION, world["queue_id"], "de")
    async with runtime.transaction() as tx:
        (await tx.session.get(BotSettings, "chat")).enabled = False
    await say(runtime, "v10", "Und noch eine Frage", world["queue_id"], "de")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert (await conversation(runtime, ticket_id)).handoff_reason == "switched_off"


async def test_a_turn_that_cannot_finish_hands_off_rather_than_leave_the_customer(runtime):
    """The bot's answer cannot go out (the visitor's chat address is gone, as after an
    erasure): the ticket goes to people with the reason, nothing half-written stays."""
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v11", QUESTION, world["queue_id"], "de", turn=False)
    async with runtime.transaction() as tx:
        await tx.session.execute(text("UPDATE messages SET sender = NULL"))
        await tx.session.execute(text("DELETE FROM identities WHERE kind = 'chat'"))
    await run_due(runtime)
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert (await conversation(runtime, ticket_id)).handoff_reason == "bot_failed"
    assert await bot_messages(runtime, ticket_id) == []  # no answer left without delivery
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    assert "Fehler" in note.text


async def test_the_agent_a_rule_named_gets_the_conversation_at_the_handoff(runtime):
    world = await faq_desk(runtime)
    bea = await create_user(runtime, email="bea@example.com", name="Bea Boss", role="agent")
    async with runtime.transaction() as tx:
        await create_rule(tx, name="Bea", conditions=[], actions={"assignee_id": bea.id})
    ticket_id = await say(runtime, "v12", "Mitarbeiter bitte", world["queue_id"], "de")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == bea.id
    assert await offers_of(runtime, ticket_id) == [(bea.id, "offered")]
    assert "Bea Boss" in (await bot_messages(runtime, ticket_id))[-1].text
