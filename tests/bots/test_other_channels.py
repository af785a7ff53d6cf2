"""The bot on another conversational channel, through the same channel contract: a new
conversation gets the bot instead of the acknowledgement, and its buttons reach the
channel's `send` as `OutboundMessage.interactive` (for quick replies)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bots.models import BotSettings
from tests.bots.bot_world import bot_messages, desk, ticket
from tests.fixtures import lexical_only, load_kb_samples
from tickets.inbox import receive
from tickets.models import Message, Queue
from tickets.outbox import deliver_due
from tresen import channel as channel_registry
from tresen.channel import PHONE, Channel, Threading
from tresen.handlers import run_due
from tresen.inbound import InboundMessage

SENT = []


async def _send(_runtime, outbound) -> str:
    SENT.append(outbound)
    return f"QUICK-{len(SENT)}"


QUICK = Channel(
    name="quicksms",
    labels={"en": "Quick SMS", "de": "Schnell-SMS"},
    identity_kinds=(PHONE,),
    threading=Threading(sender=True),
    acknowledgement="conversation",
    send=_send,
    bot=True,
)


@pytest.fixture
def quick():
    channel_registry.register(QUICK)
    SENT.clear()
    yield QUICK
    channel_registry.unregister(QUICK.name)


def sms(number: int, text: str, queue_id: int) -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "quicksms",
            "external_id": f"SM{number}",
            "from": {"kind": "phone", "value": "+491701234567"},
            "text": text,
            "queue_id": queue_id,
        }
    )


@pytest.mark.parametrize("bot_on", [True, False])
async def test_a_new_conversation_gets_the_bot_instead_of_the_acknowledgement(
    runtime, quick, bot_on
):
    lexical_only(runtime)
    world = await desk(runtime, bot=False)
    await load_kb_samples(runtime)
    async with runtime.transaction() as tx:
        await tx.session.execute(update(Queue).values(acknowledge=True))
        tx.session.add(BotSettings(channel="quicksms", enabled=bot_on, engine="faq", threshold=0.0))
    received = await receive(
        runtime, sms(1, "Wie kann ich mein vergessenes Passwort zurücksetzen?", world["queue_id"])
    )
    async with runtime.read() as session:
        automatic = list(
            await session.scalars(
                select(Message.auto_submitted).where(
                    Message.ticket_id == received.ticket_id, Message.direction == "outbound"
                )
            )
        )
    assert automatic == ([] if bot_on else ["auto-replied"])
    await run_due(runtime)
    assert await deliver_due(runtime) == 1
    found = await ticket(runtime, received.ticket_id)
    if bot_on:
        assert found.state == "bot"
        [answer] = await bot_messages(runtime, received.ticket_id)
        [sent] = SENT
        assert sent.message_id == answer.id and sent.auto_submitted == "bot"
        assert [b["payload"] for b in sent.interactive["buttons"]] == ["/yes", "/no"]
    else:
        assert found.state == "new" and SENT[0].interactive is None
