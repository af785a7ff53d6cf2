"""Why the bot handed conversations off, counted per channel (the supervisors' report)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bots.models import BotConversation
from bots.report import week_start


async def handoff_reasons(session, *, weeks: int = 8, now: datetime) -> list[tuple[str, str, int]]:
    """(channel, reason, conversations) of the handoffs of conversations started in the
    last `weeks` ISO weeks (the weekly report's span), the most frequent first."""
    since = week_start(now) - timedelta(weeks=max(weeks, 1) - 1)
    count = func.count(BotConversation.id)
    rows = await session.execute(
        select(BotConversation.channel, BotConversation.handoff_reason, count)
        .where(
            BotConversation.started_at >= since,
            BotConversation.outcome == "handed_off",
        )
        .group_by(BotConversation.channel, BotConversation.handoff_reason)
        .order_by(count.desc(), BotConversation.handoff_reason)
    )
    return [(channel, reason or "", total) for channel, reason, total in rows.all()]
