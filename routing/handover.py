"""What routing skipped while the bot had a conversation, done at its handoff (a commit hook).

At creation routing chose queue, priority and tags and recorded its decision, but a ticket
the bot answers first got no assignee, no chat offer and no SLA clocks. When the bot hands
it to people (`TicketHandedOver`), the same transaction assigns it through the queue's mode
(a live chat is offered to the agent), and puts it under the SLA policy routing chose for
it (else its queue's). Its clocks count time spent with the bot as a pause
(`routing.sla.BOT_STATES`), so they run from the handoff.
"""

from __future__ import annotations

from sqlalchemy import select, update

from routing import assign, offers
from routing.assignment import Choice
from routing.config import current
from routing.models import RoutingDecision, TicketSla
from tickets.actions import apply_changes
from tickets.models import Ticket
from tresen.models import User
from tresen.runtime import Transaction


async def before_commit(tx: Transaction) -> None:
    ticket_ids = [
        event.data["ticket_id"] for event in tx.events if event.type == "ticket.handed_over"
    ]
    if not ticket_ids:
        return
    for ticket_id in dict.fromkeys(ticket_ids):
        await handed_over(tx, ticket_id)


async def handed_over(tx: Transaction, ticket_id: int) -> None:
    """Assign the ticket and start its SLA policy, as routing would have at creation (once
    per transaction: the bot calls it to say who answers, the commit hook for the rest)."""
    if ("handed_over", ticket_id) in tx.memo:
        return
    tx.memo[("handed_over", ticket_id)] = True
    session = tx.session
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    ticket = (
        await connection.execute(
            select(Ticket.queue_id, Ticket.assignee_id, Ticket.customer_id, Ticket.channel).where(
                Ticket.id == ticket_id
            )
        )
    ).one_or_none()
    if ticket is None:
        return
    decision = (
        await connection.execute(
            select(
                RoutingDecision.id,
                RoutingDecision.sla_policy_id,
                RoutingDecision.language,
                RoutingDecision.assignee_id,
            )
            .where(RoutingDecision.ticket_id == ticket_id, RoutingDecision.applied)
            .order_by(RoutingDecision.id.desc())
            .limit(1)
        )
    ).one_or_none()
    named = decision.assignee_id if decision else None
    if named is not None and not await connection.scalar(
        select(User.active).where(User.id == named)
    ):
        named = None
    if ticket.assignee_id is None and (named is not None or ticket.queue_id is not None):
        live = offers.is_live(ticket.channel)
        if named is not None:  # a routing rule named the agent when the ticket came in
            choice = Choice(named, "a rule names the agent")
        else:
            choice = await assign.assign(
                tx,
                ticket.queue_id,
                customer_id=ticket.customer_id,
                ticket_id=ticket_id,
                language=decision.language if decision else None,
                live=live,
            )
        if choice.agent_id is not None:
            await apply_changes(tx, ticket_id, {"assignee_id": choice.agent_id})
            if live:
                await offers.offer(tx, ticket_id, choice.agent_id)
        if decision is not None:
            await connection.execute(
                update(RoutingDecision)
                .where(RoutingDecision.id == decision.id)
                .values(
                    assignee_id=choice.agent_id,
                    assignment_reason=f"handed off by the bot: {choice.reason}",
                )
            )
    await _start_sla(tx, ticket_id, ticket.queue_id, decision)


async def _start_sla(tx: Transaction, ticket_id: int, queue_id, decision) -> None:
    config = await current(tx)
    policy_id = decision.sla_policy_id if decision else None
    if policy_id is None and queue_id is not None:
        queue = config.queues.get(queue_id)
        policy_id = queue.sla_policy_id if queue else None
    if policy_id not in config.policies:
        return
    connection = await tx.session.connection()
    if await connection.scalar(select(TicketSla.policy_id).where(TicketSla.ticket_id == ticket_id)):
        return  # an agent gave it a policy meanwhile
    await connection.execute(
        TicketSla.__table__.insert(), {"ticket_id": ticket_id, "policy_id": policy_id}
    )
    tx.memo[("sla_policy", ticket_id)] = policy_id
    tx.emit("ticket.updated", ticket_id=ticket_id, fields=["sla"])
