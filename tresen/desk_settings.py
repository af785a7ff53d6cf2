"""The desk's own settings an administrator changes in the console (not the deployment's
settings file): one row per key, the value JSON. Each room names its keys and defaults."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, mapped_column

from tresen.database import Base, UTCDateTime

# key → default. A room adds its keys here so the admin page and readers agree on them.
DEFAULTS: dict[str, object] = {
    # Staff must set up two-factor sign-in before they can work (tresen/totp.py).
    "require_two_factor": False,
    # A staff reply to an unassigned ticket assigns it to the replying agent.
    "assign_on_reply": True,
    # The public help centre's name, logo address and accent colour (tresen/help_brand.py);
    # empty: the deployment's TRESEN_COMPANY_NAME / _LOGO_URL and the default colour.
    "help_name": "",
    "help_logo": "",
    "help_color": "",
}


# How long a process keeps the settings it read for `cached_setting` (another process's
# change is seen this much later; this process's own at once).
CACHE_SECONDS = 5.0
_CACHE = "desk_settings"


class DeskSetting(Base):
    __tablename__ = "desk_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column()


async def get_setting(session, key: str):
    """The value an administrator saved, else the key's default (KeyError: unknown key)."""
    default = DEFAULTS[key]
    row = await session.get(DeskSetting, key)
    return default if row is None else row.value


async def all_settings(session) -> dict[str, object]:
    saved = {row.key: row.value for row in (await session.scalars(select(DeskSetting))).all()}
    return {key: saved.get(key, default) for key, default in DEFAULTS.items()}


async def cached_setting(runtime, key: str):
    """`get_setting` for checks on every request (an API token's, a page's): the settings
    are read at most every CACHE_SECONDS per process."""
    DEFAULTS[key]
    cached = runtime.caches.get(_CACHE)
    if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
        async with runtime.read() as session:
            cached = (time.monotonic(), await all_settings(session))
        runtime.caches[_CACHE] = cached
    return cached[1][key]


async def put_setting(tx, key: str, value, user_id: int | None = None) -> None:
    """Save one setting in the caller's transaction (KeyError: unknown key)."""
    DEFAULTS[key]
    tx.runtime.caches.pop(_CACHE, None)
    row = await tx.session.get(DeskSetting, key)
    if row is None:
        tx.session.add(DeskSetting(key=key, value=value, updated_at=tx.now(), updated_by=user_id))
    else:
        row.value, row.updated_at, row.updated_by = value, tx.now(), user_id
