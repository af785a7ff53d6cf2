"""Deflected requests: counted once per request form, only for public articles, shown on the
article's console page and reported through the API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from knowledge_base.deflection import (
    deflection_report,
    deflections_of,
    forget_customer,
    record_deflection,
    withdraw_deflection,
)
from knowledge_base.models import Deflection
from tests.fixtures import lexical_only, load_kb_samples, sign_in
from tresen.accounts import create_token, create_user
from tresen.clock import FrozenClock
from tresen.runtime import ActionError


async def deflect(runtime, article_id: int, key: str, customer_id: int | None = 7) -> int:
    async with runtime.transaction() as tx:
        record = await record_deflection(
            tx, article_id, customer_id=customer_id, request_key=key, language="de"
        )
        return record.id


async def test_a_request_form_counts_once_and_only_for_public_articles(runtime):
    ids = await load_kb_samples(lexical_only(runtime))
    first = await deflect(runtime, ids["refund-de"], "form-aaaaaaaaaaaaaaaa")
    again = await deflect(runtime, ids["refund-de"], "form-aaaaaaaaaaaaaaaa")
    await deflect(runtime, ids["refund-de"], "form-bbbbbbbbbbbbbbbb", customer_id=8)
    assert first == again
    for hidden in ("goodwill-de", "draft-de"):
        with pytest.raises(ActionError):
            await deflect(runtime, ids[hidden], f"form-{hidden}-cccccccccc")
    with pytest.raises(ActionError):
        await deflect(runtime, 999_999, "form-dddddddddddddddd")
    async with runtime.read() as session:
        assert await deflections_of(session, ids["refund-de"]) == 2
        assert await deflections_of(session, ids["goodwill-de"]) == 0


async def test_an_erased_customers_deflections_stay_counted_anonymously(runtime):
    ids = await load_kb_samples(lexical_only(runtime))
    await deflect(runtime, ids["refund-de"], "form-eeeeeeeeeeeeeeee", customer_id=7)
    async with runtime.transaction() as tx:
        assert await forget_customer(tx, 7) == 1
    async with runtime.read() as session:
        row = await session.get(Deflection, 1)
        assert row.customer_id is None
        assert await deflections_of(session, ids["refund-de"]) == 1


async def test_the_report_counts_per_article_within_the_days_asked(runtime, client):
    ids = await load_kb_samples(lexical_only(runtime))
    await deflect(runtime, ids["refund-en"], "form-old-aaaaaaaaaaaa")
    async with runtime.transaction() as tx:
        row = await tx.session.get(Deflection, 1)
        row.at = tx.now() - timedelta(days=40)
    for customer_id, key in ((7, "form-1-aaaaaaaaaaaaaa"), (8, "form-2-aaaaaaaaaaaaaa")):
        await deflect(runtime, ids["refund-de"], key, customer_id=customer_id)
    await deflect(runtime, ids["refund-en"], "form-3-aaaaaaaaaaaaaa")
    async with runtime.read() as session:
        report = await deflection_report(session, since_days=30, now=runtime.clock.now())
    assert report["total"] == 3
    assert [(a["article_id"], a["deflections"]) for a in report["articles"]] == [
        (ids["refund-de"], 2),
        (ids["refund-en"], 1),
    ]

    await create_user(
        runtime, email="sup@example.com", name="Sam Sup", role="supervisor", password="sup-pw-123"
    )
    supervisor = {"Authorization": f"Bearer {await create_token(runtime, 'sup@example.com')}"}
    answer = await client.get("/api/v1/kb/deflections", params={"days": 60}, headers=supervisor)
    assert answer.status_code == 200 and answer.json()["total"] == 4
    assert answer.json()["articles"][0]["url"] == "/help/refund-de"
    bad = await client.get("/api/v1/kb/deflections", params={"days": 0}, headers=supervisor)
    assert bad.status_code == 400


async def test_the_article_page_shows_how_many_requests_it_solved(runtime, client, agent):
    ids = await load_kb_samples(lexical_only(runtime))
    for customer_id, key in ((7, "form-1-aaaaaaaaaaaaaa"), (8, "form-2-aaaaaaaaaaaaaa")):
        await deflect(runtime, ids["refund-en"], key, customer_id=customer_id)
    await sign_in(client)
    page = await client.get(f"/kb/{ids['refund-en']}")
    assert page.status_code == 200 and "solved 2 portal requests" in page.text


async def test_the_customers_data_export_and_erasure_reach_their_deflections(runtime):
    from tresen.personal_data import Export, Subject, holders

    ids = await load_kb_samples(lexical_only(runtime))
    await deflect(runtime, ids["refund-de"], "form-mine-aaaaaaaaaaa", customer_id=7)
    await deflect(runtime, ids["refund-en"], "form-other-aaaaaaaaaa", customer_id=8)
    [holder] = [h for h in holders() if h.name == "knowledge_base"]
    subject = Subject(customer_ids=(7,), identities=(("email", "kim@example.com"),))
    export = Export()
    async with runtime.read() as session:
        await holder.export(session, subject, export)
    [mine] = export.data["answered_by_articles"]
    assert mine["article_id"] == ids["refund-de"]
    async with runtime.transaction() as tx:
        assert await holder.erase(tx, subject, "anonymize") == {"deflections": 1}
    async with runtime.read() as session:
        owners = sorted(
            (await session.scalars(select(Deflection.customer_id))).all(), key=lambda x: x or 0
        )
    assert owners == [None, 8]


async def test_a_customer_counts_once_per_article_and_day_whatever_the_nonce(runtime):
    """The nonce is the browser's to choose: new forms do not inflate an article's count."""
    runtime.clock = FrozenClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    ids = await load_kb_samples(lexical_only(runtime))
    first = await deflect(runtime, ids["refund-de"], "form-1-aaaaaaaaaaaaaa", customer_id=7)
    for number in range(2, 6):
        again = await deflect(runtime, ids["refund-de"], f"form-{number}-aaaaaaaaaaaaaa")
        assert again == first
    await deflect(runtime, ids["refund-en"], "form-6-aaaaaaaaaaaaaa", customer_id=7)
    await deflect(runtime, ids["refund-de"], "form-7-aaaaaaaaaaaaaa", customer_id=8)
    await deflect(runtime, ids["refund-de"], "form-8-aaaaaaaaaaaaaa", customer_id=None)
    async with runtime.read() as session:
        assert await deflections_of(session, ids["refund-de"]) == 3
    runtime.clock.advance(timedelta(hours=15))  # the next day (UTC)
    await deflect(runtime, ids["refund-de"], "form-9-aaaaaaaaaaaaaa", customer_id=7)
    async with runtime.read() as session:
        assert await deflections_of(session, ids["refund-de"]) == 4


async def test_withdrawing_a_deflection_tells_the_consoles(runtime):
    ids = await load_kb_samples(lexical_only(runtime))
    await deflect(runtime, ids["refund-de"], "form-1-aaaaaaaaaaaaaa", customer_id=7)
    async with runtime.bus.subscribe() as events:
        async with runtime.transaction() as tx:
            assert await withdraw_deflection(tx, "form-1-aaaaaaaaaaaaaa")
        while True:
            event = await asyncio.wait_for(events.get(), 10)
            if event.type == "kb.deflected":
                break
    assert event.data == {"article_id": ids["refund-de"]}
