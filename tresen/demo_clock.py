"""The demo's way to have things happen earlier: the runtime's clock set back for a while."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

from tresen.clock import Clock


class EarlierClock(Clock):
    """The real time, minus a fixed span."""

    def __init__(self, inner: Clock, span: timedelta) -> None:
        self.inner = inner
        self.span = span

    def now(self):
        return self.inner.now() - self.span


@asynccontextmanager
async def minutes_ago(runtime, minutes: int):
    """What the runtime records meanwhile happened `minutes` ago (tickets, messages, SLA
    clocks read the same clock), so the demo's board shows clocks at risk and breached."""
    real = runtime.clock
    runtime.clock = EarlierClock(real, timedelta(minutes=minutes))
    try:
        yield
    finally:
        runtime.clock = real
