"""The demo data (`tresen demo`): loads once, routed through the inbox by its rules, with
several languages, channels and states, and SLA clocks at risk and breached."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from bots.models import BotSettings
from channels.email.parse import parse_message
from customers.models import Customer
from routing.models import AgentProfile, RoutingDecision, RoutingRule, SlaClock
from routing.status import sla_status
from tickets import queries, sources
from tickets.inbox import receive
from tickets.models import Macro, Message, Ticket
from tresen.cli import _seed_demo
from tresen.inbound import InboundMessage


async def test_demo_data_loads_once_with_routing_and_slas(runtime):
    assert await _seed_demo(runtime) is True
    assert await _seed_demo(runtime) is False  # kept as it is the second time
    async with runtime.read() as session:
        assert await session.scalar(select(func.count()).select_from(RoutingRule)) == 4
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
    assert open_tickets and with_clocks >= open_tickets - 1  # the call noted by hand: none
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


def _expected_rules(subject: str, text: str, tier: str) -> list[str]:
    """The demo's rules (routing/demo.py), read by hand: which of them a message meets."""
    expected = ["Everything to Support, under the Standard SLA"]
    if tier in ("premium", "vip"):
        expected.append("Premium and VIP customers around the clock")
    if re.search("rechnung|invoice", f"{subject}\n{text}", re.IGNORECASE):
        expected.append("Invoices to Billing")
    if re.search("dringend|urgent|asap", subject, re.IGNORECASE):
        expected.append("Urgent words")
    return expected


async def test_demo_tickets_are_routed_by_the_rules_through_the_inbox(runtime):
    await _seed_demo(runtime)
    checked = 0
    async with runtime.read() as session:
        tickets = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
        for ticket in tickets:
            first = await session.scalar(
                select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)
            )
            decision = await session.scalar(
                select(RoutingDecision)
                .where(RoutingDecision.ticket_id == ticket.id)
                .order_by(RoutingDecision.id)
            )
            if ticket.channel == "voice":  # a call noted by hand: no message to route
                assert decision is None and first.internal
                continue
            assert decision is not None, f"{ticket.subject}: not routed"
            customer = await session.get(Customer, ticket.customer_id)
            assert decision.matched_rules == _expected_rules(
                ticket.subject, first.text, customer.tier
            ), ticket.subject
            assert ticket.queue_id == decision.queue_id, ticket.subject
            checked += 1
            source = await queries.raw_source(session, first)
            if ticket.channel == "email":
                # The mail as a mailbox had it: the parser reads the same message from it.
                assert source is not None, ticket.subject
                assert parse_message(source).subject == ticket.subject
            else:
                assert source is None
        messages = list(await session.scalars(select(Message)))
        sourced = await sources.with_source(session, messages)
    assert checked >= 10
    # "Original" is offered for the mails received, not for chats, portal requests or calls.
    emails = {m.id for m in messages if m.channel == "email" and m.direction == "inbound"}
    assert sourced == emails


async def test_demo_covers_languages_channels_states_and_slas_at_risk_and_breached(runtime):
    await _seed_demo(runtime)
    now = runtime.clock.now()
    async with runtime.read() as session:
        tickets = list(await session.scalars(select(Ticket)))
        languages = set(await session.scalars(select(RoutingDecision.language)))
        clocks = [
            clock
            for ticket in tickets
            if (status := await sla_status(session, ticket.id, now)) is not None
            for clock in status["clocks"]
        ]
    assert {"email", "chat", "portal", "voice", "whatsapp", "sms"} <= {t.channel for t in tickets}
    assert {"new", "open", "pending", "solved", "bot"} <= {t.state for t in tickets}
    assert {"de", "en"} <= languages
    running = [c for c in clocks if c.remaining is not None]
    # Breached: past due. At risk: due within the policies' warning time (30 minutes).
    assert any(c.remaining < timedelta(0) for c in running)
    assert any(timedelta(0) < c.remaining <= timedelta(minutes=30) for c in running)


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
