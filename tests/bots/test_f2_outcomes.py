"""However a conversation leaves the bot, it ends with an outcome: an agent who replies to it
or changes its ticket takes it over (a note does not); a customer who leaves it (the chat
ends, or nothing is said for the conversation window) abandons it, and its ticket is closed
without a rating request; a bot switched off hands its waiting conversations to people."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from bots.settings import save_settings
from bots.sweep import sweep
from channels.chat.events import ChatEnded
from tests.bots.bot_world import (
    bot_messages,
    conversation,
    desk,
    offers_of,
    policy_of,
    say,
    ticket,
)
from tests.fixtures import csrf_of, sign_in
from tickets.actions import Actor, reply, update_ticket, update_tickets
from tickets.csat_models import RatingRequest
from tickets.merge import merge_tickets
from tickets.models import Message, Ticket
from tresen.handlers import run_due


async def _bot_ticket(runtime, visitor: str) -> tuple[dict, int]:
    world = await desk(runtime)
    ticket_id = await say(
        runtime, visitor, "Hallo, ich habe eine Frage", world["queue_id"], turn=False
    )
    assert (await ticket(runtime, ticket_id)).state == "bot"
    return world, ticket_id


async def _reply(runtime, ticket_id: int, user_id: int, text: str, *, internal=False) -> None:
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, ticket_id)
        await reply(tx, found, Actor(user_id=user_id), text=text, internal=internal)


async def test_an_agents_public_reply_takes_the_conversation_from_the_bot(runtime):
    world, ticket_id = await _bot_ticket(runtime, "f2a")
    agent = world["agent"]
    await _reply(runtime, ticket_id, agent.id, "Guten Tag, ich übernehme.")
    found = await ticket(runtime, ticket_id)
    assert found.state == "open" and found.assignee_id == agent.id
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "taken_by_agent")
    assert talk.ended_at is not None
    assert await policy_of(runtime, ticket_id) == world["policy_id"]  # the SLA starts now
    assert await offers_of(runtime, ticket_id) == []  # the agent has it: offered to nobody
    [note] = await bot_messages(runtime, ticket_id, internal=True)  # "Handed off: ..."
    async with runtime.read() as session:
        order = list(
            await session.scalars(
                select(Message.internal).where(Message.ticket_id == ticket_id).order_by(Message.id)
            )
        )
    assert order == [False, True, False]  # question, the handoff's note, then the reply
    await say(runtime, "f2a", "Danke!", world["queue_id"])
    assert await bot_messages(runtime, ticket_id) == []  # the bot says nothing any more


async def test_an_internal_note_leaves_the_conversation_with_the_bot(runtime):
    world, ticket_id = await _bot_ticket(runtime, "f2b")
    await _reply(runtime, ticket_id, world["agent"].id, "Kunde kennt uns", internal=True)
    assert (await ticket(runtime, ticket_id)).state == "bot"
    assert (await conversation(runtime, ticket_id)).outcome is None


async def test_an_agent_changing_the_ticket_takes_it_over_first(runtime):
    world, ticket_id = await _bot_ticket(runtime, "f2c")
    agent = world["agent"]
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, ticket_id)
        await update_ticket(tx, found, {"state": "solved"}, Actor(user_id=agent.id))
    found = await ticket(runtime, ticket_id)
    assert found.state == "solved" and found.assignee_id == agent.id
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "taken_by_agent")


async def test_a_bulk_change_takes_over_and_a_named_assignee_keeps_it(
    runtime, client, admin_headers
):
    world, ticket_id = await _bot_ticket(runtime, "f2d")
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, ticket_id)
        await update_tickets(tx, [found], {"priority": "high"}, Actor(user_id=world["agent"].id))
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.priority == "high"
    assert found.assignee_id == world["agent"].id
    assert (await conversation(runtime, ticket_id)).handoff_reason == "taken_by_agent"
    # The API goes through the same action.
    _, other = await _bot_ticket_again(runtime, world, "f2e")
    answer = await client.patch(
        f"/api/v1/tickets/{other}", json={"state": "open"}, headers=admin_headers
    )
    assert answer.status_code == 200, answer.text
    assert (await ticket(runtime, other)).state == "open"
    assert (await conversation(runtime, other)).outcome == "handed_off"


async def _bot_ticket_again(runtime, world, visitor):
    ticket_id = await say(runtime, visitor, "Noch eine Frage", world["queue_id"], turn=False)
    assert (await ticket(runtime, ticket_id)).state == "bot"
    return world, ticket_id


async def _rating_requests(runtime, ticket_id) -> int:
    async with runtime.read() as session:
        return await session.scalar(
            select(func.count())
            .select_from(RatingRequest)
            .where(RatingRequest.ticket_id == ticket_id)
        )


async def test_a_conversation_idle_for_the_window_is_abandoned_and_closed(runtime, monkeypatch):
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, conversation_hours=2))
    world, idle = await _bot_ticket(runtime, "f2f")
    runtime.clock.advance(timedelta(hours=1, minutes=30))
    _, recent = await _bot_ticket_again(runtime, world, "f2g")
    assert await sweep(runtime) == []  # nobody idle for two hours yet
    runtime.clock.advance(timedelta(minutes=31))
    assert await sweep(runtime) == [idle]
    found = await ticket(runtime, idle)
    assert found.state == "closed" and found.assignee_id is None
    talk = await conversation(runtime, idle)
    assert talk.outcome == "abandoned" and talk.ended_at is not None
    assert (await ticket(runtime, recent)).state == "bot"
    await run_due(runtime)
    assert await _rating_requests(runtime, idle) == 0  # no "how satisfied were you?"
    assert await offers_of(runtime, idle) == [] and await policy_of(runtime, idle) is None


async def test_a_chat_ended_while_the_bot_has_it_is_abandoned(runtime):
    world, ticket_id = await _bot_ticket(runtime, "f2h")
    async with runtime.transaction() as tx:
        tx.emit(ChatEnded(ticket_id=ticket_id, by="visitor"))
    await run_due(runtime)
    assert (await ticket(runtime, ticket_id)).state == "closed"
    assert (await conversation(runtime, ticket_id)).outcome == "abandoned"
    assert await _rating_requests(runtime, ticket_id) == 0


async def test_switching_the_bot_off_hands_its_waiting_conversations_to_people(runtime):
    world, ticket_id = await _bot_ticket(runtime, "f2i")
    async with runtime.transaction() as tx:
        await save_settings(tx, "chat", {"enabled": False})
    found = await ticket(runtime, ticket_id)
    assert found.state == "new" and found.assignee_id == world["agent"].id
    talk = await conversation(runtime, ticket_id)
    assert (talk.outcome, talk.handoff_reason) == ("handed_off", "switched_off")
    assert await offers_of(runtime, ticket_id) == [(world["agent"].id, "offered")]
    assert await policy_of(runtime, ticket_id) == world["policy_id"]


async def test_merging_into_or_from_a_conversation_the_bot_has_takes_it_over(runtime):
    world, target_id = await _bot_ticket(runtime, "f2j")
    _, source_id = await _bot_ticket_again(runtime, world, "f2k")
    agent = Actor(user_id=world["agent"].id)
    async with runtime.transaction() as tx:
        source = await tx.session.get(Ticket, source_id)
        target = await tx.session.get(Ticket, target_id)
        await merge_tickets(tx, source, target, agent)
    target = await ticket(runtime, target_id)
    assert target.state == "new" and target.assignee_id == world["agent"].id
    assert (await ticket(runtime, source_id)).state == "closed"
    for ticket_id in (source_id, target_id):
        talk = await conversation(runtime, ticket_id)
        assert (talk.outcome, talk.handoff_reason) == ("handed_off", "taken_by_agent")
    assert await offers_of(runtime, source_id) == []  # nobody is offered a merged ticket


async def test_the_composer_on_a_bot_ticket_says_a_reply_takes_it_over(runtime, client, agent):
    world, ticket_id = await _bot_ticket(runtime, "f2l")
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    assert "Replying takes this conversation from the bot" in page.text
    answer = await client.post(
        f"/tickets/{ticket_id}/messages",
        data={"csrf_token": csrf_of(page.text), "text": "Ich bin da.", "internal": ""},
    )
    assert answer.status_code in (200, 303), answer.text
    found = await ticket(runtime, ticket_id)
    assert found.state == "open" and found.assignee_id == agent.id
    page = await client.get(f"/tickets/{ticket_id}")
    assert "Replying takes this conversation from the bot" not in page.text
