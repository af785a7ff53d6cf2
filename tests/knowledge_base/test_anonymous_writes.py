"""What anonymous readers can write: one "Was this helpful?" answer per address, article and
day, kept out of the agents' ranking; one gap row per searched words and day, counted; and no
encoding work queued per anonymous search."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, text

from knowledge_base import semantic
from knowledge_base.feedback import (
    ANONYMOUS_VOTES_CAP,
    article_feedback,
    gaps,
    reader_key,
    record_feedback,
    standing_of,
)
from knowledge_base.models import SearchGap
from knowledge_base.search import search
from tests.fixtures import alembic, csrf_of, lexical_only, load_kb_samples
from tresen.app import create_app
from tresen.clock import FrozenClock
from tresen.database import create_engine
from tresen.runtime import Runtime

QUESTION = "Kreditkarte Einstellungen"  # two articles match it about equally (test_search)


def _reader(app, address: str) -> httpx.AsyncClient:
    """A browser at this address with no cookies yet."""
    transport = httpx.ASGITransport(app=app, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _vote(app, address: str, slug: str, answer: str) -> int:
    async with _reader(app, address) as browser:
        page = await browser.get(f"/help/{slug}")
        voted = await browser.post(
            f"/help/{slug}", data={"helpful": answer, "csrf_token": csrf_of(page.text)}
        )
        return voted.status_code


async def _ranking(runtime, audience: str) -> list[tuple[str, float]]:
    hits = await search(runtime, QUESTION, language="de", audience=audience)
    return [(h.title, round(h.score, 6)) for h in hits]


async def test_thirty_votes_with_fresh_cookies_from_one_address_count_once(runtime):
    ids = await load_kb_samples(lexical_only(runtime))
    # This test is about counting; the rate limit (10 votes a minute) would stop the flood
    # before it shows (tests/tresen/test_limits.py tests that), so it is raised here.
    runtime.settings = replace(runtime.settings, public_votes_per_minute=1000)
    app = create_app(runtime=runtime)
    agents_before = await _ranking(runtime, "agent")
    top = (await search(runtime, QUESTION, language="de", audience="agent"))[0].article_id
    slug = next(s for s, i in ids.items() if i == top)
    statuses = [await _vote(app, "203.0.113.5", slug, "no") for _ in range(30)]
    assert statuses == [303] * 30
    async with runtime.read() as session:
        counts = await article_feedback(session, ids[slug])
        readers = await session.scalar(
            text("SELECT count(DISTINCT reader) FROM kb_feedback WHERE article_id = :id"),
            {"id": ids[slug]},
        )
    assert counts["not_helpful"] == 1 and readers == 1
    # The address is not stored, only its keyed hash.
    async with runtime.read() as session:
        stored = await session.scalar(text("SELECT reader FROM kb_feedback"))
    assert "203.0.113.5" not in stored and len(stored) == 64
    assert await _ranking(runtime, "agent") == agents_before
    # Thirty addresses (a botnet): still nothing for agents; for customers at most the cap.
    for n in range(30):
        assert await _vote(app, f"198.51.100.{n}", slug, "no") == 303
    assert await _ranking(runtime, "agent") == agents_before
    async with runtime.read() as session:
        standing = await standing_of(session, [ids[slug]], "customer")
        assert standing[ids[slug]] >= math.tanh(-ANONYMOUS_VOTES_CAP / 5)
        assert (await standing_of(session, [ids[slug]], "agent")) == {ids[slug]: 0.0}


async def test_an_address_answers_again_the_next_day(settings):
    clock = FrozenClock(datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
    runtime = Runtime.create(lexical_only_settings(settings), clock=clock)
    await runtime.start()
    try:
        ids = await load_kb_samples(runtime)
        reader = reader_key(settings.secret_key, "ip:203.0.113.5")
        for answer in ("helpful", "not_helpful", "helpful"):  # a change of mind counts once
            async with runtime.transaction() as tx:
                await record_feedback(tx, ids["payment-de"], answer, reader=reader)
        clock.advance(timedelta(hours=2))  # the next (UTC) day
        async with runtime.transaction() as tx:
            await record_feedback(tx, ids["payment-de"], "helpful", reader=reader)
        async with runtime.read() as session:
            assert (await article_feedback(session, ids["payment-de"]))["helpful"] == 2
    finally:
        await runtime.close()


def lexical_only_settings(settings):
    return replace(settings, semantic=False)


async def test_a_thousand_identical_weak_searches_make_one_gap_row(runtime):
    await load_kb_samples(lexical_only(runtime))
    question = "Quantenphysik Ratenzahlung Marsmission"

    async def one():
        await search(runtime, question, audience="customer", report_gap=True)

    for _ in range(40):  # 25 at a time: concurrent upserts of the same row
        await asyncio.gather(*(one() for _ in range(25)))
    async with runtime.read() as session:
        rows = (await session.execute(select(SearchGap.normalized, SearchGap.searches))).all()
        report = await gaps(session, since_days=1, now=runtime.clock.now())
    assert rows == [("quantenphysik ratenzahlung marsmission", 1000)]
    assert [(g["query"], g["searches"]) for g in report] == [(question, 1000)]


async def test_migration_0011_groups_the_gap_rows_there_are(empty_database_url):
    url = empty_database_url
    await alembic(url, "upgrade", "0010")
    postgres = url.startswith("postgresql")

    def at(day: int, hour: int):
        moment = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
        return moment if postgres else moment.replace(tzinfo=None).isoformat(" ")

    rows = [
        ("Rechnung ändern", "rechnung ändern", "customer", at(30, 9)),
        ("rechnung ÄNDERN", "rechnung ändern", "customer", at(30, 10)),
        ("Rechnung ändern!", "rechnung ändern", "customer", at(30, 23)),
        ("Rechnung ändern", "rechnung ändern", "customer", at(29, 23)),  # another day
        ("Rechnung ändern", "rechnung ändern", "agent", at(30, 11)),  # another audience
        ("Kulanz", "kulanz", "customer", at(30, 12)),
    ]
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for query, normalized, audience, moment in rows:
                await connection.execute(
                    text(
                        "INSERT INTO kb_search_gaps (query, normalized, language, audience, "
                        "results, at) VALUES (:q, :n, 'de', :a, 0, :at)"
                    ),
                    {"q": query, "n": normalized, "a": audience, "at": moment},
                )
    finally:
        await engine.dispose()
    await alembic(url, "upgrade", "0011")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            found = (
                await connection.execute(
                    text(
                        "SELECT CAST(day AS VARCHAR(10)), audience, normalized, searches, query "
                        "FROM kb_search_gaps ORDER BY day, audience, normalized"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in found] == [
        ("2026-11-29", "customer", "rechnung ändern", 1, "Rechnung ändern"),
        ("2026-11-30", "agent", "rechnung ändern", 1, "Rechnung ändern"),
        ("2026-11-30", "customer", "kulanz", 1, "Kulanz"),
        ("2026-11-30", "customer", "rechnung ändern", 3, "Rechnung ändern!"),
    ]
    await alembic(url, "downgrade", "0010")
    await alembic(url, "upgrade", "0011")


async def test_anonymous_searches_queue_no_encoding_while_the_encoder_is_busy(runtime, embeddings):
    """Agents' searches wait for the encoder; customers' and bots' are answered lexically
    at once when encodings are waiting already, and a repeated text is not encoded again."""
    await load_kb_samples(runtime, embed=True)
    asked = [f"Frage eines Agenten {n} ({runtime.settings.database_url})" for n in range(2)]
    semantic._lock.acquire()  # the encoder is busy (say, with a batch of articles)
    try:
        agents = [asyncio.create_task(semantic.query_vector(text)) for text in asked]
        for _ in range(1000):  # until both wait for the encoder
            if semantic._waiting == semantic.MAX_WAITING == len(asked):
                break
            await asyncio.sleep(0)
        assert semantic._waiting == semantic.MAX_WAITING
        answers = await asyncio.gather(
            *(
                search(runtime, f"Rückerstattung {n}", language="de", audience="customer")
                for n in range(50)
            )
        )
        assert all(hits for hits in answers)  # found by their words
        assert semantic._waiting == semantic.MAX_WAITING  # none of the 50 was queued
    finally:
        semantic._lock.release()
    vectors = await asyncio.gather(*agents)
    semantic._lock.acquire()
    try:  # the encoder is busy again, but this text was encoded a moment ago
        again = await semantic.query_vector(asked[0], may_skip=True)
    finally:
        semantic._lock.release()
    assert again is vectors[0]


async def test_the_gap_count_is_per_day(settings):
    clock = FrozenClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    runtime = Runtime.create(lexical_only_settings(settings), clock=clock)
    await runtime.start()
    try:
        await load_kb_samples(runtime)
        for _ in range(3):
            await search(runtime, "Marsmission", audience="customer", report_gap=True)
        clock.advance(timedelta(days=1))
        await search(runtime, "marsmission", audience="customer", report_gap=True)
        async with runtime.read() as session:
            days = (
                await session.execute(
                    select(SearchGap.day, SearchGap.searches).order_by(SearchGap.day)
                )
            ).all()
            total = await session.scalar(select(func.sum(SearchGap.searches)))
        assert [n for _day, n in days] == [3, 1] and total == 4
    finally:
        await runtime.close()
