"""Routing inside the inbox: the decision for every inbound message, recorded on its ticket.

The inbox calls `route` in the transaction that stores the message (through
`tresen.rooms.route`, as tickets may not import routing). The message's language
and intent are detected; for a message that opens a ticket the rules judge its
facts (`routing.facts`, shared with the rules preview) and choose queue, priority,
tags, SLA policy and assignee, the queue's mode picks an agent when no rule named
one, and the decision is applied (through the tickets' and customers' actions)
and recorded with the rules that made it. A message into an existing ticket is
recorded (language, intent) but changes nothing an agent may have set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, func, insert, select

from customers.actions import set_language
from customers.models import Customer
from routing import assign, offers
from routing.config import current
from routing.facts import Reading, facts_for, read_message, reading_of
from routing.models import RoutingDecision, TicketSla
from routing.rules import Decision, evaluate
from tickets.actions import apply_changes
from tickets.bot_messages import BOT, to_bot
from tickets.models import Queue
from tresen import rooms
from tresen.inbound import InboundMessage
from tresen.models import User
from tresen.runtime import Transaction

log = logging.getLogger(__name__)


# Built once: these run for every inbound message.
_CUSTOMER = select(Customer.organization_id, Customer.tier, Customer.language).where(
    Customer.id == bindparam("id")
)
_INSERT_DECISION = insert(RoutingDecision)
_QUEUE_EXISTS = select(func.count()).select_from(Queue).where(Queue.id == bindparam("queue_id"))


@dataclass(frozen=True)
class Routed:
    """What the inbox needs back: the ticket's queue, and a rule's auto-reply text."""

    queue_id: int | None
    auto_reply: str | None = None
    # The channel's bot answers first: no acknowledgement (the bot greets instead).
    bot: bool = False


async def route(
    tx: Transaction, *, inbound: InboundMessage, ticket, message_id: int, opened: bool
) -> Routed:
    settings = tx.runtime.settings
    connection = await tx.session.connection()
    if not opened:
        reading = read_message(
            settings, subject=inbound.subject, text=inbound.text, visible_text=inbound.visible_text
        )
        await connection.execute(
            _INSERT_DECISION, {**_decision_row(tx, ticket, message_id, reading), "applied": False}
        )
        # A message on a conversation the bot has or resolved: the bots room says whether
        # the bot answers it (on its channel; again, after a "yes") or people do (routed
        # then as its handoff). A conversation people had stays theirs.
        if ticket.state in (BOT, "open") and await rooms.bot_resumes(
            tx, ticket=ticket, inbound=inbound
        ):
            if ticket.state != BOT:
                await to_bot(tx, ticket.id, state=ticket.state)
            return Routed(ticket.queue_id, bot=True)
        return Routed(ticket.queue_id)
    config = await current(tx)
    customer = tx.memo.get(("customer", ticket.customer_id))
    if customer is None:  # not resolved in this transaction: look it up
        found = (await connection.execute(_CUSTOMER, {"id": ticket.customer_id})).one()
        customer = found._asdict()
    facts = facts_for(
        settings,
        channel=inbound.channel,
        account=inbound.to,
        subject=inbound.subject,
        text=inbound.text,
        visible_text=inbound.visible_text,
        customer=customer,
        calendar=config.default_calendar,
        now=tx.now(),
    )
    if inbound.language:  # the language the customer chose outranks the one detected
        facts = replace(facts, language=inbound.language)
    language = facts.language
    row = _decision_row(tx, ticket, message_id, reading_of(facts))
    decision = evaluate(config.rules, facts)
    queue_id = await _existing_queue(tx, decision.queue_id) or ticket.queue_id
    queue = config.queues.get(queue_id)
    policy_id = decision.sla_policy_id or (queue.sla_policy_id if queue else None)
    if policy_id not in config.policies:
        policy_id = None
    live = offers.is_live(inbound.channel)
    # The bot answers first: queue, priority and tags apply now, the rest at its handoff
    # (routing.handover): no assignee, no offer, no SLA clocks while the bot has it.
    bot = await rooms.bot_takes(
        tx, ticket=replace(ticket, queue_id=queue_id), inbound=inbound, language=language
    )
    named = None  # a rule's agent, recorded for the handoff to give it to
    if bot:
        assignee_id, reason = None, "the bot answers first"
        named = decision.assignee_id
    else:
        assignee_id, reason = await _assignee(tx, decision, queue_id, ticket, language, live)
    # A new ticket has no assignee and normal priority (tickets.actions): change only what differs.
    changes = {}
    if queue_id != ticket.queue_id:
        changes["queue_id"] = queue_id
    if assignee_id is not None:
        changes["assignee_id"] = assignee_id
    if decision.priority and decision.priority != "normal":
        changes["priority"] = decision.priority
    if changes or decision.tags:
        await apply_changes(
            tx,
            ticket.id,
            changes,
            add_tags=list(decision.tags),
            known={"queue_id": ticket.queue_id, "priority": "normal", "assignee_id": None},
            known_tags=[],
        )
    if live and assignee_id is not None:
        # A chat is the agent's at once, and offered: not taken in time, it goes on.
        await offers.offer(tx, ticket.id, assignee_id)
    if bot:
        await to_bot(tx, ticket.id, state=ticket.state)
    elif policy_id is not None:
        await connection.execute(
            insert(TicketSla), {"ticket_id": ticket.id, "policy_id": policy_id}
        )
        tx.memo[("sla_policy", ticket.id)] = policy_id
        tx.emit("ticket.updated", ticket_id=ticket.id, fields=["sla"])
    if language and customer["language"] is None:  # known from above: no look-up here
        await set_language(tx, ticket.customer_id, language, source="detected")
    await connection.execute(
        _INSERT_DECISION,
        {
            **row,
            "applied": True,
            "matched_rules": list(decision.matched),
            "queue_id": queue_id,
            "priority": decision.priority,
            "tags": list(decision.tags),
            "sla_policy_id": policy_id,
            "assignee_id": assignee_id or named,
            "assignment_reason": reason,
        },
    )
    return Routed(queue_id, decision.auto_reply, bot=bot)


def _decision_row(tx: Transaction, ticket, message_id: int, reading: Reading) -> dict:
    return {
        "ticket_id": ticket.id,
        "message_id": message_id,
        "language": reading.language,
        "intent": reading.intent,
        "intent_confidence": reading.intent_confidence,
        "created_at": tx.now(),
    }


async def _existing_queue(tx: Transaction, queue_id: int | None) -> int | None:
    if queue_id is None:
        return None
    connection = await tx.session.connection()
    if await connection.scalar(_QUEUE_EXISTS, {"queue_id": queue_id}):
        return queue_id
    log.warning("a routing rule names queue %s, which does not exist", queue_id)
    return None


async def _assignee(
    tx: Transaction,
    decision: Decision,
    queue_id: int | None,
    ticket,
    language: str | None,
    live: bool,
) -> tuple[int | None, str]:
    if decision.assignee_id is not None:
        connection = await tx.session.connection()
        active = await connection.scalar(select(User.active).where(User.id == decision.assignee_id))
        if active:
            return decision.assignee_id, "a rule names the agent"
        log.warning("a routing rule names user %s, who is not active", decision.assignee_id)
    if queue_id is None:
        return None, "no queue"
    choice = await assign.assign(
        tx,
        queue_id,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        language=language,
        live=live,
    )
    return choice.agent_id, choice.reason
