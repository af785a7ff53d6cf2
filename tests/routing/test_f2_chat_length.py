"""The expected chat wait's average chat length counts only chats an agent had: a chat the
bot solved (or one nobody answered) says nothing about how long an agent's chat takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from customers.actions import create_customer
from routing.availability import average_chat_seconds
from tickets.actions import SYSTEM, add_message, open_ticket
from tickets.bot_messages import to_bot
from tickets.history import change_state
from tickets.models import Ticket
from tresen.accounts import create_user
from tresen.clock import FrozenClock


async def _chat(runtime, customer_id, *, minutes: int, assignee_id=None, bot=False) -> None:
    """A finished chat whose messages span `minutes` (with the bot all along: `bot`)."""
    async with runtime.transaction() as tx:
        found = await open_ticket(
            tx, customer_id=customer_id, subject="Chat", channel="chat", assignee_id=assignee_id
        )
        if bot:
            await to_bot(tx, found.id)
        await add_message(tx, found, direction="inbound", text="Hallo")
    runtime.clock.advance(timedelta(minutes=minutes))
    async with runtime.transaction() as tx:
        found = await tx.session.get(Ticket, found.id)
        await add_message(tx, found, direction="inbound", text="Danke")
        change_state(tx, found, "solved", SYSTEM)
    runtime.clock.advance(timedelta(minutes=1))


async def test_chats_no_agent_had_do_not_count_toward_the_average_length(runtime):
    runtime.clock = FrozenClock(datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    agent = await create_user(runtime, email="len@example.com", name="Len", role="agent")
    async with runtime.transaction() as tx:
        kim = await create_customer(tx, name="Kim")
    await _chat(runtime, kim.id, minutes=10, assignee_id=agent.id)
    await _chat(runtime, kim.id, minutes=20)  # nobody assigned, but not the bot's: counted
    await _chat(runtime, kim.id, minutes=90, bot=True)  # the bot solved it: nobody's work
    async with runtime.read() as session:
        assert await average_chat_seconds(session, None) == 900
