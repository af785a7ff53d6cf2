"""The chat's own rows: channels by key (cached briefly), visitors' sessions, and the
conversation's messages as the widget shows them (plain-row reads of the tickets room's
tables: a channel does not import tickets)."""

from __future__ import annotations

import html
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    and_,
    column,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from channels.chat.events import ChatRead
from channels.chat.models import ChatChannel, ChatSession
from tresen import secrets as sealed
from tresen.database import UTCDateTime

CHANNEL_CACHE_SECONDS = 5.0
HISTORY_LIMIT = 200  # messages a welcome resends at most (the newest)

# Plain rows of the tickets room and the shell.
messages = table(
    "messages",
    column("id", Integer),
    column("ticket_id", Integer),
    column("direction", String),
    column("channel", String),
    column("internal", Boolean),
    column("author_user_id", Integer),
    column("external_id", String),
    column("conversation_id", String),
    column("sender", String),
    column("recipient", String),
    column("text", String),
    column("created_at", UTCDateTime),
    column("auto_submitted", String),
    column("interactive", JSON),
)
attachments = table(
    "attachments",
    column("id", Integer),
    column("message_id", Integer),
    column("filename", String),
    column("content_type", String),
    column("size", Integer),
    column("content"),
)
users = table("users", column("id", Integer), column("name", String))
# The bots room's settings: a bot's messages carry its name (read only when one is shown).
bot_settings = table("bot_settings", column("channel", String), column("name", String))
bot_conversations = table(
    "bot_conversations", column("ticket_id", Integer), column("outcome", String)
)
tickets = table(
    "tickets",
    column("id", Integer),
    column("assignee_id", Integer),
    column("state", String),
    column("merged_into_id", Integer),
)


@dataclass(frozen=True)
class ChannelInfo:
    """A chat channel as the public doors need it (the identity secret opened)."""

    id: int
    name: str
    public_key: str
    allowed_origins: frozenset[str]
    queue_id: int | None
    colors: dict
    greeting: dict
    avatar_url: str | None
    prechat: dict
    identity_secret: str = field(repr=False)
    active: bool = True

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin.lower().rstrip("/") in self.allowed_origins

    def prechat_mode(self, field: str) -> str:
        mode = (self.prechat or {}).get(field, "optional")
        return mode if mode in ("off", "optional", "required") else "optional"


async def channel_info(runtime, key: str) -> ChannelInfo | None:
    """The active channel with this public key (cached for a few seconds), or None."""
    if not key or len(key) > 64:
        return None
    # Keys nobody has (a knocker's guesses) are remembered too; the oldest go past 1,000.
    cache = runtime.caches.setdefault("chat.channels", OrderedDict())
    found = cache.get(key)
    if found is not None and time.monotonic() - found[0] < CHANNEL_CACHE_SECONDS:
        cache.move_to_end(key)
        return found[1]
    async with runtime.read() as session:
        row = await session.scalar(select(ChatChannel).where(ChatChannel.public_key == key))
    info = None
    if row is not None and row.active:
        info = ChannelInfo(
            id=row.id,
            name=row.name,
            public_key=row.public_key,
            allowed_origins=frozenset(o.lower().rstrip("/") for o in row.allowed_origins or ()),
            queue_id=row.queue_id,
            colors=dict(row.colors or {}),
            greeting=dict(row.greeting or {}),
            avatar_url=row.avatar_url,
            prechat=dict(row.prechat or {}),
            identity_secret=sealed.decrypt(runtime.settings, row.identity_secret)
            if sealed.is_encrypted(row.identity_secret)
            else row.identity_secret,
            active=row.active,
        )
    cache[key] = (time.monotonic(), info)
    cache.move_to_end(key)
    while len(cache) > 1000:
        cache.popitem(last=False)
    return info


async def latest_session(
    session: AsyncSession, channel_id: int, identity: str
) -> ChatSession | None:
    """The visitor's newest conversation on this channel."""
    return await session.scalar(
        select(ChatSession)
        .where(ChatSession.channel_id == channel_id, ChatSession.identity == identity)
        .order_by(ChatSession.id.desc())
        .limit(1)
    )


async def create_session(tx, channel: ChannelInfo, visitor_id: str, identity: str, **values) -> int:
    """A new conversation (made with the visitor's first message); its id."""
    now = tx.now()
    values.setdefault("email_verified", False)
    values.setdefault("status", "open")
    connection = await tx.session.connection()
    row = await connection.execute(
        insert(ChatSession)
        .values(
            channel_id=channel.id,
            key=secrets.token_urlsafe(18),
            visitor_id=visitor_id,
            identity=identity,
            visitor_read_id=0,
            agent_read_id=0,
            code_attempts=0,
            created_at=now,
            last_seen_at=now,
            **values,
        )
        .returning(ChatSession.id)
    )
    return row.scalar_one()


async def update_session(runtime, session_id: int, **values: Any) -> None:
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            update(ChatSession).where(ChatSession.id == session_id).values(**values)
        )


async def seen(runtime, session_ids: list[int], now: datetime, *, left: bool | None = None) -> None:
    """The visitor of these sessions is here now (left=False: came; True: just left)."""
    if not session_ids:
        return
    values: dict[str, Any] = {"last_seen_at": now}
    if left is not None:
        values["left_at"] = now if left else None
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            update(ChatSession).where(ChatSession.id.in_(session_ids)).values(**values)
        )


_MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.ticket_id,
    messages.c.direction,
    messages.c.author_user_id,
    messages.c.external_id,
    messages.c.sender,
    messages.c.recipient,
    messages.c.text,
    messages.c.created_at,
    messages.c.auto_submitted,
    messages.c.interactive,
    users.c.name.label("author_name"),
)


def _public() -> Any:
    return messages.c.internal.is_(False)


def _theirs(identity: Any) -> Any:
    """Messages of the visitor's own conversation: what they wrote and what was sent to
    them. A ticket may hold more (another conversation merged into it, mail): never shown."""
    return or_(
        and_(messages.c.direction == "inbound", messages.c.sender == identity),
        and_(messages.c.direction == "outbound", messages.c.recipient == identity),
    )


def shown_to(row, identity: str) -> bool:
    """Whether a message (a row of messages_by_id) belongs to this visitor's conversation."""
    if row.direction == "inbound":
        return row.sender == identity
    return row.recipient == identity


async def messages_after(
    session: AsyncSession, ticket_id: int, identity: str, after_id: int, limit: int = HISTORY_LIMIT
) -> list:
    """The visitor's conversation on the ticket after `after_id` (public messages they wrote
    or were sent; the newest `limit`), oldest first."""
    rows = (
        await session.execute(
            select(*_MESSAGE_COLUMNS)
            .outerjoin(users, users.c.id == messages.c.author_user_id)
            .where(
                messages.c.ticket_id == ticket_id,
                messages.c.id > after_id,
                _public(),
                _theirs(identity),
            )
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
    ).all()
    rows.reverse()
    return rows


async def messages_by_id(session: AsyncSession, message_ids: list[int]) -> dict[int, Any]:
    """Public messages by id (what a tick's `message.created` events name)."""
    rows = await session.execute(
        select(*_MESSAGE_COLUMNS)
        .outerjoin(users, users.c.id == messages.c.author_user_id)
        .where(messages.c.id.in_(message_ids), _public())
    )
    return {row.id: row for row in rows}


async def bot_name(session: AsyncSession) -> str | None:
    """The name the chat's bot is shown under (its settings'), or None."""
    return await session.scalar(select(bot_settings.c.name).where(bot_settings.c.channel == "chat"))


async def left_with_the_bot(session: AsyncSession, ticket_id: int) -> bool:
    """Whether the visitor left the conversation unresolved with the bot (the bot still has
    it, or it ended abandoned): nobody answered, so nobody is rated."""
    state = await session.scalar(select(tickets.c.state).where(tickets.c.id == ticket_id))
    if state == "bot":
        return True
    outcome = await session.scalar(
        select(bot_conversations.c.outcome).where(bot_conversations.c.ticket_id == ticket_id)
    )
    return outcome == "abandoned"


async def attachments_of(session: AsyncSession, message_ids: list[int]) -> dict[int, list]:
    if not message_ids:
        return {}
    found: dict[int, list] = {}
    rows = await session.execute(
        select(
            attachments.c.id,
            attachments.c.message_id,
            attachments.c.filename,
            attachments.c.content_type,
            attachments.c.size,
        )
        .where(attachments.c.message_id.in_(message_ids))
        .order_by(attachments.c.id)
    )
    for row in rows:
        found.setdefault(row.message_id, []).append(row)
    return found


async def agent_of(session: AsyncSession, ticket_id: int) -> str | None:
    """The name of the agent the ticket is assigned to, or None."""
    return await session.scalar(
        select(users.c.name)
        .join(tickets, tickets.c.assignee_id == users.c.id)
        .where(tickets.c.id == ticket_id)
    )


async def visitor_session(session: AsyncSession, channel_id: int, visitor_id: str):
    """The newest conversation the holder of this visitor token began on the channel."""
    return await session.scalar(
        select(ChatSession)
        .where(ChatSession.channel_id == channel_id, ChatSession.visitor_id == visitor_id)
        .order_by(ChatSession.id.desc())
        .limit(1)
    )


async def conversation_file(session: AsyncSession, attachment_id: int, identity: str):
    """A file of a public chat message the visitor `identity` sent or was sent, or None."""
    return (
        await session.execute(
            select(attachments.c.filename, attachments.c.content_type, attachments.c.content)
            .join(messages, messages.c.id == attachments.c.message_id)
            .where(
                attachments.c.id == attachment_id,
                messages.c.channel == "chat",
                _public(),
                _theirs(identity),
            )
        )
    ).first()


async def page_snippet(runtime, origin: str) -> str | None:
    """The embed line for the desk's own public pages when an active chat channel allows
    their origin (the help centre then offers the chat too); cached for a few seconds."""
    found = runtime.caches.get("chat.embed")
    if found is None or time.monotonic() - found[0] >= CHANNEL_CACHE_SECONDS:
        async with runtime.read() as session:
            rows = (
                await session.execute(
                    select(ChatChannel.public_key, ChatChannel.allowed_origins)
                    .where(ChatChannel.active.is_(True))
                    .order_by(ChatChannel.id)
                )
            ).all()
        found = runtime.caches["chat.embed"] = (time.monotonic(), rows)
    wanted = origin.lower().rstrip("/")
    for key, origins in found[1]:
        if wanted in (item.lower().rstrip("/") for item in origins or ()):
            return (
                f'<script src="/chat/widget.js" data-channel="{html.escape(key)}" async></script>'
            )
    return None


async def conversation_ticket(session: AsyncSession, key: str) -> int | None:
    """The ticket a conversation's messages went to (for a session whose link was lost)."""
    return await session.scalar(
        select(messages.c.ticket_id)
        .where(messages.c.conversation_id == key)
        .order_by(messages.c.id.desc())
        .limit(1)
    )


async def mark_read(runtime, ticket_id: int, message_id: int) -> None:
    """The agent has seen the conversation up to this message: remembered (the Chats list's
    unread mark, a returning widget's receipts) and told to the visitor."""
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            update(ChatSession)
            .where(ChatSession.ticket_id == ticket_id, ChatSession.agent_read_id < message_id)
            .values(agent_read_id=message_id)
        )
        tx.emit(ChatRead(ticket_id=ticket_id, side="agent", message_id=message_id))


async def agent_read(session: AsyncSession, session_id: int) -> int:
    """The newest message of the conversation the agent has read."""
    return (
        await session.scalar(select(ChatSession.agent_read_id).where(ChatSession.id == session_id))
        or 0
    )
