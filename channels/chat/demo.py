"""Demo chat: a channel that allows the desk itself, so the help centre offers the chat, and a
visitor's conversation the FAQ bot has taken (`arrive`, after the bot is switched on)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import Integer, String, column, select, table

from channels.chat import sessions
from channels.chat.actions import channel_named, create_chat_channel, update_chat_channel
from channels.chat.models import ChatChannel, ChatSession
from tresen import rooms
from tresen.inbound import InboundMessage

queues = table("queues", column("id", Integer), column("name", String))

# visitor id, the identity its messages come from, name, language, what they wrote
VISITS = (
    ("demo-visitor-1", "visitor-7f3a", "Lukas Becker", "de", "Wo ist meine Lieferung?"),
    ("demo-visitor-2", "visitor-2c9e", None, "en",
     "My invoice was charged twice, can I get a refund?"),
)  # fmt: skip


def _origins(base_url: str) -> list[str]:
    """The desk's origin, and the same port on the other loopback name."""
    parts = urlsplit(base_url)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    for one, other in (("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")):
        if parts.hostname == one:
            origins.append(f"{parts.scheme}://{parts.netloc.replace(one, other)}")
    return origins


async def seed(runtime) -> None:
    async with runtime.transaction() as tx:
        support = await tx.session.scalar(select(queues.c.id).where(queues.c.name == "Support"))
        await create_chat_channel(
            tx,
            name="Help centre",
            allowed_origins=_origins(runtime.settings.base_url),
            queue_id=support,
        )


async def use_base_url(runtime) -> None:
    """The demo's chat allows the desk's origin of this start (`tresen demo --port N`)."""
    async with runtime.transaction() as tx:
        row = await channel_named(tx.session, "Help centre")
        if row is not None:
            origins = _origins(runtime.settings.base_url)
            await update_chat_channel(tx, row, {"allowed_origins": origins})


async def arrive(runtime) -> None:
    """Visitors write in the help centre's chat, as the widget's socket hands it on."""
    async with runtime.read() as session:
        key = await session.scalar(select(ChatChannel.public_key).order_by(ChatChannel.id))
    channel = await sessions.channel_info(runtime, key)
    for visitor, identity, name, language, text in VISITS:
        async with runtime.transaction() as tx:
            session_id = await sessions.create_session(tx, channel, visitor, identity, name=name)
            session_key = await tx.session.scalar(
                select(ChatSession.key).where(ChatSession.id == session_id)
            )
        await rooms.deliver(
            runtime,
            InboundMessage.model_validate(
                {
                    "channel": "chat",
                    "external_id": f"{session_key}:1",
                    "from": {"kind": "chat", "value": identity, "name": name},
                    "subject": f"Chat: {text}",
                    "text": text,
                    "conversation_id": session_key,
                    "queue_id": channel.queue_id,
                    "language": language,
                    "raw": {"page": "/help", "language": language, "chat_channel": channel.id},
                }
            ),
        )
