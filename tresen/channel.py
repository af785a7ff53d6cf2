"""The channel contract: what a channel (email, SMS, chat, ...) tells the rest of Tresen.

A channel is one `Channel` value, listed in `CHANNELS` (or registered by `register`, as the
test suite does). Tickets, customers, routing and the console ask this registry for everything
channel-specific: labels, identity kinds, how messages thread, how a new ticket is confirmed,
whether and how a reply can be sent. They keep no lists of channels of their own.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from tresen.email_address import EmailAddressError, normalize_email
from tresen.phone_number import PhoneNumberError, normalize_phone

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tresen.outbound import OutboundMessage
    from tresen.runtime import Runtime

# Every channel Tresen ships, as "module:attribute". Order is the order of menus and filters.
CHANNELS = (
    "channels.email.channel:channel",
    "channels.chat.channel:channel",
    "channels.portal.channel:channel",
    "channels.conversational:sms",
    "channels.conversational:voice",
    "channels.conversational:whatsapp",
    "channels.conversational:messenger",
    "channels.conversational:instagram",
    "channels.conversational:telegram",
    "channels.conversational:web",
    "channels.conversational:assistant",
)


class IdentityValueError(ValueError):
    """An identity value that cannot be normalized; the message says why."""


@dataclass(frozen=True)
class IdentityKind:
    """How a customer is reached on a channel: an email address, a phone number, a handle."""

    name: str
    labels: Mapping[str, str]
    # The stored spelling of a value (raises ValueError with the reason); region for phones.
    normalize: Callable[[str, str], str] = lambda value, _region: value
    # What a search compares with (digits of a phone number, lower case otherwise).
    search_form: Callable[[str], str] = str.lower

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or self.labels.get("en") or self.name


def _email(value: str, _region: str) -> str:
    try:
        return normalize_email(value)
    except EmailAddressError as error:
        raise IdentityValueError(str(error)) from None


def _phone(value: str, region: str) -> str:
    try:
        return normalize_phone(value, region)
    except PhoneNumberError as error:
        raise IdentityValueError(str(error)) from None


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isdigit())


# The kinds every customer record may hold, whatever channels are set up.
EMAIL = IdentityKind("email", {"en": "Email", "de": "E-Mail"}, _email)
PHONE = IdentityKind("phone", {"en": "Phone", "de": "Telefon"}, _phone, _digits)


@dataclass(frozen=True)
class Threading:
    """Which hints join a message to an existing ticket, tried in this order."""

    ticket_number: bool = True  # "[#10042]" in the subject
    references: bool = True  # the ids of our messages it answers (In-Reply-To, References)
    conversation: bool = True  # the channel's conversation id (a chat session, a thread)
    # Last resorts, each among the same customer's tickets only:
    subject: bool = False  # the same subject, ticket still open (mail programs drop headers)
    sender: bool = False  # the same customer wrote on this channel within the window


@dataclass(frozen=True)
class ChannelOption:
    """A setting of the channel: read from the environment, and a `tresen serve` flag."""

    name: str  # e.g. "smtp_port"; read as settings.option("email", "smtp_port")
    env: str  # e.g. "TRESEN_SMTP_PORT"
    default: Any
    parse: Callable[[str], Any] = str
    help: str = ""
    flag: str | None = None  # e.g. "--smtp-port"


@dataclass(frozen=True)
class Channel:
    """Everything Tresen needs to know about one channel."""

    name: str  # stored on tickets and messages: lower case, e.g. "email", "sms"
    labels: Mapping[str, str]  # {"en": "SMS", "de": "SMS"}
    # The identity kinds it reaches customers by (the first is the one it sends to).
    identity_kinds: tuple[IdentityKind, ...]
    threading: Threading = Threading()
    # How a new ticket is confirmed: a message of its own (mail with a subject), a line in
    # the conversation (chat, SMS), or not at all.
    acknowledgement: Literal["message", "conversation", "none"] = "none"
    # Delivers one message; returns its id on the channel. None: Tresen cannot send here.
    send: Callable[[Runtime, OutboundMessage], Awaitable[str | None]] | None = None
    # The id a message will carry, fixed before sending (an email's Message-ID).
    new_external_id: Callable[[int, str | None], str] | None = None
    # Why replies cannot go out right now though the channel can send (no account set up),
    # in both languages ({"en": ..., "de": ...}); None when they can. Replies are still
    # queued: the outbox sends them once it is fixed.
    sending_problem: Callable[[AsyncSession], Awaitable[Mapping[str, str] | None]] | None = None
    # Why it cannot send at all, in both languages (shown before an agent writes).
    cannot_send: Mapping[str, str] = field(default_factory=dict)
    # A live conversation (chat): counts against an agent's chat capacity, not their tickets.
    live: bool = False
    # Conversational (chat, SMS, messengers): an administrator may switch a bot on for it.
    bot: bool = False
    # How long after the customer's last message a new one continues the same ticket when
    # threading by sender; None: the `TRESEN_CONVERSATION_HOURS` setting.
    conversation_window: timedelta | None = None
    # Its pages and webhooks (Starlette routes, e.g. made with tresen.webhooks.webhook_route).
    routes: Sequence[Any] = ()
    # Its REST API routers (tresen.api.Router), mounted under /api/v1.
    api_routers: Sequence[Any] = ()
    # Its settings page in the console: (path, {"en": ..., "de": ...}) for the menu, and
    # `admin_routes(render)` making its routes, where render(request, template, context,
    # status_code=200) draws a template of `templates` (a folder) inside the console's frame.
    admin_page: tuple[str, Mapping[str, str]] | None = None
    admin_routes: Callable[[Callable[..., Any]], Sequence[Any]] | None = None
    templates: str | None = None
    # Background work: `run(runtime)` coroutine functions every server process runs.
    workers: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    # Modules adding actions under `tresen channels` (see tresen.channel_cli): ACTIONS,
    # add_actions(actions), run(args, settings, with_runtime), optionally account_lines(...).
    cli: Sequence[Any] = ()
    # Modules whose SQLAlchemy models belong to the channel (for migrations).
    models: Sequence[str] = ()
    # Modules with its typed event payloads and durable event handlers (tresen.handlers).
    events: Sequence[str] = ()
    options: Sequence[ChannelOption] = ()
    # HTML for the desk's own public pages (the help centre) at this origin, e.g. the chat
    # widget's embed line when a chat channel allows the desk itself; None: nothing.
    page_snippet: Callable[[Runtime, str], Awaitable[str | None]] | None = None
    # The agent has seen a conversation up to a message (ticket id, message id): a
    # conversational channel remembers it and tells the customer (a read receipt).
    mark_read: Callable[[Runtime, int, int], Awaitable[None]] | None = None
    # Where an answer on this ticket's conversation goes by mail (the customer has left a
    # live chat), or None (session, ticket id). A claim the customer typed, not a verified
    # identity: for telling the customer, never for linking them to a customer record.
    reply_address: Callable[[AsyncSession, int], Awaitable[str | None]] | None = None
    # Columns holding values sealed with tresen.secrets: (table, (column, ...)), so that
    # `tresen secrets rotate` re-seals them under a new secret key.
    sealed: Sequence[tuple[str, Sequence[str]]] = ()
    # What it keeps about customers (its part of a data export and of an erasure):
    # a tresen.personal_data.Holder; None: nothing but the tickets' messages.
    personal_data: Any = None

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or self.labels.get("en") or self.name

    def reaches(self, kind: str) -> bool:
        """Whether it can send to a customer identity of this kind."""
        return self.send is not None and any(k.name == kind for k in self.identity_kinds)

    @property
    def identity_kind(self) -> str:
        """The kind of identity its messages come from and its replies go to."""
        return self.identity_kinds[0].name

    def why_not(self, language: str = "en") -> str:
        """Why it cannot send at all (for a channel without `send`)."""
        if self.cannot_send:
            return self.cannot_send.get(language) or self.cannot_send.get("en", "")
        label = self.label(language)
        if language == "de":
            return f"Über {label} kann Tresen noch nicht antworten: kein {label}-Konto verbunden."
        return f"Tresen cannot reply on {label} yet: no {label} account is connected."


_registry: dict[str, Channel] | None = None


def _load() -> dict[str, Channel]:
    global _registry
    if _registry is None:
        loaded = {}
        for spec in CHANNELS:
            module, _, attribute = spec.partition(":")
            channel = getattr(importlib.import_module(module), attribute)
            loaded[channel.name] = channel
        _registry = loaded
    return _registry


def channels() -> list[Channel]:
    """Every registered channel, in menu order."""
    return list(_load().values())


def get(name: str | None) -> Channel | None:
    """The registered channel of this name, or None."""
    return _load().get(name or "")


def describe(name: str) -> Channel:
    """The channel of this name; for a name no channel registered (a message that came
    through the API from elsewhere), a description that threads by conversation id only,
    reaches customers by an identity of its own name and cannot send."""
    channel = _load().get(name)
    if channel is not None:
        return channel
    return Channel(name, {"en": name}, (IdentityKind(name, {"en": name}),))


def register(channel: Channel) -> None:
    """Add (or replace) a channel, e.g. one a test defines; before the app is created."""
    _load()[channel.name] = channel
    identity_kinds.cache_clear()


def unregister(name: str) -> None:
    _load().pop(name, None)
    identity_kinds.cache_clear()


@functools.lru_cache(maxsize=1)
def identity_kinds() -> dict[str, IdentityKind]:
    """Every identity kind a customer record may hold: email, phone and the channels' own."""
    kinds = {EMAIL.name: EMAIL, PHONE.name: PHONE}
    for channel in channels():
        for kind in channel.identity_kinds:
            kinds.setdefault(kind.name, kind)
    return kinds


def senders_to(kind: str) -> list[Channel]:
    """The channels that can send to an identity of this kind."""
    return [channel for channel in channels() if channel.reaches(kind)]


def option_values(env: Mapping[str, str]) -> dict[str, Any]:
    """Every channel option read from the environment: {"email.smtp_port": 2525, ...}."""
    values = {}
    for channel in channels():
        for option in channel.options:
            raw = env.get(option.env)
            if raw in (None, ""):
                values[f"{channel.name}.{option.name}"] = option.default
                continue
            try:
                values[f"{channel.name}.{option.name}"] = option.parse(raw)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{option.env}={raw!r}: {error}") from None
    return values


def option_default(channel: str, name: str) -> Any:
    found = get(channel)
    for option in found.options if found else ():
        if option.name == name:
            return option.default
    raise KeyError(f"channel {channel!r} has no option {name!r}")
