"""A conversational channel's bot settings: what they may be, and the one place they change
(the console's /admin/bots and the API's /api/v1/bot/settings both call `save_settings`)."""

from __future__ import annotations

import importlib
import math
from urllib.parse import urlsplit

from sqlalchemy import select

from bots.handler import Turn
from bots.models import (
    DEFAULT_LANGUAGES,
    DEFAULT_NAME,
    ENGINES,
    HOURS,
    BotConversation,
    BotSettings,
)
from bots.takeover import locked_conversation
from tickets.bot_messages import BOT
from tickets.models import Message, Ticket
from tresen import channel as channel_registry
from tresen.i18n import LANGUAGES, _, ngettext
from tresen.runtime import ActionError

FIELDS = (
    "enabled",
    "engine",
    "name",
    "greeting_en",
    "greeting_de",
    "languages",
    "threshold",
    "hours",
    "rasa_url",
    "rasa_timeout",
)
MAX_NAME = 100
MAX_GREETING = 1000
MAX_URL = 500
DEFAULT_TIMEOUT = 5.0
# A slower assistant keeps the customer waiting; a shorter wait fails on every cold start.
MIN_TIMEOUT, MAX_TIMEOUT = 0.5, 60.0


def bot_channels() -> list:
    """The registered channels a bot may answer on (Channel.bot: chat and the messengers)."""
    return [item for item in channel_registry.channels() if getattr(item, "bot", False)]


def is_bot_channel(name: str) -> bool:
    return any(item.name == name for item in bot_channels())


def defaults(channel: str) -> BotSettings:
    """What a channel's bot is before an administrator saved anything (switched off)."""
    return BotSettings(
        channel=channel,
        enabled=False,
        engine="faq",
        name=DEFAULT_NAME,
        greeting_en="",
        greeting_de="",
        languages=list(DEFAULT_LANGUAGES),
        threshold=None,
        hours="always",
        rasa_url=None,
        rasa_timeout=DEFAULT_TIMEOUT,
        updated_at=None,
    )


async def settings_of(session, channel: str) -> BotSettings:
    """The channel's stored settings, or the defaults (not added to the session)."""
    row = await session.get(BotSettings, channel)
    return row if row is not None else defaults(channel)


async def all_settings(session) -> dict[str, BotSettings]:
    """Every bot channel's settings by channel name, in the channels' menu order."""
    stored = {row.channel: row for row in (await session.scalars(select(BotSettings))).all()}
    return {item.name: stored.get(item.name) or defaults(item.name) for item in bot_channels()}


def calibrated_threshold() -> float | None:
    """The threshold the bot uses when none is set (bots/confidence.py, fitted from data);
    None while that module has none."""
    try:
        module = importlib.import_module("bots.confidence")
    except ImportError:
        return None
    for name in ("DEFAULT_THRESHOLD", "THRESHOLD"):
        value = getattr(module, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def settings_json(row: BotSettings) -> dict:
    return {
        "channel": row.channel,
        "enabled": bool(row.enabled),
        "engine": row.engine,
        "name": row.name,
        "greeting_en": row.greeting_en or "",
        "greeting_de": row.greeting_de or "",
        "languages": list(row.languages or []),
        "threshold": row.threshold,
        "calibrated_threshold": calibrated_threshold(),
        "hours": row.hours,
        "rasa_url": row.rasa_url,
        "rasa_timeout": row.rasa_timeout,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _text(field: str, value, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ActionError(field, _("%(field)s must be text", field=field))
    value = value.strip()
    if required and not value:
        raise ActionError(field, _("%(field)s cannot be empty", field=field))
    if len(value) > limit:
        raise ActionError(
            field, _("%(field)s may be at most %(limit)s characters", field=field, limit=limit)
        )
    return value


def _number(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ActionError(field, _("%(field)s must be a number", field=field))
    return float(value)


def _threshold(value) -> float | None:
    if value is None:
        return None
    value = _number("threshold", value)
    if not 0.0 <= value <= 1.0:
        raise ActionError(
            "threshold",
            _(
                "The confidence threshold must be between 0 and 1 (e.g. 0.7), "
                "or empty for the calibrated default"
            ),
        )
    return value


def _languages(value) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ActionError("languages", _("languages must be a list of language codes"))
    chosen = list(dict.fromkeys(value))  # duplicates once, order kept
    unknown = [item for item in chosen if item not in LANGUAGES]
    if unknown:
        raise ActionError(
            "languages",
            _(
                "The bot speaks %(known)s, not %(unknown)s",
                known=", ".join(LANGUAGES),
                unknown=", ".join(unknown)[:100],
            ),
        )
    if not chosen:
        raise ActionError("languages", _("Choose at least one language for the bot"))
    return chosen


def _url(value) -> str | None:
    if value is None:
        return None
    value = _text("rasa_url", value, MAX_URL).rstrip("/")
    # The REST channel's own path pasted with it (from Rasa's docs): Tresen adds that path.
    value = value.removesuffix("/webhooks/rest/webhook").rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises for a port that is not one (":99999", ":x")
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError(
            "rasa_url",
            _(
                "The assistant's URL must start with http:// or https:// and name a host "
                "(and a port from 1 to 65535, if any)"
            ),
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ActionError(
            "rasa_url",
            _("The assistant's URL is its address alone (no password, query or #part)"),
        )
    return value


def _timeout(value) -> float:
    value = _number("rasa_timeout", value)
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ActionError(
            "rasa_timeout",
            _(
                "The timeout must be between %(low)s and %(high)s seconds",
                low=MIN_TIMEOUT,
                high=int(MAX_TIMEOUT),
            ),
        )
    return value


def _choice(field: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ActionError(
            field,
            _(
                "%(field)s must be one of %(allowed)s",
                field=field,
                allowed=", ".join(allowed),
            ),
        )
    return value


def validate(values: dict) -> dict:
    """The values as stored; ActionError naming the field for the first one that is wrong."""
    for field in values:
        if field not in FIELDS:
            raise ActionError(field, _("%(field)s is not a bot setting", field=str(field)[:50]))
    clean: dict = {}
    if "enabled" in values:
        if not isinstance(values["enabled"], bool):
            raise ActionError("enabled", _("enabled is true or false"))
        clean["enabled"] = values["enabled"]
    if "engine" in values:
        clean["engine"] = _choice("engine", values["engine"], ENGINES)
    if "name" in values:
        clean["name"] = _text("name", values["name"], MAX_NAME, required=True)
    for field in ("greeting_en", "greeting_de"):
        if field in values:
            clean[field] = _text(field, values[field], MAX_GREETING)
    if "languages" in values:
        clean["languages"] = _languages(values["languages"])
    if "threshold" in values:
        clean["threshold"] = _threshold(values["threshold"])
    if "hours" in values:
        clean["hours"] = _choice("hours", values["hours"], HOURS)
    if "rasa_url" in values:
        clean["rasa_url"] = _url(values["rasa_url"])
    if "rasa_timeout" in values:
        clean["rasa_timeout"] = _timeout(values["rasa_timeout"])
    return clean


async def save_settings(tx, channel: str, values: dict) -> BotSettings:
    """Change a channel's bot (fields left out keep their value); ActionError naming the
    field when a value is wrong, and nothing is saved then."""
    if not is_bot_channel(channel):
        raise ActionError("channel", _("%(channel)s has no bot", channel=str(channel)[:30]))
    clean = validate(values)
    row = await tx.session.get(BotSettings, channel)
    merged = {field: getattr(row or defaults(channel), field) for field in FIELDS}
    merged.update(clean)
    # A Rasa bot without its assistant's address could answer nobody.
    if merged["engine"] == "rasa" and not merged["rasa_url"]:
        raise ActionError("rasa_url", _("A Rasa assistant needs its URL"))
    switched_off = bool(row is not None and row.enabled) and not merged["enabled"]
    if row is None:
        row = defaults(channel)
        tx.session.add(row)
    for field, value in merged.items():
        setattr(row, field, value)
    row.updated_at = tx.now()
    await tx.session.flush()
    # How many conversations this save handed to the team (the console's notice says so).
    row.handed_over = len(await hand_over_waiting(tx, channel)) if switched_off else 0
    return row


async def hand_over_waiting(tx, channel: str) -> list[int]:
    """A bot switched off answers nobody: a conversation whose customer waits for its reply
    (their message is the last one) goes to people now (handed off "switched_off": routed,
    and the customer told who answers, as by a turn of the bot). One where the bot had the
    last word (an answer awaiting Yes/No) is no work for anybody yet: it stays quiet, the
    customer's next message goes to people (the bot's turn finds it off), and silence closes
    it as abandoned (`bots.sweep`). The ids of the tickets handed over."""
    waiting = select(BotConversation.ticket_id).where(BotConversation.channel == channel)
    ticket_ids = list(
        await tx.session.scalars(
            select(Ticket.id).where(Ticket.state == BOT, Ticket.id.in_(waiting)).order_by(Ticket.id)
        )
    )
    handed = []
    for ticket_id in ticket_ids:
        # Locked like a turn of the bot: one in progress finishes first, and is read below.
        conversation = await locked_conversation(tx, ticket_id)
        if conversation is None or conversation.outcome is not None:
            continue
        if not await _customer_waits(tx, ticket_id):
            continue
        ticket = await tx.session.get(Ticket, ticket_id, populate_existing=True)
        if ticket is None or ticket.state != BOT:
            continue
        settings = await tx.session.get(BotSettings, channel)
        await Turn(tx, ticket, conversation, settings).hand_over("switched_off")
        if ticket.state != BOT:
            handed.append(ticket_id)
    return handed


def handed_over_notice(count: int) -> str:
    """What the administrator is told of the conversations a switch-off handed to the team
    (empty when none)."""
    if not count:
        return ""
    return ngettext(
        "%(num)d conversation waiting for a reply went to the team.",
        "%(num)d conversations waiting for a reply went to the team.",
        count,
    )


async def _customer_waits(tx, ticket_id: int) -> bool:
    """Whether the customer wrote the conversation's last public message (their question
    awaits an answer); not when the bot (or anyone for the desk) spoke last."""
    last = (
        await tx.session.execute(
            select(Message.direction, Message.auto_submitted)
            .where(Message.ticket_id == ticket_id, Message.internal.is_(False))
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).first()
    return last is not None and last.direction == "inbound" and last.auto_submitted is None
