"""Where the bot's conversations could get lost or fought over: a message on another channel
goes to people, a "yes" followed by a question keeps the question, a stale read or an agent
taking over mid-turn does not overwrite the agent, a failed turn's handoff is routed, a
resolved conversation reopened while the bot is off (or after an agent worked on it) is
routed, every handoff is its own event, and erasure keeps what the turn needs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from bots.models import BotSettings
from bots.takeover import locked_conversation, take_over
from customers import erasure
from tests.bots.bot_world import (
    START,
    bot_messages,
    chat,
    clocks_of,
    conversation,
    desk,
    offers_of,
    policy_of,
    say,
    ticket,
)
from tests.fixtures import lexical_only, load_kb_samples
from tickets.bot_messages import hand_over, solved_by_bot, to_bot
from tickets.events import TicketHandedOver
from tickets.history import Actor
from tickets.inbox import receive
from tickets.messages import add_message
from tickets.models import Message, Ticket
from tresen.handlers import handler, run_due, unregister
from tresen.inbound import InboundMessage
from tresen.models import EventJob
from tresen.runtime import ActionError

QUESTION = "Wie kann ich mein vergessenes Passwort zurücksetzen?"
ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def faq_desk(runtime) -> dict:
    lexical_only(runtime)
    world = await desk(runtime, threshold=0.0)
    world["articles"] = await load_kb_samples(runtime)
    return world


async def answered(runtime, world, visitor: str) -> tuple[int, Message]:
    """A chat the bot answered (the ticket is the bot's, awaiting yes or no)."""
    ticket_id = await say(runtime, visitor, QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    return ticket_id, answer


async def resolved(runtime, world, visitor: str) -> int:
    """A chat the bot resolved: the customer said yes."""
    ticket_id, answer = await answered(runtime, world, visitor)
    await say(runtime, visitor, answer.interactive["buttons"][0]["title"], world["queue_id"], "de")
    assert (await ticket(runtime, ticket_id)).state == "solved"
    assert (await conversation(runtime, ticket_id)).outcome == "deflected"
    return ticket_id


async def test_a_portal_message_on_a_conversation_the_bot_has_goes_to_people(runtime):
    world = await faq_desk(runtime)
    ticket_id, _answer = await answered(runtime, world, "p1")
    number = (await ticket(runtime, ticket_id)).number
    portal = InboundMessage.model_validate(
        {
            "channel": "portal",
            "external_id": "reply:f1:portal-message-1",
            "from": {"kind": "email", "value": "vera@example.com", "name": "Vera Visitor"},
            "subject": f"[#{number}]",
            "text": "Ich habe noch eine Frage zu meiner Rechnung.",
        }
    )
    received = await receive(runtime, portal)
    await run_due(runtime)
    assert received.ticket_id == ticket_id
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "other_channel")
    assert await policy_of(runtime, ticket_id) == world["policy_id"]
    assert await offers_of(runtime, ticket_id) == [(world["agent"].id, "offered")]


async def test_a_question_right_after_a_yes_is_answered_not_lost(runtime):
    world = await faq_desk(runtime)
    ticket_id, answer = await answered(runtime, world, "y1")
    yes = answer.interactive["buttons"][0]["title"]
    # Both arrive before the bot's turns run.
    await receive(runtime, chat("y1", yes, world["queue_id"], "de"))
    await receive(
        runtime, chat("y1", "Wie ändere ich meine Lieferadresse?", world["queue_id"], "de")
    )
    await run_due(runtime)
    found = await ticket(runtime, ticket_id)
    assert found.state != "solved"
    talk = await conversation(runtime, ticket_id)
    assert talk.outcome != "deflected"
    async with runtime.read() as session:
        last_inbound = await session.scalar(
            select(Message.id)
            .where(Message.ticket_id == ticket_id, Message.direction == "inbound")
            .order_by(Message.id.desc())
            .limit(1)
        )
    assert talk.state["message_id"] == last_inbound  # the question had its turn
    spoken = await bot_messages(runtime, ticket_id)
    assert spoken[-1].id > last_inbound  # and the bot said something to it


async def test_a_stale_read_of_the_ticket_does_not_overwrite_its_new_state(runtime):
    world = await faq_desk(runtime)
    ticket_id, _answer = await answered(runtime, world, "s1")
    async with runtime.transaction() as tx:
        loaded = await tx.session.get(Ticket, ticket_id)
        assert loaded.state == "bot"
        # Another transaction moved it meanwhile (as an agent's commit would).
        connection = await tx.session.connection()
        await connection.execute(update(Ticket).where(Ticket.id == ticket_id).values(state="open"))
        assert not await solved_by_bot(tx, ticket_id)
        assert not await hand_over(tx, ticket_id, "said_no")
    found = await ticket(runtime, ticket_id)
    assert found.state == "open" and found.solved_at is None
    assert await bot_messages(runtime, ticket_id, internal=True) == []


async def _until_someone_waits_for_a_lock(runtime) -> None:
    for _ in range(200):
        async with runtime.read() as session:
            if await session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot's turn never waited for the agent's transaction")


@ONLY_POSTGRES
async def test_an_agent_taking_over_while_the_bot_answers_keeps_the_conversation(runtime):
    world = await faq_desk(runtime)
    ticket_id, answer = await answered(runtime, world, "r1")
    yes = answer.interactive["buttons"][0]["title"]
    await receive(runtime, chat("r1", yes, world["queue_id"], "de"))  # its turn not run yet
    agent = world["agent"]
    async with runtime.transaction() as tx:
        await take_over(tx, ticket_id, Actor(user_id=agent.id))
        turn = asyncio.ensure_future(run_due(runtime))
        await _until_someone_waits_for_a_lock(runtime)
    await turn
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == agent.id
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "taken_by_agent")
    said = await bot_messages(runtime, ticket_id)
    assert len(said) == 2 and "beigetreten" in said[-1].text  # only the notice a person joined


@ONLY_POSTGRES
async def test_an_agent_taking_over_while_the_bot_resolves_is_refused(runtime):
    world = await faq_desk(runtime)
    ticket_id, _answer = await answered(runtime, world, "r2")
    async with runtime.transaction() as tx:  # the bot's turn, resolving: not committed yet
        await locked_conversation(tx, ticket_id)
        assert await solved_by_bot(tx, ticket_id)
        taking = asyncio.ensure_future(_take_over(runtime, ticket_id, world["agent"].id))
        await _until_someone_waits_for_a_lock(runtime)
    with pytest.raises(ActionError) as refused:
        await taking
    assert refused.value.conflict
    found = await ticket(runtime, ticket_id)
    assert found.state == "solved" and found.assignee_id is None


async def _take_over(runtime, ticket_id: int, user_id: int) -> None:
    async with runtime.transaction() as tx:
        await take_over(tx, ticket_id, Actor(user_id=user_id))


async def test_a_turn_that_fails_after_routing_still_routes_its_handoff(runtime):
    world = await faq_desk(runtime)
    # The database refuses the bot's "who answers" message: the turn fails after routing
    # had assigned the ticket, and its savepoint is rolled back.
    if runtime.settings.is_postgres:
        statements = [
            "CREATE FUNCTION f1_refuse() RETURNS trigger AS $$ BEGIN "
            "IF NEW.text LIKE 'Ada Agent will answer%' THEN RAISE EXCEPTION 'refused'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER f1_refuse BEFORE INSERT ON messages "
            "FOR EACH ROW EXECUTE FUNCTION f1_refuse()",
        ]
    else:
        statements = [
            "CREATE TRIGGER f1_refuse BEFORE INSERT ON messages "
            "WHEN NEW.text LIKE 'Ada Agent will answer%' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
    async with runtime.transaction() as tx:
        for statement in statements:
            await tx.session.execute(text(statement))
    ticket_id = await say(runtime, "f1", "I want to talk to a human", world["queue_id"], "en")
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "bot_failed")
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert await offers_of(runtime, ticket_id) == [(world["agent"].id, "offered")]
    assert await policy_of(runtime, ticket_id) == world["policy_id"]


async def test_a_resolved_chat_reopened_while_the_bot_is_off_is_handed_to_people(runtime):
    world = await faq_desk(runtime)
    ticket_id = await resolved(runtime, world, "o1")
    async with runtime.transaction() as tx:  # e.g. the bot answers outside business hours only
        (await tx.session.get(BotSettings, "chat")).enabled = False
    runtime.clock.advance(timedelta(hours=20))  # the next morning
    again = await say(runtime, "o1", "Es geht doch nicht.", world["queue_id"], "de")
    assert again == ticket_id
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    assert await offers_of(runtime, ticket_id) == [(world["agent"].id, "offered")]
    assert await policy_of(runtime, ticket_id) == world["policy_id"]
    [clock] = await clocks_of(runtime, ticket_id)  # the wait counts from the return
    assert clock.target == "first_response"
    assert clock.due_at == START + timedelta(hours=20, minutes=60)
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "returned")
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    assert "wieder gemeldet" in note.text


async def test_a_resolved_chat_an_agent_answered_since_stays_with_people(runtime):
    world = await faq_desk(runtime)
    ticket_id = await resolved(runtime, world, "o2")
    async with runtime.transaction() as tx:
        solved = await tx.session.get(Ticket, ticket_id)
        await add_message(
            tx,
            solved,
            direction="outbound",
            channel="chat",
            text="Melden Sie sich gern wieder.",
            actor=Actor(user_id=world["agent"].id),
        )
    spoken = len(await bot_messages(runtime, ticket_id))
    await say(runtime, "o2", QUESTION, world["queue_id"], "de")
    found = await ticket(runtime, ticket_id)
    assert found.state == "open" and found.assignee_id == world["agent"].id
    assert len(await bot_messages(runtime, ticket_id)) == spoken  # the bot stays out


async def test_every_handoff_is_an_event_of_its_own(runtime):
    world = await desk(runtime)
    ticket_id = await say(runtime, "h1", "Frage", world["queue_id"], turn=False)
    seen: list[str] = []

    @handler(TicketHandedOver, name="tests.f1.handoffs")
    async def count(tx, event) -> None:
        seen.append(event.reason)

    try:
        async with runtime.transaction() as tx:
            assert await hand_over(tx, ticket_id, "said_no")
        async with runtime.transaction() as tx:  # the bot has it again (a resumed conversation)
            await to_bot(tx, ticket_id)
        async with runtime.transaction() as tx:
            assert await hand_over(tx, ticket_id, "second_miss")
        await run_due(runtime)
    finally:
        unregister("tests.f1.handoffs")
    assert seen == ["said_no", "second_miss"]
    async with runtime.read() as session:
        keys = list(
            await session.scalars(
                select(EventJob.key).where(EventJob.handler == "tests.f1.handoffs")
            )
        )
    assert len(set(keys)) == 2


async def test_erasure_keeps_the_marker_of_the_message_answered(runtime):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "e1", "Mein Passwort ist weg, Kundennummer 4711", None, "de")
    del world
    marker = (await conversation(runtime, ticket_id)).state["message_id"]
    customer_id = (await ticket(runtime, ticket_id)).customer_id
    await erasure.erase(
        runtime, customer_id, source="console", actor_user_id=None, mode="anonymize"
    )
    assert (await conversation(runtime, ticket_id)).state == {"message_id": marker}
