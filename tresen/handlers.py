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

A handler that must wait on something slow before it can write (the bot asking a Rasa
assistant, up to seconds) gives `prepare=`: `prepare(runtime, event)` runs outside any
transaction, after the job was claimed for `PREPARE_LEASE` (no other process takes it
meanwhile; a crash lets it fall due again), and its result reaches the handler as
`prepared=`. The writing transaction, and on SQLite the write lock, lasts only for the
writing.
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
PREPARE_LEASE = timedelta(minutes=2)  # a claimed job's `prepare` has this long
MAX_PREPARING = 8  # jobs preparing at once in one process


@dataclass(frozen=True)
class Handler:
    name: str
    event_type: str
    run: Callable[..., Awaitable[None]]
    attempts: int
    wants_key: bool
    # Which events of the type it wants, asked before a job is written (None: all).
    when: Callable[[Payload], bool] | None = None
    # Slow work done outside the transaction first (see the module's docstring).
    prepare: Callable[..., Awaitable[object]] | None = None
    # Jobs of one group (e.g. one conversation's messages) prepare one after the other.
    group: Callable[[Payload], object] | None = None


# By name, and by event type (the check on every commit is one dict lookup per event).
_by_name: dict[str, Handler] = {}
_by_type: dict[str, list[Handler]] = {}


def handler(
    event: str | type[Payload],
    *,
    name: str,
    attempts: int = ATTEMPTS,
    when: Callable[[Payload], bool] | None = None,
    prepare: Callable[..., Awaitable[object]] | None = None,
    group: Callable[[Payload], object] | None = None,
):
    """Register the decorated coroutine as the durable handler `name` of an event type.

    It is called as `run(tx, payload)`, plus `key=` if it takes a `key` parameter;
    `when(payload)`, if given, says which events get a job at all (no row for the rest);
    with `prepare`, `prepare(runtime, payload)` runs first, outside the transaction, and
    `run` gets its result as `prepared=`; jobs with the same `group(payload)` prepare one
    after the other, in order.
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
            prepare=prepare,
            group=group,
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


async def run_due(
    runtime: Runtime, *, limit: int = DRAIN_LIMIT, preparing: dict | None = None
) -> int:
    """Run the jobs due now, one transaction each, until none is left; how many ran.

    Jobs with a `prepare` step run beside the others (a slow one holds up nobody but the
    jobs of its own group); this waits for them unless the worker passes `preparing`,
    its own set of them in flight."""
    own = preparing is None
    preparing = {} if own else preparing
    ran = 0
    try:
        while ran < limit and await _run_next(runtime, preparing):
            ran += 1
    finally:
        if own and preparing:
            await asyncio.gather(*list(preparing.values()), return_exceptions=True)
    return ran


async def run(runtime: Runtime) -> None:
    """The worker: runs jobs as soon as they are committed, and retries as they fall due."""
    loop = asyncio.get_running_loop()
    pruned_at = -PRUNE_EVERY
    preparing: dict = {}
    try:
        async with runtime.bus.subscribe() as events:
            while True:
                runtime.jobs_due.clear()
                try:
                    await run_due(runtime, preparing=preparing)
                    if loop.time() - pruned_at >= PRUNE_EVERY:
                        pruned_at = loop.time()
                        await prune_done(runtime)
                except Exception:  # the database may be away for a moment; try again soon
                    log.exception("running event handlers failed")
                await _wait_for_work(runtime, events)
    finally:
        for task in preparing.values():  # their leases run out: tried again later
            task.cancel()


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


async def _run_next(runtime: Runtime, preparing: dict) -> bool:
    """Claim one due job and run it (or start it, when it prepares); False when none is due."""
    if not _by_name:
        return False
    claimed = None
    try:
        async with runtime.transaction() as tx:
            connection = await tx.session.connection()
            claimed = (await connection.execute(_due(runtime, tx))).first()
            if claimed is None:
                return False
            if _by_name[claimed.handler].prepare is None:
                await _finish(tx, claimed)
                return True
            # Leased while it prepares outside the transaction: nobody else takes it.
            await connection.execute(
                update(EventJob)
                .where(EventJob.id == claimed.id)
                .values(next_attempt_at=tx.now() + PREPARE_LEASE)
            )
    except Exception as error:  # committing failed: the handler's work is undone
        if claimed is None:
            raise
        log.exception("committing handler job %s failed", claimed.key)
        async with runtime.transaction() as tx:
            await _record_failure(tx, claimed, f"{type(error).__name__}: {error}")
        return True
    item = _by_name[claimed.handler]
    event = _event_of(claimed)
    group = (claimed.handler, item.group(event) if item.group else claimed.id)
    earlier = preparing.get(group)
    if earlier is not None:  # one at a time within a group (one conversation's messages)
        await asyncio.wait([earlier])
    while len(preparing) >= MAX_PREPARING:
        await asyncio.wait(list(preparing.values()), return_when=asyncio.FIRST_COMPLETED)
    task = asyncio.ensure_future(_prepare_and_finish(runtime, claimed, item, event))
    preparing[group] = task
    task.add_done_callback(
        lambda done: preparing.pop(group, None) if preparing.get(group) is done else None
    )
    return True


async def _prepare_and_finish(runtime: Runtime, claimed, item: Handler, event) -> None:
    try:
        try:
            prepared = await item.prepare(runtime, event)
        except Exception as error:
            log.warning("preparing handler job %s failed", claimed.key, exc_info=True)
            async with runtime.transaction() as tx:
                await _record_failure(tx, claimed, f"{type(error).__name__}: {error}"[:2000])
            return
        try:
            async with runtime.transaction() as tx:
                connection = await tx.session.connection()
                still = select(EventJob.id).where(
                    EventJob.id == claimed.id, EventJob.status == "pending"
                )
                if runtime.settings.is_postgres:
                    still = still.with_for_update(skip_locked=True)
                if (await connection.execute(still)).first() is not None:
                    await _finish(tx, claimed, prepared=prepared)
        except Exception as error:  # committing failed: the handler's work is undone
            log.exception("committing handler job %s failed", claimed.key)
            async with runtime.transaction() as tx:
                await _record_failure(tx, claimed, f"{type(error).__name__}: {error}")
    except Exception:  # the database is away: the lease runs out and the job is tried again
        log.exception("handler job %s could not be recorded", claimed.key)


def _due(runtime: Runtime, tx: Transaction):
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
    return due


async def _finish(tx: Transaction, job, **prepared) -> None:
    """Run the job's handler and mark the job done, or record its failure."""
    error = await _call(tx, job, **prepared)
    if error is None:
        connection = await tx.session.connection()
        await connection.execute(
            update(EventJob)
            .where(EventJob.id == job.id)
            .values(
                status="done",
                attempts=job.attempts + 1,
                done_at=tx.now(),
                next_attempt_at=None,
                last_error=None,
            )
        )
    else:
        await _record_failure(tx, job, error)


def _event_of(job):
    cls = PAYLOADS.get(job.event_type)
    return cls(**job.payload) if cls else Event(job.event_type, job.payload)


async def _call(tx: Transaction, job, **prepared) -> str | None:
    """Run the job's handler inside a savepoint; the error, or None when it succeeded."""
    item = _by_name[job.handler]
    emitted = len(tx.events)
    try:
        async with tx.session.begin_nested():
            event = _event_of(job)
            if item.wants_key:
                await item.run(tx, event, key=job.key, **prepared)
            else:
                await item.run(tx, event, **prepared)
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
