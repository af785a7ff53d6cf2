"""My data in the portal: consent by purpose, "Download my data" (the record's own data
only, never an organization colleague's), "Delete my account" confirmed by an
administrator in the console."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import httpx
from sqlalchemy import func, select

from customers.actions import create_customer, create_organization, set_organization_role
from customers.models import ConsentChange, Customer, DataAudit, DataRequest
from tests.fixtures import csrf_of, inbound_mail, sign_in
from tickets.inbox import deliver
from tresen.accounts import create_user


async def test_the_customer_chooses_what_we_may_send_them(portal_client, runtime):
    page = await portal_client.get("/portal/data")
    assert page.status_code == 200
    assert "What we may send you" in page.text and "Download my data" in page.text
    saved = await portal_client.post(
        "/portal/data/consent",
        data={
            "service_mail": "no",
            "sms": "yes",
            "marketing": "yes",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/portal/data"
    async with runtime.read() as session:
        changes = (await session.scalars(select(ConsentChange))).all()
    assert {(c.purpose, c.granted, c.source) for c in changes} == {
        ("service_mail", False, "portal"),
        ("sms", True, "portal"),
        ("marketing", True, "portal"),
    }
    page = await portal_client.get("/portal/data")
    assert "Your choices were saved." in page.text and "Changes so far" in page.text
    assert 'name="marketing" value="yes" aria-describedby="marketing-help" checked' in page.text


async def test_the_download_holds_the_record_and_not_the_organizations_tickets(
    portal_client, portal_customer, runtime
):
    async with runtime.transaction() as tx:
        org = await create_organization(tx, name="Meyer GmbH")
        kim = await tx.session.get(Customer, portal_customer.id)
        kim.organization_id = org.id
        await set_organization_role(tx, kim, "manager")
        await create_customer(
            tx,
            name="Carl Colleague",
            identities=[("email", "carl@example.com")],
            organization_id=org.id,
        )
    await deliver(runtime, inbound_mail("<kim-1@x>", subject="Kims Drucker"))
    await deliver(
        runtime,
        inbound_mail(
            "<carl-1@x>",
            subject="Carls Frage",
            **{"from": {"kind": "email", "value": "carl@example.com", "name": "Carl"}},
        ),
    )
    answer = await portal_client.get("/portal/data/export")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(answer.content)).read("data.json"))
    assert data["customer"]["name"] == "Kim Meyer"
    assert [t["subject"] for t in data["tickets"]] == ["Kims Drucker"]
    assert "carl" not in answer.content.decode("latin-1").lower()


async def test_delete_my_account_is_asked_withdrawn_asked_and_confirmed_by_an_administrator(
    app, portal_client, portal_customer, runtime
):
    page = await portal_client.get("/portal/data")
    token = csrf_of(page.text)
    unconfirmed = await portal_client.post("/portal/data/erasure", data={"csrf_token": token})
    assert unconfirmed.status_code == 303
    assert "tick the box" in (await portal_client.get("/portal/data")).text
    asked = await portal_client.post(
        "/portal/data/erasure", data={"csrf_token": token, "confirm": "yes"}
    )
    assert asked.status_code == 303
    page = await portal_client.get("/portal/data")
    assert "We received your request" in page.text and "Withdraw my request" in page.text
    await portal_client.post("/portal/data/erasure/withdraw", data={"csrf_token": token})
    assert "your account stays" in (await portal_client.get("/portal/data")).text
    await portal_client.post("/portal/data/erasure", data={"csrf_token": token, "confirm": "yes"})
    async with runtime.read() as session:
        requests = (await session.scalars(select(DataRequest).order_by(DataRequest.id))).all()
    assert [(r.status, r.source) for r in requests] == [
        ("withdrawn", "portal"),
        ("pending", "portal"),
    ]
    # An administrator sees it and confirms it (typing the record's number).
    await create_user(
        runtime, email="admin@example.com", name="Ada", role="admin", password="admin-password"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as console:
        await sign_in(console, "admin@example.com", "admin-password")
        listed = await console.get("/admin/data-requests")
        assert "Kim Meyer" in listed.text and "the customer (portal)" in listed.text
        customer_page = await console.get(f"/customers/{portal_customer.id}")
        assert "The customer asked to be erased" in customer_page.text
        wrong = await console.post(
            f"/customers/{portal_customer.id}/erase",
            data={"csrf_token": csrf_of(listed.text), "confirm": "0"},
        )
        assert wrong.status_code == 422
        done = await console.post(
            f"/customers/{portal_customer.id}/erase",
            data={"csrf_token": csrf_of(listed.text), "confirm": str(portal_customer.id)},
        )
        assert done.status_code == 303
        assert "was erased" in (await console.get("/admin/data-requests?status=done")).text
    async with runtime.read() as session:
        assert (await session.get(Customer, portal_customer.id)).erased_at is not None
    # The customer's session ended with the record.
    after = await portal_client.get("/portal/data")
    assert after.status_code == 303 and after.headers["location"].startswith("/portal/sign-in")


async def test_my_data_needs_a_signed_in_customer(client):
    answer = await client.get("/portal/data/export")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/sign-in")


async def test_my_data_speaks_german_to_a_german_browser(portal_client):
    page = await portal_client.get("/portal/data", headers={"accept-language": "de-DE,de;q=0.9"})
    assert "Was wir Ihnen senden dürfen" in page.text and "Meine Daten herunterladen" in page.text
    assert 'lang="de"' in page.text


async def test_a_few_downloads_an_hour_are_enough(portal_client):
    for _ in range(5):
        assert (await portal_client.get("/portal/data/export")).status_code == 200
    refused = await portal_client.get("/portal/data/export")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
    assert "try again later" in refused.text


async def test_downloads_sent_at_once_cannot_get_past_the_limit(portal_client, runtime):
    """Twelve downloads at once: at most five are made (and audited), the rest told to wait."""
    answers = await asyncio.gather(*(portal_client.get("/portal/data/export") for _ in range(12)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * 5 + [429] * 7
    async with runtime.read() as session:
        audited = await session.scalar(
            select(func.count(DataAudit.id)).where(DataAudit.action == "export")
        )
    assert audited == 5
