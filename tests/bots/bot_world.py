"""A desk with the chat bot: a queue with an online agent under an SLA policy, the
knowledge base's samples, and helpers to talk to the bot through the inbox."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bots.models import BotConversation, BotSettings
from routing.actions import create_sla_policy, set_queue_routing
from routing.assign import set_presence
from routing.models import ChatOffer, SlaClock, TicketSla
from tickets.inbox import receive
from tickets.models import Message, Ticket
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.clock import FrozenClock
from tresen.handlers import run_due
from tresen.inbound import InboundMessage

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday


async def desk(runtime, *, bot: bool = True, **bot_fields) -> dict:
    """The clock frozen at START; queue "Support" (least loaded, SLA 60 min first response)
    with one online agent; the chat's bot switched on (or off)."""
    runtime.clock = FrozenClock(START)
    agent = await create_user(runtime, email="ada@example.com", name="Ada Agent", role="agent")
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        policy = await create_sla_policy(
            tx, name="Chat SLA", targets={"normal": {"first_response": 60}}
        )
        await set_queue_routing(
            tx,
            queue.id,
            mode="least_loaded",
            sla_policy_id=policy.id,
            members=[{"user_id": agent.id, "role": "agent"}],
        )
        await set_presence(tx, agent.id, "online")
        tx.session.add(
            BotSettings(
                channel="chat",
                enabled=bot,
                engine=bot_fields.pop("engine", "faq"),
                name="Tresen bot",
                greeting_en=bot_fields.pop("greeting_en", ""),
                greeting_de=bot_fields.pop("greeting_de", ""),
                languages=["de", "en"],
                hours=bot_fields.pop("hours", "always"),
                threshold=bot_fields.pop("threshold", None),
                rasa_timeout=bot_fields.pop("rasa_timeout", 5.0),
                **bot_fields,
            )
        )
    return {"agent": agent, "queue_id": queue.id, "policy_id": policy.id}


_counter = {"n": 0}


def chat(visitor: str, text: str, queue_id: int | None, language: str | None = None):
    _counter["n"] += 1
    return InboundMessage.model_validate(
        {
            "channel": "chat",
            "external_id": f"{visitor}:m{_counter['n']}",
            "conversation_id": visitor,
            "from": {"kind": "chat", "value": f"visitor:{visitor}", "name": "Vera Visitor"},
            "subject": "Chat: " + text[:60],
            "text": text,
            "queue_id": queue_id,
            "language": language,
        }
    )


async def say(runtime, visitor: str, text: str, queue_id, language=None, *, turn=True) -> int:
    """The visitor writes; the bot's turn runs (the durable handler); the ticket's id."""
    received = await receive(runtime, chat(visitor, text, queue_id, language))
    if turn:
        await run_due(runtime)
    return received.ticket_id


async def ticket(runtime, ticket_id: int) -> Ticket:
    async with runtime.read() as session:
        return await session.get(Ticket, ticket_id)


async def bot_messages(runtime, ticket_id: int, *, internal: bool = False) -> list[Message]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(Message)
                .where(
                    Message.ticket_id == ticket_id,
                    Message.auto_submitted == "bot",
                    Message.internal.is_(internal),
                )
                .order_by(Message.id)
            )
        )


async def conversation(runtime, ticket_id: int) -> BotConversation | None:
    async with runtime.read() as session:
        return await session.scalar(
            select(BotConversation).where(BotConversation.ticket_id == ticket_id)
        )


async def offers_of(runtime, ticket_id: int) -> list[tuple[int, str]]:
    async with runtime.read() as session:
        rows = await session.execute(
            select(ChatOffer.agent_id, ChatOffer.state).where(ChatOffer.ticket_id == ticket_id)
        )
        return [tuple(row) for row in rows]


async def clocks_of(runtime, ticket_id: int) -> list[SlaClock]:
    async with runtime.read() as session:
        return list(await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id)))


async def policy_of(runtime, ticket_id: int) -> int | None:
    async with runtime.read() as session:
        return await session.scalar(
            select(TicketSla.policy_id).where(TicketSla.ticket_id == ticket_id)
        )
