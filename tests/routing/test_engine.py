"""Routing inside the inbox, on SQLite and PostgreSQL: rules, queue modes, the recorded decision."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from customers.models import Customer
from routing.actions import create_rule, create_sla_policy, set_agent_profile, set_queue_routing
from routing.assign import set_presence
from routing.models import RoutingDecision, TicketSla
from tickets.inbox import receive
from tickets.models import Message, Ticket
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.inbound import InboundMessage


def inbound(external_id: str, sender: str = "kim@example.com", **fields) -> InboundMessage:
    body = {
        "channel": "email",
        "external_id": external_id,
        "from": {"kind": "email", "value": sender, "name": "Kim Meyer"},
        "to": "support@tresen.test",
        "subject": "Drucker druckt nicht",
        "text": "Seit heute druckt unser Drucker nicht mehr. Bitte helfen Sie uns schnell.",
    }
    body.update(fields)
    return InboundMessage.model_validate(body)


async def make_agents(runtime, count: int, *, presence="online", prefix="agent"):
    users = []
    for number in range(count):
        users.append(
            await create_user(
                runtime, email=f"{prefix}{number}@example.com", name=f"Agent {number}", role="agent"
            )
        )
    async with runtime.transaction() as tx:
        for user in users:
            await set_presence(tx, user.id, presence)
    return users


async def setup_queue(runtime, name: str, mode: str, agents, **routing):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name=name)
        await set_queue_routing(
            tx,
            queue.id,
            mode=mode,
            members=[{"user_id": user.id, "role": "agent"} for user in agents],
            **routing,
        )
        return queue.id


async def ticket_of(runtime, ticket_id: int) -> Ticket:
    async with runtime.read() as session:
        return await session.get(Ticket, ticket_id)


async def decisions(runtime, ticket_id: int) -> list[RoutingDecision]:
    async with runtime.read() as session:
        rows = await session.scalars(
            select(RoutingDecision)
            .where(RoutingDecision.ticket_id == ticket_id)
            .order_by(RoutingDecision.id)
        )
        return list(rows)


async def test_a_matching_message_lands_in_the_rules_queue_assigned_by_its_mode(runtime):
    agents = await make_agents(runtime, 3)
    billing = await setup_queue(runtime, "Billing", "round_robin", agents)
    async with runtime.transaction() as tx:
        policy = await create_sla_policy(
            tx, name="Standard", targets={"high": {"first_response": 60, "resolution": 480}}
        )
        await create_rule(
            tx,
            name="Invoices to billing",
            conditions=[
                {"field": "subject", "operator": "contains", "value": ["rechnung", "invoice"]},
                {"field": "language", "operator": "is", "value": "de"},
            ],
            actions={
                "queue_id": billing,
                "priority": "high",
                "tags": ["billing", "Invoice"],
                "sla_policy_id": policy.id,
            },
        )
    result = await receive(
        runtime,
        inbound(
            "<r1@example.com>",
            subject="Falsche Rechnung",
            text="Die Rechnung vom März ist doppelt abgebucht worden.",
        ),
    )
    ticket = await ticket_of(runtime, result.ticket_id)
    assert ticket.queue_id == billing
    assert ticket.priority == "high"
    assert ticket.tags == ["billing", "invoice"]
    assert ticket.assignee_id == min(agent.id for agent in agents)  # round robin starts first
    [decision] = await decisions(runtime, ticket.id)
    assert decision.applied and decision.matched_rules == ["Invoices to billing"]
    assert decision.language == "de"
    assert decision.sla_policy_id == policy.id
    assert decision.assignment_reason == "round robin: next in turn"
    async with runtime.read() as session:
        assert await session.get(TicketSla, ticket.id) is not None
    # The next two go to the next agents in turn; an English one matches no rule.
    for number in (2, 3):
        result = await receive(
            runtime,
            inbound(
                f"<r{number}@example.com>",
                sender=f"c{number}@example.com",
                subject="Rechnung falsch",
                text="Bitte korrigieren Sie die Rechnung, der Betrag stimmt nicht.",
            ),
        )
        assert (await ticket_of(runtime, result.ticket_id)).assignee_id == agents[number - 1].id
    result = await receive(
        runtime,
        inbound(
            "<r4@example.com>",
            sender="eve@example.com",
            subject="Invoice wrong",
            text="The invoice for March charges us twice, please fix it.",
        ),
    )
    ticket = await ticket_of(runtime, result.ticket_id)
    assert ticket.queue_id is None and ticket.priority == "normal"
    [decision] = await decisions(runtime, ticket.id)
    assert decision.language == "en" and decision.matched_rules == []


async def test_a_reply_is_recorded_but_changes_nothing_an_agent_set(runtime):
    agents = await make_agents(runtime, 1)
    sales = await setup_queue(runtime, "Sales", "manual", agents)
    async with runtime.transaction() as tx:
        await create_rule(
            tx,
            name="everything to sales",
            conditions=[],
            actions={"queue_id": sales, "priority": "low"},
        )
    first = await receive(runtime, inbound("<a@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, first.ticket_id)
        ticket.priority = "urgent"
    second = await receive(
        runtime,
        inbound(
            "<b@example.com>",
            subject="Re: Drucker druckt nicht",
            text="Thank you, it prints again now after the restart.",
            in_reply_to="<a@example.com>",
        ),
    )
    assert second.ticket_id == first.ticket_id
    ticket = await ticket_of(runtime, first.ticket_id)
    assert ticket.priority == "urgent" and ticket.assignee_id is None  # manual queue
    opening, reply = await decisions(runtime, ticket.id)
    assert opening.applied and opening.assignment_reason == "the queue assigns by hand"
    assert not reply.applied and reply.language == "en" and reply.matched_rules == []


async def test_skills_mode_gives_german_mail_to_german_speakers(runtime):
    english, german = await make_agents(runtime, 2)
    async with runtime.transaction() as tx:
        await set_agent_profile(tx, english.id, skills=["lang:en"])
        await set_agent_profile(tx, german.id, skills=["lang:de", "lang:en"])
    queue = await setup_queue(runtime, "Support", "skills", [english, german])
    async with runtime.transaction() as tx:
        await create_rule(tx, name="all", conditions=[], actions={"queue_id": queue})
    for number in range(4):
        result = await receive(
            runtime, inbound(f"<de{number}@example.com>", sender=f"d{number}@x.de")
        )
        assert (await ticket_of(runtime, result.ticket_id)).assignee_id == german.id
    result = await receive(
        runtime,
        inbound(
            "<en@example.com>",
            sender="e@x.com",
            subject="Printer broken",
            text="Our printer stopped printing this morning, can you help?",
        ),
    )
    # German is busier by now: the English message goes to the English speaker.
    assert (await ticket_of(runtime, result.ticket_id)).assignee_id == english.id


async def test_away_agents_and_full_agents_get_nothing(runtime):
    present, away = await make_agents(runtime, 2)
    async with runtime.transaction() as tx:
        await set_presence(tx, away.id, "away")
        await set_agent_profile(tx, present.id, capacity=2)
    queue = await setup_queue(runtime, "Support", "least_loaded", [present, away])
    async with runtime.transaction() as tx:
        await create_rule(tx, name="all", conditions=[], actions={"queue_id": queue})
    assignees = []
    for number in range(4):
        result = await receive(
            runtime, inbound(f"<m{number}@example.com>", sender=f"m{number}@x.de")
        )
        assignees.append((await ticket_of(runtime, result.ticket_id)).assignee_id)
    assert assignees == [present.id, present.id, None, None]
    [*_, last] = await decisions(runtime, result.ticket_id)
    assert last.assignment_reason == "no agent is present with room for more"


async def test_a_returning_customer_goes_back_to_their_agent(runtime):
    agents = await make_agents(runtime, 3)
    queue = await setup_queue(runtime, "Support", "round_robin", agents, prefer_previous_agent=True)
    async with runtime.transaction() as tx:
        await create_rule(tx, name="all", conditions=[], actions={"queue_id": queue})
    first = await receive(runtime, inbound("<p1@example.com>"))
    helper = (await ticket_of(runtime, first.ticket_id)).assignee_id
    await receive(runtime, inbound("<p2@example.com>", sender="other@example.com"))
    again = await receive(
        runtime,
        inbound("<p3@example.com>", subject="Scanner", text="Jetzt scannt der Scanner nicht."),
    )
    assert again.ticket_id != first.ticket_id
    assert (await ticket_of(runtime, again.ticket_id)).assignee_id == helper
    [decision] = await decisions(runtime, again.ticket_id)
    assert decision.assignment_reason == "the agent who helped this customer before"


async def test_a_rules_auto_reply_is_sent_in_its_words(runtime):
    async with runtime.transaction() as tx:
        await create_rule(
            tx,
            name="after hours",
            conditions=[],
            actions={"auto_reply": "Hallo {name}, Ihr Ticket {number} ist da. {unknown}"},
        )
    result = await receive(runtime, inbound("<ar@example.com>"))
    async with runtime.read() as session:
        replies = list(
            await session.scalars(
                select(Message).where(
                    Message.ticket_id == result.ticket_id, Message.direction == "outbound"
                )
            )
        )
    [reply] = replies
    ticket = await ticket_of(runtime, result.ticket_id)
    assert reply.auto_submitted == "auto-replied"
    # The sender's name is never repeated (it may be a forger's words): {name} is dropped.
    assert reply.text == f"Hallo, Ihr Ticket {ticket.number} ist da. {{unknown}}"


async def test_concurrent_round_robin_never_doubles_up(runtime):
    agents = await make_agents(runtime, 5)
    queue = await setup_queue(runtime, "Support", "round_robin", agents)
    async with runtime.transaction() as tx:
        await create_rule(tx, name="all", conditions=[], actions={"queue_id": queue})
    results = await asyncio.gather(
        *(
            receive(runtime, inbound(f"<c{number}@example.com>", sender=f"c{number}@x.de"))
            for number in range(50)
        )
    )
    async with runtime.read() as session:
        counts = dict(
            (
                await session.execute(
                    select(Ticket.assignee_id, func.count())
                    .where(Ticket.id.in_([r.ticket_id for r in results]))
                    .group_by(Ticket.assignee_id)
                )
            ).all()
        )
    assert sorted(counts.values()) == [10] * 5


async def test_routing_a_ticket_whose_customer_this_transaction_did_not_resolve(runtime):
    """The engine looks the customer up itself when the inbox did not hand it over."""
    from customers.actions import create_customer
    from routing.engine import route
    from tickets.actions import TicketRef, open_ticket

    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="VIP")
        await create_rule(
            tx,
            name="premium customers",
            conditions=[{"field": "tier", "operator": "is", "value": "premium"}],
            actions={"queue_id": queue.id, "tags": ["vip"]},
        )
        customer = await create_customer(tx, name="Gold Kunde", tier="premium")
        ticket = await open_ticket(tx, customer_id=customer.id, subject="Hallo", channel="email")
    async with runtime.transaction() as tx:
        routed = await route(
            tx,
            inbound=inbound("<vip@example.com>", text="Bitte rufen Sie mich heute noch zurück."),
            ticket=TicketRef(ticket.id, ticket.number, "new", customer_id=customer.id),
            message_id=None,
            opened=True,
        )
    assert routed.queue_id == queue.id
    stored = await ticket_of(runtime, ticket.id)
    assert stored.queue_id == queue.id and stored.tags == ["vip"]
    async with runtime.read() as session:
        assert (await session.get(Customer, customer.id)).language == "de"
