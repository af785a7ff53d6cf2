"""Demo chat: a channel that allows the desk itself, so the help centre offers the chat."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import Integer, String, column, select, table

from channels.chat.actions import create_chat_channel

queues = table("queues", column("id", Integer), column("name", String))


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
