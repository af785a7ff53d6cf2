"""The bot takes new conversations on its channel: state "bot", no offer, no SLA clock, no
acknowledgement; off (or within business hours when it answers only outside them), routing
goes on as before. Nobody sets the state "bot" by hand."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bots.models import BotSettings
from bots.takeover import take_over
from customers import erasure
from routing.actions import RoutingConfigError, create_calendar, create_sla_policy
from routing.models import RoutingDecision
from tests.bots.bot_world import (
    clocks_of,
    conversation,
    desk,
    offers_of,
    policy_of,
    say,
    ticket,
)
from tickets.actions import Actor, update_ticket
from tickets.fields import TicketError
from tickets.macros import create_macro
from tickets.models import Message, Ticket
from tresen import rooms
from tresen.runtime import ActionError

OFFICE = {str(day): [["09:00", "17:00"]] for day in range(5)}


async def test_a_chat_on_a_channel_with_the_bot_goes_to_the_bot(runtime):
    world = await desk(runtime)
    ticket_id = await say(
        runtime, "v1", "Wie setze ich mein Passwort zurück?", world["queue_id"], turn=False
    )
    found = await ticket(runtime, ticket_id)
    assert found.state == "bot"
    assert found.assignee_id is None and found.queue_id == world["queue_id"]
    assert await offers_of(runtime, ticket_id) == []
    assert await policy_of(runtime, ticket_id) is None
    assert await clocks_of(runtime, ticket_id) == []
    assert found.sla_due_at is None
    async with runtime.read() as session:
        decision = await session.scalar(
            select(RoutingDecision).where(RoutingDecision.ticket_id == ticket_id)
        )
        outbound = await session.scalar(
            select(Message.id).where(
                Message.ticket_id == ticket_id, Message.direction == "outbound"
            )
        )
    assert decision.assignment_reason == "the bot answers first"
    assert decision.sla_policy_id == world["policy_id"]  # known for the handoff
    assert outbound is None  # no acknowledgement: the bot answers instead
    started = await conversation(runtime, ticket_id)
    assert started.channel == "chat" and started.outcome is None and started.engine == "faq"


async def test_with_the_bot_off_a_chat_is_routed_as_before(runtime):
    world = await desk(runtime, bot=False)
    ticket_id = await say(runtime, "v2", "Wie setze ich mein Passwort zurück?", world["queue_id"])
    found = await ticket(runtime, ticket_id)
    assert found.state == "new"
    assert found.assignee_id == world["agent"].id
    assert await offers_of(runtime, ticket_id) == [(world["agent"].id, "offered")]
    assert await policy_of(runtime, ticket_id) == world["policy_id"]
    assert [clock.target for clock in await clocks_of(runtime, ticket_id)] == ["first_response"]
    assert await conversation(runtime, ticket_id) is None


@pytest.mark.parametrize("open_now", [True, False])
async def test_a_bot_for_outside_business_hours_takes_only_when_the_desk_is_closed(
    runtime, open_now
):
    world = await desk(runtime, hours="outside_business_hours")
    weekly = OFFICE if open_now else {"5": [["09:00", "17:00"]]}  # START is a Wednesday
    async with runtime.transaction() as tx:
        await create_calendar(tx, name="Desk", weekly=weekly, is_default=True)
    ticket_id = await say(
        runtime, "v3", "Hallo, wo ist meine Bestellung?", world["queue_id"], turn=False
    )
    found = await ticket(runtime, ticket_id)
    assert found.state == ("new" if open_now else "bot")


async def test_nobody_sets_the_state_bot_by_hand(runtime, client, admin_headers):
    world = await desk(runtime, bot=False)
    ticket_id = await say(runtime, "v4", "Frage", world["queue_id"], turn=False)
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, ticket_id)
        with pytest.raises(TicketError) as refused:
            await update_ticket(tx, found, {"state": "bot"}, Actor(user_id=world["agent"].id))
        assert refused.value.field == "state"
        with pytest.raises(TicketError):
            await create_macro(tx, name="To the bot", body="", actions={"state": "bot"})
        with pytest.raises(RoutingConfigError):
            await create_sla_policy(
                tx,
                name="Bot pause",
                targets={"normal": {"first_response": 5}},
                pause_states=["bot"],
            )
    answer = await client.patch(
        f"/api/v1/tickets/{ticket_id}", json={"state": "bot"}, headers=admin_headers
    )
    assert 400 <= answer.status_code < 500
    assert "state" in answer.text
    assert (await ticket(runtime, ticket_id)).state == "new"


async def test_an_agent_takes_only_a_conversation_the_bot_has(runtime):
    world = await desk(runtime, bot=False)
    ticket_id = await say(runtime, "v5", "Frage", world["queue_id"], turn=False)
    async with runtime.transaction() as tx:
        with pytest.raises(ActionError) as refused:
            await take_over(tx, ticket_id, Actor(user_id=world["agent"].id))
    assert refused.value.conflict


async def test_erasing_the_customer_forgets_what_the_bot_remembered(runtime):
    world = await desk(runtime, threshold=0.0)
    ticket_id = await say(
        runtime, "v6", "Mein Passwort ist weg, Kundennummer 4711", world["queue_id"]
    )
    async with runtime.transaction() as tx:
        tx.session.add(BotSettings(channel="api", enabled=False))  # unrelated rows stay
    customer_id = (await ticket(runtime, ticket_id)).customer_id
    await erasure.erase(
        runtime, customer_id, source="console", actor_user_id=None, mode="anonymize"
    )
    talk = await conversation(runtime, ticket_id)
    assert "4711" not in json.dumps(talk.state)


async def test_channels_ask_whether_their_bot_is_on_now(runtime):
    await desk(runtime, greeting_en="Hi, I am the shop's bot.", greeting_de="Hallo!")
    now = runtime.clock.now()
    async with runtime.read() as session:
        assert await rooms.bot_for(session, "chat", now) == {
            "name": "Tresen bot",
            "greeting": {"en": "Hi, I am the shop's bot.", "de": "Hallo!"},
            "engine": "faq",
            "languages": ["de", "en"],
        }
        assert await rooms.bot_for(session, "sms", now) is None  # never switched on
    async with runtime.transaction() as tx:
        (await tx.session.get(BotSettings, "chat")).hours = "outside_business_hours"
        await create_calendar(tx, name="Desk", weekly=OFFICE, is_default=True)
    async with runtime.read() as session:
        assert await rooms.bot_for(session, "chat", now) is None  # Wednesday 11:00 in Berlin
        night = now.replace(hour=22)
        assert (await rooms.bot_for(session, "chat", night))["name"] == "Tresen bot"
    async with runtime.transaction() as tx:
        (await tx.session.get(BotSettings, "chat")).enabled = False
    async with runtime.read() as session:
        assert await rooms.bot_for(session, "chat", now.replace(hour=22)) is None
