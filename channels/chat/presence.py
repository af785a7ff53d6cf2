"""Which chat visitors are here: the conversations with an open socket in this process,
their `last_seen_at` kept fresh, and the agents told when a visitor comes or goes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from channels.chat import sessions
from channels.chat.events import ChatVisitor

if TYPE_CHECKING:
    from channels.chat.socket import Visit

log = logging.getLogger(__name__)

SEEN_EVERY = 20.0  # an open socket refreshes its session's last_seen_at this often


@dataclass
class Presence:
    """Which conversations have an open socket in this process; their last_seen_at kept
    fresh (one UPDATE every SEEN_EVERY seconds for all of them, which also says "here"
    again where another process saw one of the visitor's tabs close)."""

    runtime: object
    open: dict[int, int] = field(default_factory=dict)  # session id -> sockets
    task: asyncio.Task | None = None

    @classmethod
    def of(cls, runtime) -> Presence:
        found = runtime.caches.get("chat.presence")
        if found is None:
            found = runtime.caches["chat.presence"] = cls(runtime)
        return found

    async def came(self, visit: Visit) -> None:
        """The visitor has a socket here (recorded before counting: a failed write leaves
        nothing to undo)."""
        if not self.open.get(visit.session_id):
            await sessions.seen(
                self.runtime, [visit.session_id], self.runtime.clock.now(), left=False
            )
            await announce(self.runtime, visit, online=True)
        self.open[visit.session_id] = self.open.get(visit.session_id, 0) + 1
        visit.present = visit.session_id
        if self.task is None:
            self.task = asyncio.create_task(self._refresh(), name="tresen-chat-presence")

    async def left(self, visit: Visit) -> None:
        session_id, visit.present = visit.present, None
        if session_id is None:
            return
        count = self.open.get(session_id, 0) - 1
        if count > 0:
            self.open[session_id] = count
            return
        self.open.pop(session_id, None)
        if not self.open and self.task is not None:
            self.task.cancel()  # nobody is here: no refreshing until the next visitor
            self.task = None
        now = self.runtime.clock.now()
        values = {"last_seen_at": now, "left_at": now}
        if visit.read_id:
            values["visitor_read_id"] = visit.read_id
        await sessions.update_session(self.runtime, session_id, **values)
        await announce(self.runtime, visit, online=False)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(SEEN_EVERY)
            ids = list(self.open)
            try:
                for start in range(0, len(ids), 1000):  # PostgreSQL takes 32,767 parameters
                    chunk = ids[start : start + 1000]
                    await sessions.seen(self.runtime, chunk, self.runtime.clock.now(), left=False)
            except Exception:  # noqa: BLE001 - the database may be busy; next time
                log.warning("could not refresh chat visitors' presence", exc_info=True)


async def announce(runtime, visit: Visit, *, online: bool) -> None:
    if visit.ticket_id is None:
        return
    await runtime.publish(
        ChatVisitor(
            ticket_id=visit.ticket_id,
            online=online,
            name=visit.name,
            email=visit.email,
            email_verified=visit.email_verified,
        )
    )
