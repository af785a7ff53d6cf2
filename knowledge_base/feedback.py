"""What agents and readers say of articles, and what people looked for and did not find."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from knowledge_base.events import FeedbackGiven
from knowledge_base.models import FEEDBACK_KINDS, Article, ArticleFeedback, SearchGap
from tresen.runtime import ActionError, Transaction

# Readers without an account (help centre, public API) count for customers' and bots' ranking
# with at most this much weight either way (four readers' "helpful"), and not at all for
# agents (`standing_of`).
ANONYMOUS_VOTES_CAP = 2.0


async def record_feedback(
    tx: Transaction,
    article_id: int,
    kind: str,
    *,
    ticket_id: int | None = None,
    user_id: int | None = None,
    reader: str | None = None,
    comment: str | None = None,
) -> ArticleFeedback:
    """One verdict. A later verdict replaces the earlier one of the same agent on the same
    ticket, and of the same anonymous reader (see `reader_key`) on the same article that
    (UTC) day: nobody's opinion counts twice, and a reader's address answers once a day."""
    if kind not in FEEDBACK_KINDS:
        raise ActionError("verdict", f"{kind!r} is not one of {', '.join(FEEDBACK_KINDS)}")
    if await tx.session.get(Article, article_id) is None:
        raise ActionError("article_id", f"no article {article_id}")
    same = None
    if ticket_id is not None:
        same = (ArticleFeedback.ticket_id == ticket_id) & (ArticleFeedback.user_id == user_id)
    elif reader is not None:
        today = tx.now().replace(hour=0, minute=0, second=0, microsecond=0)
        same = (ArticleFeedback.reader == reader) & (ArticleFeedback.at >= today)
    if same is not None:
        earlier = await tx.session.scalars(
            select(ArticleFeedback).where(ArticleFeedback.article_id == article_id, same)
        )
        for old in earlier.all():
            await tx.session.delete(old)
    record = ArticleFeedback(
        article_id=article_id,
        kind=kind,
        ticket_id=ticket_id,
        user_id=user_id,
        reader=reader,
        comment=(comment or "").strip()[:2000] or None,
        at=tx.now(),
    )
    tx.session.add(record)
    tx.emit(FeedbackGiven(article_id=article_id, kind=kind, ticket_id=ticket_id))
    return record


def reader_key(secret: str, identity: str) -> str:
    """Who an anonymous reader is, for counting their answers once: a keyed hash of their
    address ("ip:<address>"; the address itself is not kept). Not their session: a fresh
    cookie costs nothing, so per session anyone could answer as often as they liked."""
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()


async def not_relevant_on(session, ticket_id: int) -> tuple[int, ...]:
    """Articles an agent has set aside for this ticket: not suggested there again."""
    rows = await session.scalars(
        select(ArticleFeedback.article_id).where(
            ArticleFeedback.ticket_id == ticket_id, ArticleFeedback.kind == "not_relevant"
        )
    )
    return tuple(rows.all())


async def verdicts_on(session, ticket_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(ArticleFeedback.article_id, ArticleFeedback.kind)
        .where(ArticleFeedback.ticket_id == ticket_id)
        .order_by(ArticleFeedback.id)
    )
    return dict(rows.all())


async def article_feedback(session, article_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(ArticleFeedback.kind, func.count())
        .where(ArticleFeedback.article_id == article_id)
        .group_by(ArticleFeedback.kind)
    )
    counts = dict(rows.all())
    return {kind: counts.get(kind, 0) for kind in FEEDBACK_KINDS}


async def gaps(
    session, *, since_days: int, now: datetime, audience: str | None = None, limit: int = 50
) -> list[dict]:
    """Searches with no good result, grouped by their words, the most frequent first."""
    searches = func.sum(SearchGap.searches)
    query = (
        select(
            SearchGap.normalized,
            searches,
            func.max(SearchGap.at),
            func.max(SearchGap.query),
            func.max(SearchGap.language),
            func.sum(SearchGap.results),
        )
        .where(SearchGap.day >= (now - timedelta(days=since_days)).date())
        .group_by(SearchGap.normalized)
        .order_by(searches.desc(), func.max(SearchGap.at).desc())
        .limit(limit)
    )
    if audience:
        query = query.where(SearchGap.audience == audience)
    return [
        {
            "query": example,
            "searches": count,
            "last_at": last.isoformat(),
            "language": language,
            "with_weak_results": int(results or 0) > 0,
        }
        for _normalized, count, last, example, language, results in (
            await session.execute(query)
        ).all()
    ]


async def standing_of(session, ids: list[int], audience: str = "agent") -> dict[int, float]:
    """Each article's standing from what agents and readers said of it, -1 … 1.

    Anonymous readers' answers (those with a `reader`) are left out of agents' ranking: agents
    find articles for tickets, and their own verdicts there are the evidence; anyone can send
    anonymous answers from many addresses, and a reader's "not helpful" often means "not the
    answer I hoped for", not "the wrong article". For customers and bots those answers are the
    readers' own voice, so they count, capped (ANONYMOUS_VOTES_CAP): a flood of them moves an
    article's score by a fifth at most."""
    if not ids:
        return {}
    rows = await session.execute(_SUMS.where(ArticleFeedback.article_id.in_(ids)))
    return _standing({a: (float(k), float(r)) for a, k, r in rows.all()}, ids, audience)


_WEIGHT = case(
    (ArticleFeedback.kind == "used", 1.0),
    (ArticleFeedback.kind == "helpful", 0.5),
    (ArticleFeedback.kind == "not_relevant", -1.0),
    else_=-0.5,
)
_ANONYMOUS = ArticleFeedback.reader.is_not(None)
# Per article: the sum of the weights of staff's verdicts, and of anonymous readers'.
_SUMS = select(
    ArticleFeedback.article_id,
    func.sum(case((_ANONYMOUS, 0.0), else_=_WEIGHT)),
    func.sum(case((_ANONYMOUS, _WEIGHT), else_=0.0)),
).group_by(ArticleFeedback.article_id)
# Feedback replaces earlier verdicts (a delete beside the insert: the newest id changes);
# a deletion alone (none today) would be seen this much later at the latest.
STANDINGS_SECONDS = 60.0


def _standing(sums: dict[int, tuple[float, float]], ids, audience: str) -> dict[int, float]:
    cap = ANONYMOUS_VOTES_CAP if audience in ("customer", "bot") else 0.0
    return {
        article_id: math.tanh((known + max(-cap, min(cap, readers))) / 5)
        for article_id in ids
        if article_id in sums
        for known, readers in (sums[article_id],)
    }


async def standings(runtime, session, newest: int | None, ids, audience: str) -> dict:
    """`standing_of` from this process's copy of every article's sums, counted again only
    when feedback was given since (the newest id differs) or after STANDINGS_SECONDS."""
    if not ids:
        return {}
    cached = runtime.caches.get("kb.feedback")
    now = time.monotonic()
    if cached is None or cached[0] != newest or now - cached[1] > STANDINGS_SECONDS:
        rows = (await session.execute(_SUMS)).all()
        cached = (newest, now, {a: (float(k), float(r)) for a, k, r in rows})
        runtime.caches["kb.feedback"] = cached
    return _standing(cached[2], ids, audience)
