"""The bot's weekly figures per channel: conversations, answered, deflected, handed off,
abandoned, and the CSAT of the conversations the bot resolved (not of those people answered)."""

from __future__ import annotations

from datetime import timedelta

from bots.outcomes import abandon
from bots.report import weekly
from tests.bots.bot_world import bot_messages, say, ticket
from tests.bots.test_handler import QUESTION, faq_desk
from tickets.csat import rate


async def _resolved(runtime, visitor: str, queue_id: int) -> int:
    ticket_id = await say(runtime, visitor, QUESTION, queue_id, "de")
    [answer] = await bot_messages(runtime, ticket_id)
    await say(runtime, visitor, answer.interactive["buttons"][0]["title"], queue_id, "de")
    return ticket_id


async def test_the_weekly_figures_per_channel(runtime):
    world = await faq_desk(runtime)
    queue_id = world["queue_id"]
    # Last week (ISO 2026-W48): one resolved by the bot, rated 2.
    runtime.clock.advance(timedelta(days=-7))
    old = await _resolved(runtime, "w1", queue_id)
    async with runtime.transaction() as tx:
        await rate(tx, old, (await ticket(runtime, old)).customer_id, 2, source="chat")
    runtime.clock.advance(timedelta(days=7))
    # This week (2026-W49): two resolved (rated 5 and 4), one handed off at once (rated 1:
    # a person answered it, so it is not the bot's CSAT), one answered and still open.
    for visitor, score in (("w2", 5), ("w3", 4)):
        resolved = await _resolved(runtime, visitor, queue_id)
        async with runtime.transaction() as tx:
            await rate(
                tx, resolved, (await ticket(runtime, resolved)).customer_id, score, source="chat"
            )
    handed = await say(runtime, "w4", "Ich will mit einem Mitarbeiter sprechen", queue_id, "de")
    async with runtime.transaction() as tx:
        await rate(tx, handed, (await ticket(runtime, handed)).customer_id, 1, source="chat")
    await say(runtime, "w5", QUESTION, queue_id, "de")
    left = await say(runtime, "w6", QUESTION, queue_id, "de")  # answered, then the chat ends
    async with runtime.transaction() as tx:
        assert await abandon(tx, left)
    async with runtime.read() as session:
        rows = await weekly(session, weeks=4, now=runtime.clock.now())
    assert rows == [
        {
            "channel": "chat",
            "week": "2026-W49",
            "conversations": 5,
            "answered": 4,
            "deflected": 2,
            "handed_off": 1,
            "abandoned": 1,
            "csat": 4.5,
            "csat_count": 2,
        },
        {
            "channel": "chat",
            "week": "2026-W48",
            "conversations": 1,
            "answered": 1,
            "deflected": 1,
            "handed_off": 0,
            "abandoned": 0,
            "csat": 2.0,
            "csat_count": 1,
        },
    ]
    async with runtime.read() as session:  # one week back: only this week's
        assert [row["week"] for row in await weekly(session, weeks=1, now=runtime.clock.now())] == [
            "2026-W49"
        ]
