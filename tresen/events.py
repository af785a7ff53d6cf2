"""The event bus: actions publish after commit, UI rooms subscribe.

Each event type has a typed payload: a frozen dataclass in the room that owns the event,
subclassing `Payload` with its type string (`class TicketUpdated(Payload,
type="ticket.updated")`). `payload_for` checks the old keyword form against it, so a
misspelled or missing field raises where the event is emitted.

In one process the bus is a fan-out of asyncio queues. On PostgreSQL the event is
sent with pg_notify inside the action's transaction (so it is delivered exactly
when, and only if, the transaction commits) and every process LISTENs, so
several server processes see each other's events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "tresen_events"
QUEUE_LIMIT = 1000
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more


class EventError(TypeError):
    """An event emitted with fields its payload class does not have (or lacks)."""


# Event type -> its payload class; filled as the rooms' events modules are imported.
PAYLOADS: dict[str, type[Payload]] = {}
_unregistered: set[str] = set()


class Payload:
    """The base of typed event payloads; subclasses are frozen dataclasses.

    `key()` may name the event for good (e.g. "message.created:12"), so a handler runs
    once for it however often it is emitted; by default every emit is an event of its own.
    """

    type: ClassVar[str]

    def __init_subclass__(cls, *, type: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if type is None:
            return
        known = PAYLOADS.get(type)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"event type {type} already has {known.__qualname__}")
        cls.type = type
        PAYLOADS[type] = cls

    def key(self) -> str | None:
        return None

    def as_data(self) -> dict[str, Any]:
        # A dataclass without slots keeps exactly its fields in __dict__ (fast, on every emit).
        return dict(self.__dict__)


def payload_for(event_type: str, data: dict[str, Any]) -> Payload | None:
    """The typed payload of an event given by name; raises EventError for wrong fields."""
    cls = PAYLOADS.get(event_type)
    if cls is None:
        if event_type not in _unregistered:
            _unregistered.add(event_type)
            log.warning(
                "event type %s has no payload class; its fields are not checked", event_type
            )
        return None
    try:
        return cls(**data)
    except TypeError as error:
        raise EventError(f"{event_type}: {error}") from None


@dataclass(frozen=True)
class Event:
    """Something that happened, e.g. Event("ticket.created", {"ticket_id": 7}).

    `data` is the payload as a dict (what subscribers and other processes get);
    `payload` the typed object where the type has a class.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: Payload | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, payload: Payload) -> Event:
        return cls(payload.type, payload.as_data(), payload)

    @classmethod
    def named(cls, event_type: str, data: dict[str, Any]) -> Event:
        """The keyword form, checked against the type's payload class."""
        payload = payload_for(event_type, data)
        return cls(event_type, payload.as_data() if payload else data, payload)

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "data": self.data}, separators=(",", ":"))


class EventBus:
    """In-process fan-out; the base for the PostgreSQL bus."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def stage(self, session: AsyncSession, events: list[Event]) -> None:
        """Called inside the transaction before commit; in-process there is nothing to do."""

    async def committed(self, events: list[Event]) -> None:
        """Called after commit with the transaction's events."""
        for item in events:
            self.deliver(item)

    def deliver(self, item: Event) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # A subscriber that stopped reading loses events rather than
                # stalling everyone; it learns by a marker to reload.
                log.warning("event subscriber is %d events behind; dropping", QUEUE_LIMIT)
                queue.get_nowait()
                queue.put_nowait(Event("bus.overflow"))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class PostgresEventBus(EventBus):
    """Events travel through PostgreSQL NOTIFY, so every process receives them."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="tresen-event-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def stage(self, session: AsyncSession, events: list[Event]) -> None:
        # One NOTIFY per transaction (a round trip each), its payload under PostgreSQL's limit.
        for payload in _batches(events):
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": payload},
            )

    async def committed(self, events: list[Event]) -> None:
        # Delivered by the listener, to this process like to every other.
        pass

    async def _listen_forever(self) -> None:
        import asyncpg

        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("event listener cannot connect (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            delay = 0.5
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await connection.add_listener(CHANNEL, self._on_notify)
                if self._ready.is_set():
                    # Events may have been missed while disconnected.
                    self.deliver(Event("bus.overflow"))
                self._ready.set()
                await lost.wait()
                log.warning("event listener connection lost; reconnecting")
            finally:
                if not connection.is_closed():
                    await connection.close()

    def _on_notify(self, _connection, _pid, _channel, payload: str) -> None:
        try:
            events = [_received(item["type"], item.get("data", {})) for item in json.loads(payload)]
        except (ValueError, KeyError, TypeError):
            log.error("ignoring malformed event payload %r", payload[:200])
            return
        for item in events:
            self.deliver(item)


def _received(event_type: str, data: dict[str, Any]) -> Event:
    """An event from another process: typed where this process knows the type."""
    try:
        typed = PAYLOADS[event_type](**data) if event_type in PAYLOADS else None
    except TypeError:  # another version of the code sent it; subscribers still get the dict
        typed = None
    return Event(event_type, data, typed)


def _batches(events: list[Event]) -> list[str]:
    """JSON arrays of events, each small enough for one NOTIFY."""
    batches, current, size = [], [], 2
    for item in events:
        encoded = item.to_json()
        if len(encoded.encode()) > NOTIFY_LIMIT:
            log.error("event %s is too large to publish; subscribers will reload", item.type)
            encoded = Event("bus.overflow").to_json()
        if current and size + len(encoded.encode()) + 1 > NOTIFY_LIMIT:
            batches.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded.encode()) + 1
    if current:
        batches.append("[" + ",".join(current) + "]")
    return batches


def create_bus(database_url: str) -> EventBus:
    if database_url.startswith("postgresql"):
        return PostgresEventBus(database_url)
    return EventBus()
