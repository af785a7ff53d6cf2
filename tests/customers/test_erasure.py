"""Erasure (GDPR Art. 17): after it, nothing that identifies the customer is left in any
table or in any file of the data folder; everyone else's data is untouched."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from customers import erasure
from customers.models import Customer, DataAudit, DataRequest
from tests.customers.data_rights import (
    KIM_NAME,
    OLGA_EMAIL,
    customer_exists,
    database_texts,
    files_containing,
    leftovers,
    make_people,
)
from tests.fixtures import csrf_of, sign_in
from tickets.models import Message, Ticket


@pytest.mark.parametrize("mode", ["anonymize", "delete"])
async def test_nothing_of_an_erased_customer_is_left_anywhere(
    client, runtime, admin_headers, settings, mode
):
    people = await make_people(client, runtime, admin_headers)
    needles = people.needles
    # Before: the search finds them (so it would find a leftover).
    assert leftovers(await database_texts(runtime), needles)
    async with runtime.transaction() as tx:
        await erasure.request_erasure(tx, people.kim, source="portal")
    if mode == "anonymize":  # the setting's default, through the API
        answer = await client.post(f"/api/v1/customers/{people.kim}/erasure", headers=admin_headers)
        assert answer.status_code == 200, answer.text
        counts = answer.json()
    else:
        counts = await erasure.erase(
            runtime, people.kim, source="console", actor_user_id=None, mode="delete"
        )
    assert counts["mode"] == mode and counts["tickets"] == 2 and counts["chat_sessions"] == 1
    assert leftovers(await database_texts(runtime), needles) == []
    assert files_containing(settings.data_dir, needles) == []
    # Olga's data is all there.
    texts = await database_texts(runtime)
    assert leftovers(texts, [OLGA_EMAIL, "Olga fragt nach ihrem Vertrag"])
    assert files_containing(settings.data_dir, [OLGA_EMAIL]) or runtime.settings.is_postgres
    async with runtime.read() as session:
        olga = await session.get(Ticket, people.olga_ticket)
        assert olga.subject == "Olgas Frage"
        kept = await session.get(Ticket, people.email_ticket)
        audit = (await session.scalars(select(DataAudit))).all()
        request = await session.scalar(select(DataRequest))
        if mode == "anonymize":
            # Counted in the statistics still: the tickets and their messages, emptied.
            assert kept is not None and kept.channel == "email" and kept.subject == "[erased]"
            messages = await session.scalar(
                select(func.count()).where(Message.ticket_id == people.email_ticket)
            )
            assert messages == 3
            record = await session.get(Customer, people.kim)
            assert record.erased_at is not None and record.identities == []
        else:
            assert kept is None and not await customer_exists(runtime, people.kim)
    # The request is done; the audit entry names the record's number and counts only.
    assert request.status == "done"
    assert [(a.action, a.customer_id) for a in audit] == [("erasure", people.kim)]
    assert KIM_NAME not in str(audit[0].details)
    # An erased record is gone for the API.
    again = await client.get(f"/api/v1/customers/{people.kim}/export", headers=admin_headers)
    assert again.status_code == 404


async def test_erasure_requests_are_listed_rejected_and_refused_to_agents(
    client, runtime, admin_headers, agent_headers
):
    people = await make_people(client, runtime, admin_headers)
    asked = await client.post(
        f"/api/v1/customers/{people.kim}/erasure-requests", headers=agent_headers
    )
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    again = await client.post(
        f"/api/v1/customers/{people.kim}/erasure-requests", headers=agent_headers
    )
    assert again.json()["id"] == asked.json()["id"]  # one pending request at a time
    listed = await client.get("/api/v1/data-requests", headers=admin_headers)
    assert [r["customer_name"] for r in listed.json()["items"]] == [KIM_NAME]
    assert (await client.get("/api/v1/data-requests", headers=agent_headers)).status_code == 403
    bad = await client.get("/api/v1/data-requests?status=maybe", headers=admin_headers)
    assert bad.status_code == 400 and "maybe" in bad.text
    refused = await client.post(f"/api/v1/customers/{people.kim}/erasure", headers=agent_headers)
    assert refused.status_code == 403
    rejected = await client.post(
        f"/api/v1/data-requests/{asked.json()['id']}/reject", headers=admin_headers
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    twice = await client.post(
        f"/api/v1/data-requests/{asked.json()['id']}/reject", headers=admin_headers
    )
    assert twice.status_code == 409
    assert (
        await client.post("/api/v1/data-requests/999999/reject", headers=admin_headers)
    ).status_code == 404
    assert await customer_exists(runtime, people.kim)


async def test_administrators_export_decline_and_erase_in_the_console(
    client, runtime, admin_headers
):
    people = await make_people(client, runtime, admin_headers)
    async with runtime.transaction() as tx:
        request = await erasure.request_erasure(tx, people.kim, source="api")
        request_id = request.id
    await sign_in(client, "admin@example.com", "admin-password")
    page = await client.get(f"/customers/{people.kim}")
    assert "Download their data" in page.text and "Erase this customer" in page.text
    download = await client.get(f"/customers/{people.kim}/export")
    assert download.status_code == 200 and download.content.startswith(b"PK")
    listed = await client.get("/admin/data-requests")
    assert KIM_NAME in listed.text and "the API" in listed.text
    declined = await client.post(
        f"/admin/data-requests/{request_id}/reject", data={"csrf_token": csrf_of(listed.text)}
    )
    assert declined.status_code == 303
    again = await client.post(
        f"/admin/data-requests/{request_id}/reject", data={"csrf_token": csrf_of(listed.text)}
    )
    assert again.status_code == 409
    assert "declined" in (await client.get("/admin/data-requests?status=rejected")).text
    # A request by letter: erased straight from the customer's page.
    erased = await client.post(
        f"/customers/{people.kim}/erase",
        data={"csrf_token": csrf_of(page.text), "confirm": str(people.kim)},
    )
    assert erased.status_code == 303
    async with runtime.read() as session:
        audit = (await session.scalars(select(DataAudit).order_by(DataAudit.id))).all()
    assert [(a.action, a.source) for a in audit] == [("export", "console"), ("erasure", "console")]
    assert (await client.get(f"/customers/{people.kim}/export")).status_code == 404
