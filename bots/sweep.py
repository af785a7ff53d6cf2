"""Conversations the customer left with the bot: nothing said for the conversation window
(`TRESEN_CONVERSATION_HOURS`, the same window that keeps a chat one conversation) ends them
as "abandoned" and closes their tickets (`bots.outcomes.abandon`).

Every server process runs the worker; a look that finds nothing is a read (no write lock on
SQLite). On PostgreSQL the due tickets are claimed with `FOR UPDATE SKIP LOCKED`, so two
processes close different ones, and `abandon` rechecks the state under the lock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from bots.outcomes import BOT, abandon
from tickets.models import Ticket
from tresen.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 100
IDLE_SECONDS = 60.0  # between looks; an hour-long window needs no finer grain


def idle_since(runtime: Runtime) -> datetime:
    """Conversations with nothing said since then are over."""
    return runtime.clock.now() - timedelta(hours=runtime.settings.conversation_hours)


def _idle(before: datetime, limit: int):
    # A message (the customer's or the bot's) moves the ticket's updated_at: the index
    # on (state, updated_at) finds the idle ones without reading their messages.
    return (
        select(Ticket.id)
        .where(Ticket.state == BOT, Ticket.updated_at < before)
        .order_by(Ticket.updated_at, Ticket.id)
        .limit(limit)
    )


async def anything_due(runtime: Runtime) -> bool:
    async with runtime.read() as session:
        return await session.scalar(_idle(idle_since(runtime), 1)) is not None


async def sweep(runtime: Runtime, *, limit: int = BATCH) -> list[int]:
    """Close up to `limit` idle conversations of the bot as abandoned; their tickets' ids."""
    closed: list[int] = []
    async with runtime.transaction() as tx:
        query = _idle(idle_since(runtime), limit)
        if runtime.settings.is_postgres:
            query = query.with_for_update(skip_locked=True)
        for ticket_id in list(await tx.session.scalars(query)):
            events_before = len(tx.events)
            try:
                async with tx.session.begin_nested():
                    if await abandon(tx, ticket_id):
                        closed.append(ticket_id)
            except Exception:
                # One ticket that cannot be closed must not hold up the others.
                log.exception(
                    "closing the abandoned bot conversation of ticket %s failed", ticket_id
                )
                del tx.events[events_before:]
    return closed


async def run(runtime: Runtime) -> None:
    """Close abandoned conversations as long as the server runs."""
    while True:
        try:
            if await anything_due(runtime):
                while len(await sweep(runtime)) >= BATCH:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:  # the database may be away for a moment; look again later
            log.exception("closing abandoned bot conversations failed")
        await asyncio.sleep(IDLE_SECONDS)
