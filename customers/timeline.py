"""A customer's timeline across channels, assembled from what each room contributes.

Rooms that hold things about a customer (tickets and messages now; calls, chats,
surveys later) register a source; customers/ never imports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # e.g. "ticket", "message"
    at: datetime
    id: int
    channel: str | None
    summary: str
    ticket_id: int | None = None
    ticket_number: int | None = None
    direction: str | None = None

    def to_json(self) -> dict:
        body = asdict(self)
        body["at"] = self.at.isoformat()
        return body


TimelineSource = Callable[[AsyncSession, int, int], Awaitable[list[TimelineEntry]]]
_sources: list[TimelineSource] = []


def register_source(source: TimelineSource) -> TimelineSource:
    """Add a contributor: (session, customer_id, limit) -> its newest entries."""
    if source not in _sources:
        _sources.append(source)
    return source


async def timeline(session: AsyncSession, customer_id: int, limit: int = 50) -> list[TimelineEntry]:
    """Newest first, across every registered source."""
    entries: list[TimelineEntry] = []
    for source in _sources:
        entries.extend(await source(session, customer_id, limit))
    entries.sort(key=lambda entry: (entry.at, entry.kind, entry.id), reverse=True)
    return entries[:limit]
