"""Whether a channel's bot is on now: switched on, and within its hours (the hook
`tresen.rooms.bot_for`, which channels ask without importing bots)."""

from __future__ import annotations

from datetime import datetime

from bots.models import BotSettings
from tresen import rooms


async def settings_of(session, channel: str) -> BotSettings | None:
    """The channel's bot settings row, if an administrator ever saved one."""
    return await session.get(BotSettings, channel)


async def is_on(session, settings: BotSettings | None, now: datetime, queue_id=None) -> bool:
    """Switched on, and (when it answers only outside business hours) the desk is closed."""
    if settings is None or not settings.enabled:
        return False
    if settings.hours == "outside_business_hours":
        answer = await rooms.availability(session, queue_id, now)
        return answer["reason"] == "closed"
    return True


def describe(settings: BotSettings) -> dict:
    """What a channel shows of its bot: its name, greeting in both languages, engine."""
    return {
        "name": settings.name,
        "greeting": {"en": settings.greeting_en or "", "de": settings.greeting_de or ""},
        "engine": settings.engine,
        "languages": list(settings.languages or ()),
    }


async def bot_for(session, channel: str, now: datetime, queue_id: int | None = None) -> dict | None:
    """The channel's bot when it is on now; None when it is off (or off at this hour)."""
    settings = await settings_of(session, channel)
    if not await is_on(session, settings, now, queue_id):
        return None
    return describe(settings)
