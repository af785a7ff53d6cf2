"""Durable event handlers: reactions to events that run after commit, at least once.

A room registers a handler for an event type:

    @handler(MessageCreated, name="bots.answer")
    async def answer(tx: Transaction, event: MessageCreated, *, key: str) -> None: ...

When a transaction emits an event that has handlers, the same transaction writes one
job per handler (`event_jobs`). After commit a worker runs each job inside a
transaction that also marks it done, so the handler's database work and "done"
commit together: a crash before that commit runs the handler again, never half of
it. `key` (the handler's name and the event's key, unique in the table) is for
effects outside the database, which may see a retry. A failing handler is retried
with exponential backoff and marked failed after its last attempt (kept, logged).

Jobs are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several processes
share them; SQLite has one writer at a time anyway. A handler does its work in the
`tx` it is given (opening another transaction would wait for this one on SQLite) and
should be quick: slow effects elsewhere belong in the outbox or a job of their own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tresen.events import PAYLOADS, Event, Payload
from tresen.models import EventJob

if TYPE_CHECKING:
    from tresen.runtime import Runtime, Transaction

log = logging.getLogger(__name__)

ATTEMPTS = 8  # a handler's runs before its job is marked failed
BACKOFF_BASE = timedelta(seconds=10)  # wait after the first failure; doubles after each
BACKOFF_MAX = timedelta(hours=1)
POLL_SECONDS = 5.0  # other processes' jobs and retries that fell due, found this often
KEEP_DONE = timedelta(days=7)  # done jobs are kept this long (what ran, for a look back)
PRUNE_EVERY = 3600.0  # seconds between prunings
DRAIN_LIMIT = 1000  # jobs one `run_due` runs at most, so a handler emitting forever yields


@dataclass(frozen=True)
class Handler:
    name: str
    event_type: str
    run: Callable[..., Awaitable[None]]
    attempts: int
    wants_key: bool
    # Which events of the type it wants, asked before a job is written (None: all).
    when: Callable[[Payload], bool] | None = None


# By name, and by event type (the check on every commit is one dict lookup per event).
_by_name: dict[str, Handler] = {}
_by_type: dict[str, list[Handler]] = {}


def handler(
    event: str | type[Payload],
    *,
    name: str,
    attempts: int = ATTEMPTS,
    when: Callable[[Payload], bool] | None = None,
):
    """Register the decorated coroutine as the durable handler `name` of an event type.

    It is called as `run(tx, payload)`, plus `key=` if it takes a `key` parameter;
    `when(payload)`, if given, says which events get a job at all (no row for the rest).
    """
    event_type = event if isinstance(event, str) else event.type

    def register(run: Callable[..., Awaitable[None]]):
        known = _by_name.get(name)
        if known is not None and (known.event_type, known.run.__qualname__) != (
            event_type,
            run.__qualname__,
        ):
            raise ValueError(f"a handler named {name} is already registered")
        unregister(name)
        item = Handler(
            name,
            event_type,
            run,
            attempts,
            wants_key="key" in inspect.signature(run).parameters,
            when=when,
        )
        _by_name[name] = item
        _by_type.setdefault(event_type, []).append(item)
        return run

    return register


def unregister(name: str) -> None:
    """Forget a handler (tests); its pending jobs wait for a process that knows it."""
    item = _by_name.pop(name, None)
    if item is not None:
        _by_type[item.event_type].remove(item)
        if not _by_type[item.event_type]:
            del _by_type[item.event_type]


def registered(event_type: str) -> list[str]:
    """The names of the handlers of an event type."""
    return [item.name for item in _by_type.get(event_type, ())]


async def stage_jobs(tx: Transaction) -> int:
    """Write the jobs for the transaction's events (called before commit); how many."""
    if not _by_type:
        return 0
    rows = []
    for event in tx.events:
        wanted = _by_type.get(event.type)
        if not wanted:
            continue
        event_key = None
        for item in wanted:
            if item.when is not None and not (event.payload and item.when(event.payload)):
                continue
            if event_key is None:
                event_key = (event.payload.key() if event.payload else None) or (
                    f"{event.type}:{uuid.uuid4().hex}"
                )
            rows.append(
                {
                    "handler": item.name,
                    "event_type": event.type,
                    "payload": event.data,
                    "key": f"{item.name}/{event_key}",
                    "status": "pending",
                    "attempts": 0,
                }
            )
    if not rows:
        return 0
    now = tx.now()
    for row in rows:
        row["next_attempt_at"] = row["created_at"] = now
    dialect = postgres_insert if tx.runtime.settings.is_postgres else sqlite_insert
    # An event with a key of its own emitted again (a retried import) adds no second job.
    statement = dialect(EventJob).on_conflict_do_nothing(index_elements=["key"])
    connection = await tx.session.connection()
    await connection.execute(statement, rows)
    return len(rows)


async def run_due(runtime: Runtime, *, limit: int = DRAIN_LIMIT) -> int:
    """Run the jobs due now, one transaction each, until none is left; how many ran."""
    ran = 0
    while ran < limit and await _run_next(runtime):
        ran += 1
    return ran


async def run(runtime: Runtime) -> None:
    """The worker: runs jobs as soon as they are committed, and retries as they fall due."""
    loop = asyncio.get_running_loop()
    pruned_at = -PRUNE_EVERY
    async with runtime.bus.subscribe() as events:
        while True:
            runtime.jobs_due.clear()
            try:
                await run_due(runtime)
                if loop.time() - pruned_at >= PRUNE_EVERY:
                    pruned_at = loop.time()
                    await prune_done(runtime)
            except Exception:  # the database may be away for a moment; try again soon
                log.exception("running event handlers failed")
            await _wait_for_work(runtime, events)


async def prune_done(runtime: Runtime) -> int:
    """Forget jobs done longer ago than KEEP_DONE (failed ones stay for a person)."""
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        result = await connection.execute(
            delete(EventJob).where(
                EventJob.status == "done", EventJob.done_at < tx.now() - KEEP_DONE
            )
        )
    return result.rowcount or 0


async def _wait_for_work(runtime: Runtime, events: asyncio.Queue[Event]) -> None:
    """Until this process commits jobs, another's event with handlers arrives, or a poll."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_SECONDS
    woken = asyncio.ensure_future(runtime.jobs_due.wait())
    try:
        while not woken.done():
            received = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait(
                {woken, received},
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if received not in done:
                received.cancel()
                return
            event = received.result()
            if event.type in _by_type or event.type == "bus.overflow":
                return
    finally:
        woken.cancel()


async def _run_next(runtime: Runtime) -> bool:
    """Claim one due job and run it; False when none is due."""
    if not _by_name:
        return False
    claimed = None
    try:
        async with runtime.transaction() as tx:
            connection = await tx.session.connection()
            due = (
                select(EventJob.id, EventJob.handler, EventJob.payload, EventJob.key)
                .add_columns(EventJob.event_type, EventJob.attempts)
                .where(
                    EventJob.status == "pending",
                    EventJob.next_attempt_at <= tx.now(),
                    # Jobs of handlers this process lacks wait for one that has them.
                    EventJob.handler.in_(list(_by_name)),
                )
                .order_by(EventJob.next_attempt_at, EventJob.id)
                .limit(1)
            )
            if runtime.settings.is_postgres:
                due = due.with_for_update(skip_locked=True)
            claimed = (await connection.execute(due)).first()
            if claimed is None:
                return False
            error = await _call(tx, claimed)
            if error is None:
                await connection.execute(
                    update(EventJob)
                    .where(EventJob.id == claimed.id)
                    .values(
                        status="done",
                        attempts=claimed.attempts + 1,
                        done_at=tx.now(),
                        next_attempt_at=None,
                        last_error=None,
                    )
                )
            else:
                await _record_failure(tx, claimed, error)
    except Exception as error:  # committing failed: the handler's work is undone
        if claimed is None:
            raise
        log.exception("committing handler job %s failed", claimed.key)
        async with runtime.transaction() as tx:
            await _record_failure(tx, claimed, f"{type(error).__name__}: {error}")
    return True


async def _call(tx: Transaction, job) -> str | None:
    """Run the job's handler inside a savepoint; the error, or None when it succeeded."""
    item = _by_name[job.handler]
    emitted = len(tx.events)
    try:
        async with tx.session.begin_nested():
            cls = PAYLOADS.get(job.event_type)
            event = cls(**job.payload) if cls else Event(job.event_type, job.payload)
            if item.wants_key:
                await item.run(tx, event, key=job.key)
            else:
                await item.run(tx, event)
    except Exception as error:
        # Nothing the failed run did is kept: not its rows, not its events.
        del tx.events[emitted:]
        log.warning("handler %s failed for %s", job.handler, job.key, exc_info=True)
        return f"{type(error).__name__}: {error}"[:2000]
    return None


async def _record_failure(tx: Transaction, job, error: str) -> None:
    attempts = job.attempts + 1
    limit = _by_name[job.handler].attempts if job.handler in _by_name else ATTEMPTS
    if attempts >= limit:
        log.error("handler job %s failed for good after %d attempts: %s", job.key, attempts, error)
        values = {"status": "failed", "next_attempt_at": None}
    else:
        wait = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)
        values = {"next_attempt_at": tx.now() + wait}
    connection = await tx.session.connection()
    await connection.execute(
        update(EventJob)
        # Only while pending: a commit that failed on the way back may have succeeded, or
        # another process may have run the job meanwhile; a done job stays done.
        .where(EventJob.id == job.id, EventJob.status == "pending")
        .values(attempts=attempts, last_error=error, **values)
    )


async def retry(tx: Transaction, job_id: int) -> bool:
    """Run a failed job again, because a person decided so; False if it is not failed."""
    connection = await tx.session.connection()
    result = await connection.execute(
        update(EventJob)
        .where(EventJob.id == job_id, EventJob.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=tx.now())
    )
    if not result.rowcount:
        return False
    tx.jobs_staged += 1
    return True


async def failed_jobs(session, *, limit: int = 100) -> list[EventJob]:
    """The jobs whose handler gave up, newest first (for a person to look at)."""
    query = (
        select(EventJob)
        .where(EventJob.status == "failed")
        .order_by(EventJob.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))
