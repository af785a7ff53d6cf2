"""The one clock: timezone-aware UTC, replaceable so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Real time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to (for tests of deadlines)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta
