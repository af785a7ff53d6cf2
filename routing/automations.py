"""Time-based automations: conditions on a ticket and the time since something happened
(pending for N days, no customer reply for N hours, ...), then the triggers' actions.

A worker looks every minute (`CHECK_EVERY`), as routing's SLA scheduler does. Each ticket
is acted on once per automation and condition episode: the episode is when its clocks
started (e.g. when the state was last set), so a ticket that is pending again later is
reminded again, and one still pending is not reminded every minute. The
`automation_runs` row, inserted once (a unique key), is the claim and the guard.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from routing.automation_models import Automation, AutomationRun
from routing.rules import RuleError
from routing.triggers import TICKET_FIELDS, act, all_hold, conditions_of
from routing.triggers import ticket_facts as _ticket_facts
from tickets.models import Message, Ticket, TicketHistory
from tickets.states import BOT
from tresen.runtime import Runtime, Transaction

log = logging.getLogger(__name__)

CHECK_EVERY = 60.0  # seconds between looks
BATCH = 500  # tickets one automation looks at per look
# The clocks a condition may count hours on, and what starts each.
TIME_FIELDS = (
    "hours_since_created",
    "hours_since_updated",
    "hours_in_state",
    "hours_since_customer",
    "hours_since_agent",
)
AUTOMATION_FIELDS = (*TICKET_FIELDS, *TIME_FIELDS)


def conditions(automation: Automation) -> list:
    return conditions_of(automation.conditions, AUTOMATION_FIELDS, TIME_FIELDS)


async def _clocks(session, ids: list[int]) -> dict[int, dict]:
    """When each ticket's clocks started: its state set, the customer's and agent's last word."""
    state_since = dict(
        (
            await session.execute(
                select(TicketHistory.ticket_id, func.max(TicketHistory.at))
                .where(TicketHistory.ticket_id.in_(ids), TicketHistory.field == "state")
                .group_by(TicketHistory.ticket_id)
            )
        ).all()
    )
    last = select(Message.ticket_id, func.max(Message.created_at)).where(
        Message.ticket_id.in_(ids), Message.internal.is_(False)
    )
    customer = dict(
        (
            await session.execute(
                last.where(Message.direction == "inbound").group_by(Message.ticket_id)
            )
        ).all()
    )
    agent = dict(
        (
            await session.execute(
                last.where(Message.direction == "outbound").group_by(Message.ticket_id)
            )
        ).all()
    )
    return {
        ticket_id: {
            "hours_in_state": state_since.get(ticket_id),
            "hours_since_customer": customer.get(ticket_id),
            "hours_since_agent": agent.get(ticket_id),
        }
        for ticket_id in ids
    }


def _hours(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else (now - since) / timedelta(hours=1)


async def due(
    session, automation: Automation, now: datetime, *, limit: int = BATCH
) -> list[tuple[Ticket, str]]:
    """Up to `limit` tickets the automation's conditions hold for now and that it has not
    acted on in this episode, each with its episode; all tickets are looked at, a batch
    at a time."""
    try:
        wanted = conditions(automation)
    except RuleError:
        log.warning("automation %s has conditions it cannot judge", automation.id)
        return []
    where = [Ticket.merged_into_id.is_(None), Ticket.state.not_in((BOT, "closed"))]
    for condition in wanted:  # narrowed in SQL where that is plain
        if condition.field == "state" and condition.operator == "is":
            where = [Ticket.merged_into_id.is_(None), Ticket.state == str(condition.value)]
    found: list[tuple[Ticket, str]] = []
    after = 0
    while len(found) < limit:
        query = select(Ticket).where(*where, Ticket.id > after).order_by(Ticket.id).limit(BATCH)
        tickets = (await session.scalars(query)).unique().all()
        if not tickets:
            break
        after = tickets[-1].id
        holding = await _holding(session, wanted, tickets, now)
        done = await _acted_on(session, automation.id, [ticket.id for ticket, _ in holding])
        found += [pair for pair in holding if (pair[0].id, pair[1]) not in done]
        if len(tickets) < BATCH:
            break
    return found[:limit]


# Short names of the clocks in an episode's key.
_KEYS = {field: field.removeprefix("hours_")[:12] for field in TIME_FIELDS}


async def _holding(session, wanted: list, tickets: list[Ticket], now: datetime) -> list:
    """The tickets the conditions hold for, each with its episode (its clocks' starts)."""
    clocks = await _clocks(session, [ticket.id for ticket in tickets])
    used = list(dict.fromkeys(c.field for c in wanted if c.field in TIME_FIELDS))
    found = []
    for ticket in tickets:
        started = dict(clocks[ticket.id])
        started["hours_since_created"] = ticket.created_at
        started["hours_since_updated"] = ticket.updated_at
        started["hours_in_state"] = started["hours_in_state"] or ticket.created_at
        hours = {field: _hours(started[field], now) for field in TIME_FIELDS}
        if all_hold(wanted, await _ticket_facts(session, ticket, **hours)):
            episode = "|".join(
                f"{_KEYS[field]}={started[field].timestamp():.0f}" if started[field] else "-"
                for field in used
            )
            found.append((ticket, episode or "once"))
    return found


async def _acted_on(session, automation_id: int, ticket_ids: list[int]) -> set:
    """Which (ticket id, episode) the automation acted on, of these tickets."""
    if not ticket_ids:
        return set()
    rows = await session.execute(
        select(AutomationRun.ticket_id, AutomationRun.episode).where(
            AutomationRun.automation_id == automation_id,
            AutomationRun.ticket_id.in_(ticket_ids),
        )
    )
    return {(row.ticket_id, row.episode) for row in rows}


async def check(runtime: Runtime) -> int:
    """Run every active automation once over the tickets it holds for; how many acts."""
    # A look first: only automations with something to do take a write lock (SQLite has one
    # writer), and then they look again in the transaction.
    busy = []
    async with runtime.read() as session:
        automations = (
            await session.scalars(
                select(Automation).where(Automation.active.is_(True)).order_by(Automation.position)
            )
        ).all()
        now = runtime.clock.now()
        for automation in automations:
            if await due(session, automation, now, limit=1):
                busy.append(automation.id)
    if not busy:
        return 0
    acts = 0
    async with runtime.transaction() as tx:
        for automation_id in busy:
            automation = await tx.session.get(Automation, automation_id)
            if automation is not None and automation.active:
                acts += await _run(tx, automation)
    return acts


async def _run(tx: Transaction, automation: Automation) -> int:
    acts = 0
    for ticket, episode in await due(tx.session, automation, tx.now()):
        events_before = len(tx.events)
        try:
            async with tx.session.begin_nested():
                if not await _claim(tx, automation.id, ticket.id, episode):
                    continue  # another process acted on it meanwhile
                await act(tx, ticket, "automation", automation.name, automation.actions or {})
                acts += 1
        except Exception:
            # One ticket that cannot be acted on must not hold up the others.
            log.exception("automation %s failed on ticket %s", automation.id, ticket.id)
            del tx.events[events_before:]
    if acts:
        await tx.session.execute(
            update(Automation)
            .where(Automation.id == automation.id)
            .values(runs=Automation.runs + acts, last_run_at=tx.now())
        )
    return acts


async def _claim(tx: Transaction, automation_id: int, ticket_id: int, episode: str) -> bool:
    dialect = postgresql if tx.runtime.settings.is_postgres else sqlite
    statement = (
        dialect.insert(AutomationRun)
        .values(automation_id=automation_id, ticket_id=ticket_id, episode=episode, ran_at=tx.now())
        .on_conflict_do_nothing(index_elements=["automation_id", "ticket_id", "episode"])
    )
    return bool((await tx.session.execute(statement)).rowcount)


async def run(runtime: Runtime) -> None:
    """Look every CHECK_EVERY seconds as long as the server runs."""
    while True:
        try:
            await check(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("time-based automations failed")
        await asyncio.sleep(CHECK_EVERY)
