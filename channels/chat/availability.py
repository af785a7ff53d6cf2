"""Who answers a chat now: the queue's agents (open, staffed, the wait) and the bot.

Both are read again every few seconds, once for every socket and settings request asking
meanwhile (a busy site's visitors do not each cost a query)."""

from __future__ import annotations

import asyncio
import time

from tresen import rooms

AVAILABILITY_SECONDS = 5.0  # a queue's availability (and the bot's) is read again after this


async def _cached(runtime, cache_name: str, key, read):
    cache = runtime.caches.setdefault(cache_name, {})
    found = cache.get(key)
    if found is None or time.monotonic() - found[0] >= AVAILABILITY_SECONDS:
        found = cache[key] = (time.monotonic(), asyncio.ensure_future(read()))
    try:
        return await asyncio.shield(found[1])
    except Exception:
        cache.pop(key, None)  # asked again by the next socket
        raise


async def availability(runtime, queue_id: int | None) -> dict:
    """Whether the channel's queue takes chats now."""

    async def read() -> dict:
        async with runtime.read() as session:
            return await rooms.availability(
                session,
                queue_id,
                runtime.clock.now(),
                chat_default_capacity=runtime.settings.chat_default_capacity,
            )

    return await _cached(runtime, "chat.availability", queue_id, read)


async def bot(runtime, queue_id: int | None, language: str) -> dict | None:
    """The chat's bot when it is on now (a bot for the hours the queue is closed asks the
    channel's queue): `{"name", "greeting"}`, the greeting in the visitor's language."""

    async def read() -> dict | None:
        async with runtime.read() as session:
            return await rooms.bot_for(session, "chat", runtime.clock.now(), queue_id=queue_id)

    on = await _cached(runtime, "chat.bot", queue_id, read)
    if on is None:
        return None
    greeting = on.get("greeting") or {}
    spoken = on.get("languages") or [language]
    # A bot that does not speak the page's language greets in its own (and answers in it).
    said = language if language in spoken else spoken[0]
    return {"name": on.get("name") or "", "greeting": greeting.get(said) or ""}
