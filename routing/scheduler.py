"""The SLA scheduler: fires each clock's warning and breach once, at its time, and escalates.

Work is an index range on `sla_clocks.next_fire_at`, so a tick costs what is due,
not what is open. On PostgreSQL the due rows are claimed with
`FOR UPDATE SKIP LOCKED`, so with several workers each clock is handled by one;
the unique `sla_events` row is the last guard (a second insert changes nothing).
Escalation per level (warning, breach), from the policy: notify the assignee and
the queue's supervisors (in the console and by email), raise the
priority one step, reassign to a queue or an agent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from routing.config import current
from routing.models import QueueMember, SlaClock, SlaEvent
from routing.status import target_name
from tickets.actions import apply_changes
from tickets.models import PRIORITIES, Queue, Ticket
from tresen import i18n
from tresen.i18n import _
from tresen.models import User
from tresen.notifications import notify, register_text
from tresen.runtime import Runtime, Transaction

log = logging.getLogger(__name__)

BATCH = 200
IDLE = 0.5  # seconds between looks when nothing is due sooner
RETRY_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class Fired:
    ticket_id: int
    target: str
    kind: str  # warning | breach
    due_at: datetime
    fired_at: datetime


async def fire_due(runtime: Runtime, *, limit: int = BATCH) -> list[Fired]:
    """Fire what is due now (at most `limit` clocks), in one transaction."""
    fired: list[Fired] = []
    async with runtime.transaction() as tx:
        now = tx.now()
        connection = await tx.session.connection()
        query = (
            select(SlaClock)
            .where(SlaClock.next_fire_at <= now)
            .order_by(SlaClock.next_fire_at)
            .limit(limit)
        )
        if runtime.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        clocks = (await connection.execute(query)).mappings().all()
        for clock in clocks:
            events_before = len(tx.events)
            try:
                async with tx.session.begin_nested():
                    fired.extend(await _fire(tx, clock, now))
            except Exception:
                # One clock that cannot fire must not hold up the others: try it again later.
                log.exception(
                    "SLA clock %s of ticket %s failed to fire", clock["id"], clock["ticket_id"]
                )
                del tx.events[events_before:]
                await connection.execute(
                    update(SlaClock)
                    .where(SlaClock.id == clock["id"])
                    .values(next_fire_at=now + RETRY_AFTER)
                )
    return fired


async def _fire(tx: Transaction, clock, now: datetime) -> list[Fired]:
    connection = await tx.session.connection()
    kinds = []
    if clock["breached_at"] is None and clock["due_at"] is not None and clock["due_at"] <= now:
        kinds.append(("breach", clock["due_at"]))
    elif clock["warned_at"] is None and clock["warn_at"] is not None and clock["warn_at"] <= now:
        kinds.append(("warning", clock["warn_at"]))
    values = {}
    fired = []
    for kind, due_at in kinds:
        inserted = await connection.execute(
            _insert_once(tx).values(
                ticket_id=clock["ticket_id"],
                target=clock["target"],
                kind=kind,
                cycle_started_at=clock["started_at"],
                due_at=due_at,
                fired_at=now,
                actions=[],
            )
        )
        values["breached_at" if kind == "breach" else "warned_at"] = now
        if kind == "breach":
            values["warned_at"] = clock["warned_at"] or now  # a late breach needs no warning
        if inserted.rowcount:
            fired.append(Fired(clock["ticket_id"], clock["target"], kind, due_at, now))
    # What is left to fire for this cycle: the due time, once warned.
    breached = "breached_at" in values or clock["breached_at"] is not None
    values["next_fire_at"] = None if breached else clock["due_at"]
    await connection.execute(update(SlaClock).where(SlaClock.id == clock["id"]).values(values))
    for item in fired:
        actions = await escalate(tx, clock, item)
        await connection.execute(
            update(SlaEvent)
            .where(
                SlaEvent.ticket_id == item.ticket_id,
                SlaEvent.target == item.target,
                SlaEvent.kind == item.kind,
                SlaEvent.cycle_started_at == clock["started_at"],
            )
            .values(actions=actions)
        )
        tx.emit(
            "sla." + ("breached" if item.kind == "breach" else "warning"),
            ticket_id=item.ticket_id,
            target=item.target,
        )
        # Not "sla": what fired changes no due time, so the clocks need no recomputing.
        tx.emit("ticket.updated", ticket_id=item.ticket_id, fields=["sla_fired"])
    return fired


def _insert_once(tx: Transaction):
    dialect = postgresql if tx.runtime.settings.is_postgres else sqlite
    return dialect.insert(SlaEvent).on_conflict_do_nothing(
        index_elements=["ticket_id", "target", "kind", "cycle_started_at"]
    )


async def escalate(tx: Transaction, clock, fired: Fired) -> list[str]:
    """Carry out the policy's actions for this level; what was done, in words."""
    config = await current(tx)
    level = "breach" if fired.kind == "breach" else "warning"
    steps = (config.escalations.get(clock["policy_id"]) or {}).get(level)
    if steps is None:
        steps = [{"action": "notify"}]  # telling someone is the least an SLA does
    connection = await tx.session.connection()
    ticket = (
        await connection.execute(
            select(Ticket.number, Ticket.priority, Ticket.assignee_id, Ticket.queue_id).where(
                Ticket.id == fired.ticket_id
            )
        )
    ).one()
    done = []
    for step in steps:
        action = step.get("action")
        if action == "notify":
            people = await _notify(tx, fired, ticket)
            done.append(f"notified {people} people")
        elif action == "raise_priority":
            index = PRIORITIES.index(ticket.priority)
            if index < len(PRIORITIES) - 1:
                raised = PRIORITIES[index + 1]
                await apply_changes(tx, fired.ticket_id, {"priority": raised})
                done.append(f"priority {ticket.priority} → {raised}")
        elif action == "reassign":
            changes = {}
            if step.get("queue_id"):
                if await connection.scalar(select(Queue.id).where(Queue.id == step["queue_id"])):
                    changes["queue_id"] = int(step["queue_id"])
                else:
                    log.warning("escalation names queue %s, which does not exist", step["queue_id"])
            if step.get("user_id"):
                active = await connection.scalar(
                    select(User.active).where(User.id == step["user_id"])
                )
                if active:
                    changes["assignee_id"] = int(step["user_id"])
                else:
                    log.warning("escalation names user %s, who is not active", step["user_id"])
            elif "user_id" in step:
                changes["assignee_id"] = None  # back to the queue
            if changes and await apply_changes(tx, fired.ticket_id, changes):
                done.append("reassigned " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        else:
            log.warning("unknown escalation action %r in policy %s", action, clock["policy_id"])
    return done


async def _notify(tx: Transaction, fired: Fired, ticket) -> int:
    connection = await tx.session.connection()
    people = set()
    if ticket.assignee_id is not None:
        people.add(ticket.assignee_id)
    if ticket.queue_id is not None:
        people.update(
            await connection.scalars(
                select(QueueMember.user_id).where(
                    QueueMember.queue_id == ticket.queue_id, QueueMember.role == "supervisor"
                )
            )
        )
    data = {"number": ticket.number, "target": fired.target, "due_at": fired.due_at.isoformat()}
    return await notify(
        tx,
        people,
        kind=f"sla.{fired.kind}",
        link=f"/tickets/{fired.ticket_id}",
        data=data,
        email=True,  # and by mail (routing.notify_mail)
        ticket_id=fired.ticket_id,
    )


def _sla_text(kind: str):
    def text(data: dict) -> str:
        values = {
            "number": data["number"],
            "target": target_name(data["target"]),
            "time": i18n.clock_time(datetime.fromisoformat(data["due_at"])),
        }
        if kind == "breach":
            return _("Ticket #%(number)s: the %(target)s target was missed at %(time)s", **values)
        return _("Ticket #%(number)s: the %(target)s is due soon (warning at %(time)s)", **values)

    return text


register_text("sla.breach", _sla_text("breach"))
register_text("sla.warning", _sla_text("warning"))


async def next_due(runtime: Runtime) -> datetime | None:
    async with runtime.read() as session:
        return await session.scalar(select(func.min(SlaClock.next_fire_at)))


async def run(runtime: Runtime) -> None:
    """Fire due clocks as long as the server runs; sleep until the next one (at most IDLE s)."""
    while True:
        try:
            # A read first: an idle look takes no write lock (SQLite has one writer).
            soonest = await next_due(runtime)
            if soonest is not None and soonest <= runtime.clock.now():
                fired = await fire_due(runtime)
                if len(fired) >= BATCH:
                    continue
                soonest = await next_due(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("SLA scheduler tick failed")
            soonest = None
        wait = IDLE
        if soonest is not None:
            wait = min(IDLE, max(0.0, (soonest - runtime.clock.now()) / timedelta(seconds=1)))
        await asyncio.sleep(max(wait, 0.01))
