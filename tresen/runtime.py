"""What every action and view needs: settings, database sessions, the bus, the clock."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tresen import database, handlers, rooms, sqlite_driver
from tresen.clock import Clock
from tresen.database import create_engine, create_sessionmakers
from tresen.events import Event, EventBus, Payload, create_bus
from tresen.settings import Settings

log = logging.getLogger(__name__)

# What `Runtime.writable()` asks. Below LOW_DISK_BYTES free beside an SQLite file, writes are
# about to fail (a checkpoint alone may need a few MB); the answer is kept READY_CACHE seconds
# so a monitor polling often costs nothing, and the probe waits READY_WAIT for the lock at most.
LOW_DISK_BYTES = 16 * 1024 * 1024
READY_CACHE = 2.0
READY_WAIT = 0.5


async def woken(events: asyncio.Queue[Event], types: tuple[str, ...], seconds: float) -> bool:
    """Wait for an event of `types` (or "bus.overflow": some may be lost) on a bus subscription,
    `seconds` at most however many other events arrive; True if one came, False on time out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(events.get(), left)
        except TimeoutError:
            return False
        if event.type in types or event.type == "bus.overflow":
            return True
    return False


def drained(events: asyncio.Queue[Event], types: tuple[str, ...]) -> bool:
    """Empty a bus subscription that was not read for a while (a worker busy with a pass);
    True if an event of `types` (or "bus.overflow") was among what it held. Keeps a busy
    worker's queue from filling up and dropping events with a warning each."""
    found = False
    while not events.empty():
        event = events.get_nowait()
        found = found or event.type in types or event.type == "bus.overflow"
    return found


class ActionError(ValueError):
    """A value an action refuses; names the field, and whether it clashes with a record or
    is not the asking user's to change."""

    def __init__(
        self, field: str, message: str, *, conflict: bool = False, forbidden: bool = False
    ) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict  # clashes with an existing record (HTTP 409)
        self.forbidden = forbidden  # the user's role may not do this (HTTP 403)


@dataclass
class Transaction:
    """One unit of work: a session and the events to publish once it commits."""

    session: AsyncSession
    runtime: Runtime
    events: list[Event] = field(default_factory=list)
    started_at: datetime | None = None
    # What one step learned that a later step of the same transaction asks again.
    memo: dict = field(default_factory=dict)
    # Durable handler jobs this transaction wrote (the worker is woken after commit).
    jobs_staged: int = 0

    def now(self) -> datetime:
        """One instant per transaction: everything it records happened together."""
        if self.started_at is None:
            self.started_at = self.runtime.clock.now()
        return self.started_at

    def emit(self, event: str | Payload, **data) -> None:
        """Publish after commit: `emit(TicketUpdated(...))`, or by name with its fields
        (checked against the type's payload class: a wrong field raises EventError)."""
        if isinstance(event, Payload):
            self.events.append(Event.of(event))
        else:
            self.events.append(Event.named(event, data))


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    reader: async_sessionmaker
    writer: async_sessionmaker
    bus: EventBus
    clock: Clock
    # SQLite allows one writer; taking turns here keeps coroutines of this process
    # from waiting inside SQLite's busy handler (see tresen/sqlite_driver.py).
    write_lock: asyncio.Lock | None = None
    # What a room keeps in memory for this runtime (e.g. the search index's vocabulary).
    caches: dict = field(default_factory=dict)
    # Set after a commit that wrote durable handler jobs: wakes this process's worker.
    jobs_due: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        if settings.database_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.database_url, echo=settings.sql_echo)
        reader, writer = create_sessionmakers(engine)
        bus = create_bus(settings.database_url)
        write_lock = asyncio.Lock() if not settings.is_postgres else None
        # Every process writes the jobs of the handlers it knows, worker or not.
        rooms.load_handlers()
        return cls(settings, engine, reader, writer, bus, clock or Clock(), write_lock)

    async def start(self) -> None:
        await self.bus.start()

    async def close(self) -> None:
        await self.bus.stop()
        await self.engine.dispose()

    async def publish(self, event: str | Payload, **data) -> None:
        """An event that changes nothing stored (e.g. who is viewing a ticket), to every process.

        No durable handler runs for it: nothing is written."""
        event = Event.of(event) if isinstance(event, Payload) else Event.named(event, data)
        if not self.settings.is_postgres:
            self.bus.deliver(event)
            return
        async with self.writer() as session:
            await self.bus.stage(session, [event])
            await session.commit()

    async def writable(self) -> str | None:
        """Why nothing could be written now (a short public reason), None when writes work.

        SQLite: the free space beside the file, then the write lock (BEGIN IMMEDIATE, rolled
        back: nothing is written). PostgreSQL: a standby or a read-only server. Errors are
        logged here; the answer holds no detail of them."""
        now = time.monotonic()
        checked_at, reason = self.caches.get("writable", (-READY_CACHE, None))
        if now - checked_at < READY_CACHE:
            return reason
        try:
            reason = await (
                self._postgres_writable() if self.settings.is_postgres else self._sqlite_writable()
            )
        except Exception as error:  # noqa: BLE001 - turned into a reason, logged
            reason = database.unavailable(error) or "error"
            log.warning("the database cannot be written (%s): %s", reason, error)
            reason = f"database {reason}"
        self.caches["writable"] = (time.monotonic(), reason)
        return reason

    async def _sqlite_writable(self) -> str | None:
        path = self.engine.url.database
        if path and path != ":memory:":
            stats = os.statvfs(Path(path).resolve().parent)
            if stats.f_bavail * stats.f_frsize < LOW_DISK_BYTES:
                log.warning("less than %d bytes free beside %s", LOW_DISK_BYTES, path)
                return "low disk space"
        with sqlite_driver.waiting_until(time.monotonic() + READY_WAIT):
            async with self._writing(), self.writer() as session:
                await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: takes the lock
                await session.rollback()
        return None

    async def _postgres_writable(self) -> str | None:
        async with self.read() as session:
            standby, read_only = (
                await session.execute(
                    text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
                )
            ).one()
        return "database read-only" if standby or read_only == "on" else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        async with self.reader() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Commit once at the end, then publish the events emitted inside."""
        async with self._writing():
            async with self.writer() as session:
                tx = Transaction(session, self)
                async with session.begin():
                    yield tx
                    if tx.events:
                        await rooms.before_commit(tx)
                        tx.jobs_staged += await handlers.stage_jobs(tx)
                        await self.bus.stage(session, tx.events)
        if tx.jobs_staged:
            self.jobs_due.set()
        if tx.events:
            await self.bus.committed(tx.events)

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """This process's turn to write; on SQLite bounded in time, waiting asleep.

        One deadline covers the wait for our own writers and for another process's lock
        (see tresen/sqlite_driver.py): when another process holds the database, every queued
        transaction gives up at about the same time with DatabaseBusy, not one after the
        other, each waiting its full time."""
        if self.write_lock is None:
            yield
            return
        with sqlite_driver.waiting_until(time.monotonic() + sqlite_driver.BUSY_WAIT_SECONDS):
            try:
                async with asyncio.timeout(sqlite_driver.deadline() - time.monotonic()):
                    await self.write_lock.acquire()
            except TimeoutError:
                raise sqlite_driver.DatabaseBusy(
                    "database is locked: writers waited too long for their turn"
                ) from None
            try:
                yield
            finally:
                self.write_lock.release()
