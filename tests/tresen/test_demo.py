"""The demo data (`tresen demo`): loads once, with routing and SLAs in place."""

from __future__ import annotations

from sqlalchemy import func, select

from bots.models import BotSettings
from routing.models import AgentProfile, RoutingRule, SlaClock
from tickets.inbox import receive
from tickets.models import Macro, Ticket
from tresen.cli import _seed_demo
from tresen.inbound import InboundMessage


async def test_demo_data_loads_once_with_routing_and_slas(runtime):
    assert await _seed_demo(runtime) is True
    assert await _seed_demo(runtime) is False  # kept as it is the second time
    async with runtime.read() as session:
        assert await session.scalar(select(func.count()).select_from(RoutingRule)) == 3
        online = await session.scalar(
            select(func.count()).select_from(AgentProfile).where(AgentProfile.presence == "online")
        )
        assert online == 2
        open_tickets = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.state.in_(("new", "open")))
        )
        with_clocks = await session.scalar(select(func.count(func.distinct(SlaClock.ticket_id))))
        # The console's lists sort by SLA: the tickets under one carry their due time.
        due = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.sla_due_at.is_not(None))
        )
        macros = list(await session.scalars(select(Macro.name)))
    assert open_tickets and with_clocks >= open_tickets
    assert due and due <= with_clocks
    assert "Rückerstattung zugesagt" in macros
    async with runtime.read() as session:  # the help centre's chat has the FAQ bot first
        bot = await session.get(BotSettings, "chat")
    assert bot is not None and bot.enabled and bot.engine == "faq" and bot.greeting_de
    # A new invoice question goes to Billing, to an agent who is online, under the SLA.
    result = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "email",
                "external_id": "<demo-new@example.com>",
                "from": {"kind": "email", "value": "neu@example.com"},
                "subject": "Dringend: Rechnung",
                "text": "Die Rechnung ist falsch, bitte korrigieren.",
            }
        ),
    )
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        clocks = await session.scalar(
            select(func.count()).select_from(SlaClock).where(SlaClock.ticket_id == ticket.id)
        )
    assert ticket.queue.name == "Billing" and ticket.priority == "urgent"
    assert ticket.assignee is not None and ticket.tags == ["billing"]
    assert clocks == 2
    other = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "email",
                "external_id": "<demo-other@example.com>",
                "from": {"kind": "email", "value": "frage@example.com"},
                "subject": "Passwort vergessen",
                "text": "Ich komme nicht mehr in mein Konto.",
            }
        ),
    )
    async with runtime.read() as session:
        ticket = await session.get(Ticket, other.ticket_id)
    assert ticket.queue.name == "Support" and ticket.priority == "normal"


async def test_demo_tickets_get_knowledge_base_suggestions(runtime):
    from routing.suggestions import for_ticket

    await _seed_demo(runtime)
    async with runtime.read() as session:
        double_charge = await session.scalar(
            select(Ticket.id).where(Ticket.subject.like("Rechnung 2026-1147%"))
        )
    hits, _ = await for_ticket(runtime, double_charge)
    titles = [hit.title for hit in hits]
    # The public answer and the internal how-to (agents see internal articles) lead.
    assert set(titles[:2]) == {
        "Rückerstattung einer doppelten Abbuchung",
        "Doppelbuchung prüfen (intern)",
    }
