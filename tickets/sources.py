"""Which received messages keep their original source (an email's RFC 822 text)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickets.models import InboundRecord, Message


async def with_source(session: AsyncSession, messages: list[Message]) -> set[int]:
    """Which of these messages have their original source kept (the ticket page's
    "Original" link is shown only for them); the sources themselves are not read."""
    inbound = {
        (m.channel, m.external_id): m.id
        for m in messages
        if m.direction == "inbound" and m.external_id
    }
    if not inbound:
        return set()
    keys = list(inbound)
    found = set()
    for start in range(0, len(keys), 200):  # bounded IN lists for long tickets
        chunk = keys[start : start + 200]
        rows = await session.execute(
            select(InboundRecord.channel, InboundRecord.external_id).where(
                InboundRecord.external_id.in_([external_id for _, external_id in chunk]),
                InboundRecord.payload[("raw", "rfc822_base64")].as_string().is_not(None),
            )
        )
        found.update(inbound[key] for key in map(tuple, rows.all()) if key in inbound)
    return found
