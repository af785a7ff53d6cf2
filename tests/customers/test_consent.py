"""Consent per purpose with the source and time of every change; automatic mail asks it."""

from __future__ import annotations

from sqlalchemy import func, select

from channels.email.accounts import create_account
from customers import consent
from customers.actions import create_customer
from customers.merge import merge_customers
from customers.models import ConsentChange, Customer
from tests.fixtures import csrf_of, inbound_mail, sign_in
from tickets.inbox import deliver
from tickets.models import Message
from tickets.queues import create_queue
from tresen import rooms


async def _customer(runtime, name="Kim Meyer", email="kim@example.com") -> int:
    async with runtime.transaction() as tx:
        return (await create_customer(tx, name=name, identities=[("email", email)])).id


async def test_answers_are_kept_with_their_history_and_the_defaults_apply(runtime):
    kim = await _customer(runtime)
    async with runtime.read() as session:
        # Service messages until the customer objects; marketing only after they agreed.
        assert await consent.allows(session, kim, "service_mail")
        assert await consent.allows(session, kim, "sms")
        assert not await consent.allows(session, kim, "marketing")
        assert await rooms.may_contact(session, kim, "service_mail")
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, kim)
        changed = await consent.set_consent(
            tx, customer, {"marketing": True, "service_mail": False}, source="portal"
        )
        assert sorted(changed) == ["marketing", "service_mail"]
        # The same answer again changes nothing and writes no history.
        assert await consent.set_consent(tx, customer, {"marketing": True}, source="agent") == []
    async with runtime.read() as session:
        assert await consent.allows(session, kim, "marketing")
        assert not await rooms.may_contact(session, kim, "service_mail")
        history = await consent.history(session, kim)
    assert {(c.purpose, c.granted, c.source) for c in history} == {
        ("marketing", True, "portal"),
        ("service_mail", False, "portal"),
    }
    assert all(change.at is not None for change in history)


async def test_a_merged_record_answers_with_the_one_kept_and_unknown_ones_never(runtime):
    kim = await _customer(runtime)
    other = await _customer(runtime, "Kim M.", "kim.m@example.com")
    async with runtime.transaction() as tx:
        kept = await tx.session.get(Customer, kim)
        await consent.set_consent(tx, kept, {"service_mail": False}, source="agent")
        await merge_customers(tx, await tx.session.get(Customer, other), kept)
    async with runtime.read() as session:
        assert not await consent.allows(session, other, "service_mail")
        assert not await consent.allows(session, 999_999, "service_mail")


async def test_unknown_purposes_and_sources_are_refused(runtime):
    kim = await _customer(runtime)
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, kim)
        for answers, source, field in (
            ({"newsletter": True}, "portal", "purpose"),
            ({"marketing": True}, "fax", "source"),
        ):
            try:
                await consent.set_consent(tx, customer, answers, source=source)
            except consent.ConsentError as error:
                assert error.field == field
            else:
                raise AssertionError(f"{answers} from {source} was taken")


async def test_the_api_records_answers_as_from_the_api_and_refuses_unknown_ones(
    client, runtime, agent_headers
):
    kim = await _customer(runtime)
    answer = await client.put(
        f"/api/v1/customers/{kim}/consent", headers=agent_headers, json={"sms": False}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["consent"] == {"service_mail": True, "sms": False, "marketing": False}
    assert [(c["purpose"], c["source"]) for c in body["history"]] == [("sms", "api")]
    imported = await client.put(
        f"/api/v1/customers/{kim}/consent",
        headers=agent_headers,
        json={"marketing": True, "source": "import"},
    )
    assert imported.json()["history"][0]["source"] == "import"
    bad = await client.put(
        f"/api/v1/customers/{kim}/consent", headers=agent_headers, json={"newsletter": True}
    )
    assert bad.status_code == 422 and "newsletter" in bad.text
    bad_source = await client.put(
        f"/api/v1/customers/{kim}/consent", headers=agent_headers, json={"source": "portal"}
    )
    assert bad_source.status_code == 422
    patched = await client.patch(
        f"/api/v1/customers/{kim}", headers=agent_headers, json={"consent": {"fax": True}}
    )
    assert patched.status_code == 422 and "fax" in patched.text
    got = await client.get(f"/api/v1/customers/{kim}", headers=agent_headers)
    assert got.json()["consent"] == {"service_mail": True, "sms": False, "marketing": True}
    missing = await client.get("/api/v1/customers/999999/consent", headers=agent_headers)
    assert missing.status_code == 404


async def test_agents_see_and_change_consent_in_the_console(client, runtime, agent):
    kim = await _customer(runtime)
    await sign_in(client)
    page = await client.get(f"/customers/{kim}")
    assert "Service e-mails" in page.text and "not asked" in page.text
    edited = await client.post(
        f"/customers/{kim}/edit",
        data={
            "name": "Kim Meyer",
            "consent_shown": "1",
            "consent_service_mail": "on",
            "consent_sms": "on",
            "consent_marketing": "on",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert edited.status_code == 303
    async with runtime.read() as session:
        changes = (await session.scalars(select(ConsentChange))).all()
    # Only what the agent changed is recorded: marketing (the others said yes already).
    assert [(c.purpose, c.granted, c.source, c.actor_user_id) for c in changes] == [
        ("marketing", True, "agent", agent.id)
    ]
    page = await client.get(f"/customers/{kim}")
    assert "Consent changes" in page.text and "an agent" in page.text


async def test_no_confirmation_mail_to_a_customer_who_objected_to_service_mail(runtime):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True
        await create_account(tx, address="support@tresen.test", queue_id=queue.id)
        queue_id = queue.id
    kim = await _customer(runtime)
    await deliver(runtime, inbound_mail("<one@x>").model_copy(update={"queue_id": queue_id}))
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, kim)
        await consent.set_consent(tx, customer, {"service_mail": False}, source="portal")
    await deliver(
        runtime,
        inbound_mail("<two@x>", subject="Noch etwas").model_copy(update={"queue_id": queue_id}),
    )
    async with runtime.read() as session:
        confirmations = await session.scalar(
            select(func.count(Message.id)).where(Message.auto_submitted == "auto-replied")
        )
    assert confirmations == 1  # the first ticket's only


async def test_the_old_key_email_marketing_is_taken_as_marketing(client, runtime, agent_headers):
    """Clients of before consent by purpose sent "email_marketing": still understood; a
    key that means no purpose of today is refused with today's purposes named."""
    kim = await _customer(runtime)
    answer = await client.put(
        f"/api/v1/customers/{kim}/consent", headers=agent_headers, json={"email_marketing": True}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["consent"]["marketing"] is True
    assert [c["purpose"] for c in answer.json()["history"]] == ["marketing"]
    patched = await client.patch(
        f"/api/v1/customers/{kim}",
        headers=agent_headers,
        json={"consent": {"email_marketing": True, "marketing": False}},  # today's name wins
    )
    assert patched.status_code == 200 and patched.json()["consent"]["marketing"] is False
    made = await client.post(
        "/api/v1/customers",
        headers=agent_headers,
        json={"name": "Lea", "consent": {"email_marketing": True, "sms": False}},
    )
    assert made.status_code == 201, made.text
    assert made.json()["consent"] == {"service_mail": True, "sms": False, "marketing": True}
    old = await client.patch(
        f"/api/v1/customers/{kim}", headers=agent_headers, json={"consent": {"phone_calls": True}}
    )
    assert old.status_code == 422
    assert "phone_calls" in old.text and "service_mail, sms, marketing" in old.text
