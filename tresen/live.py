"""Live sockets: who may open one, one bus subscription per process, fan-out by topic.

A page's socket subscribes to topics of one *feed* (e.g. the ticket lists' feed, topic
"tickets"; a ticket page's, topic "ticket:7"). The process's `Hub` reads the event bus once
and offers each event to the feeds; a feed gathers a tick's events per topic, loads what
they changed ONCE for all its sockets, and pushes the result to each socket. Each socket's
own task turns what it was pushed into HTML (in its reader's language) and sends it, so
a slow browser only ever delays itself.

Nothing fails silently: a socket that falls behind by more than `QUEUE_LIMIT` pushes, whose
render raises, or whose feed's load raises is closed with a code the htmx websocket
extension answers by reconnecting (the page then refreshes what it shows and says so).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tresen import auth
from tresen.events import Event

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100  # pushes a socket may have unsent before it is told to reload
REFUSED = 1008  # policy violation: other site, not signed in (the page does not retry)
FAILED = 1011  # internal error: the handler failed (the page reconnects)
BEHIND = 1013  # try again later: the socket fell behind (the page reconnects and refreshes)
HUB_KEY = "tresen.live.hub"

Authenticate = Callable[[WebSocket], Awaitable[Any]]


async def accept(websocket: WebSocket, authenticate: Authenticate) -> Any:
    """Who opened the socket (authenticate's answer), or None after refusing it.

    Browsers send Origin on websockets: another site's page is refused (cross-site websocket
    hijacking) before authenticate runs. authenticate(websocket) returns whoever the
    credentials name (a staff session's user; later a customer's or visitor's token) or None.
    """
    if not auth.same_origin(websocket):
        await websocket.close(code=REFUSED)
        return None
    who = await authenticate(websocket)
    if who is None:
        await websocket.close(code=REFUSED)
        return None
    await websocket.accept()
    return who


async def accept_staff(websocket: WebSocket, role: str = "agent"):
    """The signed-in staff user with at least this role (their language and timezone
    active), or None after refusing before the handshake completes."""

    async def staff_with_role(connection):
        user = await auth.session_user(connection)
        if user is None or not user.has_role(role):
            return None
        # The desk requires two-factor sign-in they have not set up: nothing live until then.
        if await auth.two_factor_missing(connection.app.state.runtime, user):
            return None
        return user

    return await accept(websocket, staff_with_role)


class Feed:
    """What the sockets of one kind share: the topics an event concerns, one load per tick.

    Subclasses set `tick` (seconds between loads: events meanwhile are coalesced) and
    implement `topics` and `load`. One instance per Hub (per runtime), so a feed may keep
    caches in itself.
    """

    tick: float = 0.0

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def topics(self, event: Event) -> Iterable[str]:
        """The topics (of this feed) the event concerns."""
        return ()

    async def load(self, batch: dict[str, list[Event]], sockets: dict[str, list[Socket]]) -> None:
        """Load what the batch's events changed, once, and `push` each socket its share.

        batch: the tick's events by topic (in bus order); sockets: who listens, by topic.
        """


@dataclass(eq=False)
class Socket:
    """One open socket as the hub sees it: who, which feed and topics, and its queue."""

    websocket: WebSocket
    who: Any
    feed: Feed
    topics: frozenset[str]
    state: Any = None  # what the feed and the page's handler keep for this socket
    pending: collections.deque = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closing: int | None = None  # the close code once the socket must go

    def push(self, item: Any) -> None:
        """Queue an item for this socket's task to render and send; never blocks."""
        if self.closing is not None:
            return
        if len(self.pending) >= QUEUE_LIMIT:
            log.warning("live socket of %s is %d pushes behind; closing it", self.who, QUEUE_LIMIT)
            self.close(BEHIND)
            return
        self.pending.append(item)
        self.wake.set()

    def close(self, code: int) -> None:
        """Make the socket's task close it with this code (behind: 1013, failed: 1011)."""
        if self.closing is None:
            self.closing = code
        self.wake.set()


class Hub:
    """One bus subscription per runtime, fanned out to every open socket by feed and topic."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._feeds: dict[type[Feed], Feed] = {}
        self._sockets: dict[Feed, dict[str, set[Socket]]] = {}
        self._pending: dict[Feed, dict[str, list[Event]]] = {}
        self._flushing: dict[Feed, asyncio.Task] = {}
        self._last_load: dict[Feed, float] = {}
        self._count = 0
        self._subscription = None
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, runtime) -> Hub:
        """The runtime's hub (made on first use)."""
        hub = runtime.caches.get(HUB_KEY)
        if hub is None:
            hub = runtime.caches[HUB_KEY] = cls(runtime)
        return hub

    def feed(self, feed_type: type[Feed]) -> Feed:
        """This hub's instance of the feed."""
        feed = self._feeds.get(feed_type)
        if feed is None:
            feed = self._feeds[feed_type] = feed_type(self.runtime)
            self._sockets[feed] = {}
        return feed

    def sockets(self, feed_type: type[Feed]) -> list[Socket]:
        """The open sockets of a feed."""
        by_topic = self._sockets.get(self._feeds.get(feed_type), {})
        return list({s for members in by_topic.values() for s in members})

    @property
    def listening(self) -> bool:
        return self._reader is not None

    async def serve(
        self,
        websocket: WebSocket,
        who: Any,
        feed_type: type[Feed],
        topics: Iterable[str],
        render: Callable[[Socket, Any], Awaitable[str | None] | str | None],
        *,
        state: Any = None,
        on_message: Callable[[dict], Awaitable[None]] | None = None,
        on_listening: Callable[[], Awaitable[None]] | None = None,
        on_text: Callable[[Socket, str | bytes], Awaitable[None]] | None = None,
    ) -> None:
        """Serve an accepted socket until the browser leaves or the socket must close.

        render(socket, item) turns each pushed item into the text to send (None: nothing);
        what the browser sends (JSON objects) goes to on_message — or, with on_text, every
        frame as it came (text or bytes) with the socket, for a protocol of its own;
        on_listening runs once the socket receives events (an announcement made then cannot
        miss its answers).
        """
        socket = Socket(websocket, who, self.feed(feed_type), frozenset(topics), state)
        await self._join(socket)
        if on_text is not None:
            reader = asyncio.create_task(_read_frames(websocket, socket, on_text))
        else:
            reader = asyncio.create_task(_read(websocket, on_message))
        # The browser leaving (or what it sent failing) wakes the socket like a push does.
        reader.add_done_callback(lambda _task: socket.wake.set())
        try:
            if on_listening is not None:
                await on_listening()
            while True:
                await socket.wake.wait()
                socket.wake.clear()
                if reader.done():
                    if reader.result() is FAILED:
                        await close_quietly(websocket, FAILED)
                    return  # the browser left, or what it sent could not be handled
                while socket.pending and socket.closing is None:
                    html = render(socket, socket.pending.popleft())
                    if asyncio.iscoroutine(html):
                        html = await html
                    if html:
                        await websocket.send_text(html)
                if socket.closing is not None:
                    await close_quietly(websocket, socket.closing)
                    return
        except (WebSocketDisconnect, ConnectionError):
            return
        except Exception:
            if websocket.application_state == WebSocketState.DISCONNECTED:
                return  # closed while sending: the browser left
            # Never a silently stale page: log, close, and the page reconnects.
            log.exception("live socket %s failed; closing it", websocket.url.path)
            await close_quietly(websocket, FAILED)
        finally:
            reader.cancel()
            await self._leave(socket)

    async def _join(self, socket: Socket) -> None:
        async with self._lock:
            if self._reader is None:
                self._subscription = self.runtime.bus.subscribe()
                events = await self._subscription.__aenter__()
                self._reader = asyncio.create_task(self._read_bus(events), name="tresen-live-hub")
            by_topic = self._sockets[socket.feed]
            for topic in socket.topics:
                by_topic.setdefault(topic, set()).add(socket)
            self._count += 1

    async def add_topic(self, socket: Socket, topic: str) -> None:
        """The socket listens to one more topic of its feed (e.g. a conversation just begun)."""
        async with self._lock:
            if topic in socket.topics:
                return
            socket.topics = socket.topics | {topic}
            self._sockets[socket.feed].setdefault(topic, set()).add(socket)

    async def _leave(self, socket: Socket) -> None:
        async with self._lock:
            by_topic = self._sockets[socket.feed]
            for topic in socket.topics:
                members = by_topic.get(topic)
                if members is not None:
                    members.discard(socket)
                    if not members:
                        del by_topic[topic]
            self._count -= 1
            if self._count == 0 and self._reader is not None:
                # Nobody listens: let go of the bus until the next socket opens.
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
                await self._subscription.__aexit__(None, None, None)
                self._reader = self._subscription = None

    def _all_sockets(self) -> set[Socket]:
        return {
            socket
            for by_topic in self._sockets.values()
            for members in by_topic.values()
            for socket in members
        }

    async def _read_bus(self, events: asyncio.Queue) -> None:
        while True:
            self.dispatch(await events.get())

    def dispatch(self, event: Event) -> None:
        """Hand an event to the feeds whose open sockets it concerns."""
        if event.type == "bus.overflow":
            # Events were lost (a slow hub, or the PostgreSQL listener reconnected): every
            # page reconnects and refreshes what it shows.
            for socket in self._all_sockets():
                socket.close(BEHIND)
            return
        if event.type in ("user.sessions_ended", "user.sockets_refused"):
            # Signed out (or deactivated, or a new password): the pages open elsewhere stop
            # receiving now, not only when they next reconnect.
            for socket in self._all_sockets():
                if getattr(socket.who, "id", None) == event.data.get("user_id"):
                    socket.close(REFUSED)
        for feed, by_topic in self._sockets.items():
            if not by_topic:
                continue
            for topic in feed.topics(event):
                if topic in by_topic:
                    self._pending.setdefault(feed, {}).setdefault(topic, []).append(event)
            if self._pending.get(feed) and feed not in self._flushing:
                self._flushing[feed] = asyncio.create_task(self._flush(feed))

    async def _flush(self, feed: Feed) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending.get(feed):
                wait = self._last_load.get(feed, -feed.tick) + feed.tick - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                batch = self._pending.pop(feed)
                self._last_load[feed] = loop.time()
                by_topic = self._sockets[feed]
                sockets = {t: list(by_topic[t]) for t in batch if by_topic.get(t)}
                if not sockets:
                    continue
                try:
                    await feed.load(batch, sockets)
                except Exception:
                    log.exception("live feed %s failed; its sockets reconnect", type(feed).__name__)
                    for members in sockets.values():
                        for socket in members:
                            socket.close(FAILED)
        finally:
            self._flushing.pop(feed, None)


async def _read(websocket: WebSocket, on_message) -> int | None:
    # Read until the browser disconnects; htmx sends forms as JSON objects.
    try:
        while True:
            raw = await websocket.receive_text()
            if on_message is None:
                continue
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, or nested past the stack
                continue
            if isinstance(body, dict):
                await on_message(body)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return None
    except Exception:
        log.exception("live socket %s: a message from the browser failed", websocket.url.path)
        return FAILED


async def _read_frames(websocket: WebSocket, socket: Socket, on_text) -> int | None:
    # Every frame as it came, for a socket speaking a protocol of its own (the chat).
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("text")
            await on_text(socket, data if data is not None else message.get("bytes") or b"")
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        return None
    except Exception:
        log.exception("live socket %s: a frame from the client failed", websocket.url.path)
        return FAILED


async def close_quietly(websocket: WebSocket, code: int) -> None:
    """Close with this code unless the socket is closed already (or closing fails)."""
    if websocket.application_state == WebSocketState.CONNECTED:
        try:
            await websocket.close(code=code)
        except (RuntimeError, ConnectionError):
            pass
