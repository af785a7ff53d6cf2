"""The bot's figures per channel and ISO week: conversations, answered, deflected, handed
off, abandoned (the customer left it), and the satisfaction (CSAT) of the ones the bot resolved."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bots.models import BotConversation
from tickets.csat_models import Rating


def iso_week(moment: datetime) -> str:
    """ "2026-W49" for a moment in that ISO week."""
    year, week, _day = moment.isocalendar()
    return f"{year}-W{week:02d}"


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 of the moment's ISO week (UTC)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def weekly(session, *, weeks: int = 8, now: datetime) -> list[dict]:
    """One row per channel and week with conversations (by the week they started),
    newest week first."""
    since = week_start(now) - timedelta(weeks=max(weeks, 1) - 1)
    rows = (
        await session.execute(
            select(
                BotConversation.channel,
                BotConversation.started_at,
                BotConversation.answers,
                BotConversation.outcome,
                Rating.score,
            )
            .outerjoin(Rating, Rating.ticket_id == BotConversation.ticket_id)
            .where(BotConversation.started_at >= since)
        )
    ).all()
    figures: dict[tuple[str, str], dict] = {}
    for row in rows:
        week = iso_week(row.started_at)
        item = figures.setdefault(
            (row.channel, week),
            {
                "channel": row.channel,
                "week": week,
                "conversations": 0,
                "answered": 0,
                "deflected": 0,
                "handed_off": 0,
                "abandoned": 0,
                "scores": [],
            },
        )
        item["conversations"] += 1
        item["answered"] += 1 if (row.answers or 0) > 0 or row.outcome == "deflected" else 0
        item["deflected"] += row.outcome == "deflected"
        item["handed_off"] += row.outcome == "handed_off"
        item["abandoned"] += row.outcome == "abandoned"
        if row.outcome == "deflected" and row.score is not None:
            item["scores"].append(row.score)
    result = []
    for item in figures.values():
        scores = item.pop("scores")
        item["csat"] = round(sum(scores) / len(scores), 2) if scores else None
        item["csat_count"] = len(scores)
        result.append(item)
    result.sort(key=lambda item: item["channel"])
    result.sort(key=lambda item: item["week"], reverse=True)
    return result
