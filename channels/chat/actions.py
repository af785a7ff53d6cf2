"""Chat channels: the only place that creates and changes them; the identity secret is
sealed here (tresen.secrets) and opened only by `identity_secret()`.

The console, the API and the CLI call these; the public doors read channels through
`channels.chat.sessions.channel_info`.
"""

from __future__ import annotations

import re
import secrets as random_secrets
from urllib.parse import urlsplit

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat.models import PRECHAT_MODES, ChatChannel
from tresen import secrets
from tresen.i18n import LANGUAGES
from tresen.runtime import ActionError, Transaction
from tresen.settings import Settings

DEFAULT_GREETING = {"en": "Hello! How can we help?", "de": "Hallo! Wie können wir helfen?"}
DEFAULT_COLORS = {"primary": "#0b5cad", "text": "#ffffff"}
DEFAULT_PRECHAT = {"name": "optional", "email": "optional"}
PRECHAT_FIELDS = ("name", "email")
MAX_NAME = 100
MAX_GREETING = 500
MAX_AVATAR_URL = 500
MAX_ORIGINS = 50
MAX_ORIGIN = 300
EDITABLE = (
    "name",
    "allowed_origins",
    "queue_id",
    "colors",
    "greeting",
    "avatar_url",
    "prechat",
    "active",
)

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# A host name's labels (after IDNA), or an IPv4 address.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The public doors keep channels for a few seconds (sessions.channel_info); a change made
# in this process is seen at once (other processes see it when their entry expires).
_CACHE = "chat.channels"


def _name(raw) -> str:
    name = (raw if isinstance(raw, str) else "").strip()
    if not name:
        raise ActionError("name", "a chat channel needs a name")
    if len(name) > MAX_NAME:
        raise ActionError("name", f"the name is longer than {MAX_NAME} characters")
    return name


def normalize_origin(raw: str) -> str:
    """`scheme://host[:port]` as a browser's Origin header spells it (lower case, no default
    port); ValueError naming what is wrong."""
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise ValueError("an allowed origin is empty")
    if value == "*" or "*" in value:
        raise ValueError(f"{value!r}: wildcards are not allowed; name each site's origin")
    if len(value) > MAX_ORIGIN:
        raise ValueError(f"{value[:40]!r}...: longer than {MAX_ORIGIN} characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not scheme://host[:port]") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not value.lower().startswith(scheme + "://"):
        raise ValueError(f"{value!r} is not an http:// or https:// origin")
    # A lone trailing slash is how people copy a site's address; anything more is a path.
    if "#" in value:
        raise ValueError(f"{value!r} has a fragment; an origin is scheme://host[:port]")
    if parts.path not in ("", "/") or parts.query or "?" in value:
        raise ValueError(f"{value!r} has a path or query; an origin is scheme://host[:port]")
    if "@" in parts.netloc:
        raise ValueError(f"{value!r} has a user name; an origin is scheme://host[:port]")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"{value!r} has no host")
    if parts.netloc.startswith("["):
        if not _IPV6.fullmatch(f"[{host}]"):
            raise ValueError(f"{value!r}: {host!r} is not a host name")
        host = f"[{host}]"
    else:
        try:
            host = host.encode("idna").decode("ascii").lower()  # browsers send punycode
        except UnicodeError:
            raise ValueError(f"{value!r}: {host!r} is not a host name") from None
        if not _HOST.fullmatch(host):
            raise ValueError(f"{value!r}: {host!r} is not a host name")
    if port is not None and port == 0:
        raise ValueError(f"{value!r}: port 0 is not a port")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _origins(raw) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ActionError("allowed_origins", "allowed origins are a list of scheme://host[:port]")
    origins: list[str] = []
    for item in raw:
        try:
            origin = normalize_origin(item)
        except ValueError as error:
            raise ActionError("allowed_origins", str(error)) from None
        if origin not in origins:
            origins.append(origin)
    if not origins:
        raise ActionError("allowed_origins", "give at least one origin the chat may be embedded on")
    if len(origins) > MAX_ORIGINS:
        raise ActionError("allowed_origins", f"at most {MAX_ORIGINS} allowed origins")
    return origins


def _mapping(field: str, raw) -> dict:
    if not isinstance(raw, dict):
        raise ActionError(field, f"{field} is an object")
    return raw


def _colors(raw, current: dict) -> dict:
    colors = dict(current)
    for key, value in _mapping("colors", raw).items():
        if key not in DEFAULT_COLORS:
            raise ActionError("colors", f"unknown colour {key!r} (known: primary, text)")
        if not isinstance(value, str) or not _COLOR.fullmatch(value.strip()):
            raise ActionError("colors", f"colour {key} {value!r} is not #rrggbb")
        colors[key] = value.strip().lower()
    return colors


def _greeting(raw, current: dict) -> dict:
    greeting = dict(current)
    for language, value in _mapping("greeting", raw).items():
        if language not in LANGUAGES:
            raise ActionError(
                "greeting", f"no greeting in {language!r} (languages: {', '.join(LANGUAGES)})"
            )
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ActionError("greeting", f"the {language} greeting is text")
        value = value.strip()
        if len(value) > MAX_GREETING:
            raise ActionError(
                "greeting", f"the {language} greeting is longer than {MAX_GREETING} characters"
            )
        if value:
            greeting[language] = value
        else:  # none in this language: the widget shows the English one, else none
            greeting.pop(language, None)
    return greeting


def _prechat(raw, current: dict) -> dict:
    prechat = dict(current)
    for key, mode in _mapping("prechat", raw).items():
        if key not in PRECHAT_FIELDS:
            raise ActionError("prechat", f"unknown pre-chat question {key!r} (known: name, email)")
        if mode not in PRECHAT_MODES:
            raise ActionError(
                "prechat", f"pre-chat {key} {mode!r} is not one of {', '.join(PRECHAT_MODES)}"
            )
        prechat[key] = mode
    return prechat


def _avatar_url(raw) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ActionError("avatar_url", "the avatar URL is text")
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_AVATAR_URL:
        raise ActionError(
            "avatar_url", f"the avatar URL is longer than {MAX_AVATAR_URL} characters"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ActionError("avatar_url", f"{value!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ActionError("avatar_url", f"{value!r} is not an http:// or https:// URL")
    if any(character.isspace() for character in value):
        raise ActionError("avatar_url", f"{value!r} contains spaces")
    return value


async def _check_queue(tx: Transaction, queue_id) -> int | None:
    if queue_id is None:
        return None
    if isinstance(queue_id, bool) or not isinstance(queue_id, int):
        raise ActionError("queue_id", f"queue {queue_id!r} is not an id")
    # The queues table belongs to tickets, which channels do not import.
    exists = await tx.session.scalar(text("SELECT 1 FROM queues WHERE id = :id"), {"id": queue_id})
    if not exists:
        raise ActionError("queue_id", f"queue {queue_id} does not exist")
    return queue_id


async def _check_unique(tx: Transaction, name: str, channel_id: int | None = None) -> None:
    query = select(ChatChannel.id).where(ChatChannel.name == name)
    if channel_id is not None:
        query = query.where(ChatChannel.id != channel_id)
    if await tx.session.scalar(query):
        raise ActionError("name", f"a chat channel named {name!r} exists already", conflict=True)


def _forget_cached(tx: Transaction, row: ChatChannel) -> None:
    tx.runtime.caches.get(_CACHE, {}).pop(row.public_key, None)


async def create_chat_channel(
    tx: Transaction,
    name: str,
    allowed_origins: list[str],
    queue_id: int | None = None,
    colors: dict | None = None,
    greeting: dict | None = None,
    avatar_url: str | None = None,
    prechat: dict | None = None,
) -> tuple[ChatChannel, str]:
    """A website's chat; the row and its identity secret (shown once, stored sealed).

    Colours and pre-chat modes not given are the defaults; greetings not given are the
    defaults when none is given at all (a language left out then shows the English one)."""
    name = _name(name)
    origins = _origins(allowed_origins)
    values = {
        "colors": _colors(colors or {}, DEFAULT_COLORS),
        "greeting": _greeting(greeting, {}) if greeting is not None else dict(DEFAULT_GREETING),
        "avatar_url": _avatar_url(avatar_url),
        "prechat": _prechat(prechat or {}, DEFAULT_PRECHAT),
    }
    queue_id = await _check_queue(tx, queue_id)
    await _check_unique(tx, name)
    plain = random_secrets.token_urlsafe(32)
    row = ChatChannel(
        name=name,
        public_key=random_secrets.token_urlsafe(18),
        allowed_origins=origins,
        queue_id=queue_id,
        identity_secret=secrets.encrypt(tx.runtime.settings, plain),
        active=True,
        created_at=tx.now(),
        updated_at=tx.now(),
        **values,
    )
    tx.session.add(row)
    await tx.session.flush()
    return row, plain


async def update_chat_channel(tx: Transaction, row: ChatChannel, changes: dict) -> list[str]:
    """Change a channel (colours, greetings and pre-chat modes are merged into what it has);
    the fields that changed."""
    for field in changes:
        if field not in EDITABLE:
            raise ActionError(field, f"{field} cannot be changed")
    new: dict = {}
    if "name" in changes:
        new["name"] = _name(changes["name"])
        await _check_unique(tx, new["name"], row.id)
    if "allowed_origins" in changes:
        new["allowed_origins"] = _origins(changes["allowed_origins"])
    if "queue_id" in changes:
        new["queue_id"] = await _check_queue(tx, changes["queue_id"])
    if "colors" in changes:
        new["colors"] = _colors(changes["colors"], row.colors or {})
    if "greeting" in changes:
        new["greeting"] = _greeting(changes["greeting"], row.greeting or {})
    if "avatar_url" in changes:
        new["avatar_url"] = _avatar_url(changes["avatar_url"])
    if "prechat" in changes:
        new["prechat"] = _prechat(changes["prechat"], row.prechat or {})
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ActionError("active", "active is true or false")
        new["active"] = changes["active"]
    changed = []
    for field, value in new.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed.append(field)
    if changed:
        row.updated_at = tx.now()
        _forget_cached(tx, row)
    return changed


async def rotate_identity_secret(tx: Transaction, row: ChatChannel) -> str:
    """A new identity secret (the old one stops vouching for users at once); shown once."""
    plain = random_secrets.token_urlsafe(32)
    row.identity_secret = secrets.encrypt(tx.runtime.settings, plain)
    row.updated_at = tx.now()
    _forget_cached(tx, row)
    return plain


def identity_secret(settings: Settings, row: ChatChannel) -> str:
    """The channel's identity secret; raises secrets.SecretUnreadable."""
    return secrets.decrypt(settings, row.identity_secret, what="chat identity secret")


def chat_channel_json(row: ChatChannel) -> dict:
    """What may be shown of a channel: everything but the identity secret."""
    return {
        "id": row.id,
        "name": row.name,
        "public_key": row.public_key,
        "allowed_origins": list(row.allowed_origins or []),
        "queue_id": row.queue_id,
        "colors": dict(row.colors or {}),
        "greeting": dict(row.greeting or {}),
        "avatar_url": row.avatar_url,
        "prechat": dict(row.prechat or {}),
        "active": row.active,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def snippet(base_url: str, row: ChatChannel) -> str:
    """The one line a website embeds to show the chat."""
    base = base_url.rstrip("/")
    return f'<script src="{base}/chat/widget.js" data-channel="{row.public_key}" async></script>'


async def channel_by_key(session: AsyncSession, key: str) -> ChatChannel | None:
    """The channel with this public key (active or not), or None."""
    if not key or len(key) > 64:
        return None
    return await session.scalar(select(ChatChannel).where(ChatChannel.public_key == key))


async def channel_named(session: AsyncSession, name: str) -> ChatChannel | None:
    """The channel with this name (the CLI names channels), or None."""
    return await session.scalar(select(ChatChannel).where(ChatChannel.name == name.strip()))


async def queue_id_named(tx: Transaction, name: str) -> int:
    """The id of the queue with this name (the CLI names queues)."""
    queue_id = await tx.session.scalar(
        text("SELECT id FROM queues WHERE name = :name"), {"name": name}
    )
    if queue_id is None:
        raise ActionError("queue", f"queue {name!r} does not exist")
    return queue_id
