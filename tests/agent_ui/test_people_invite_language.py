"""An invitation speaks the invitee's language (chosen on the form, the desk's by default),
not the inviting administrator's: its mail, and the console they sign in to."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete, select

from tests.fixtures import csrf_of, sign_in
from tickets.models import OutboxMessage
from tresen import accounts
from tresen.models import User


@pytest.fixture
async def admin_client(app, runtime):
    # The administrator reads the console in English.
    await accounts.create_user(
        runtime, email="ada@example.com", name="Ada Admin", role="admin", password="admin-password"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await sign_in(client, "ada@example.com", "admin-password")).status_code == 303
        yield client


async def invite(client, email: str, **fields):
    page = await client.get("/admin/people")
    data = {"csrf_token": csrf_of(page.text), "email": email, "name": "Nina Neu", "role": "agent"}
    return await client.post("/admin/people", data={**data, "mail": "on", **fields})


async def outbox(runtime) -> list[OutboxMessage]:
    async with runtime.transaction() as tx:
        mails = list((await tx.session.scalars(select(OutboxMessage))).all())
        await tx.session.execute(delete(OutboxMessage))
    return mails


async def test_the_invitation_mail_speaks_the_invitees_language(admin_client, runtime):
    page = await admin_client.get("/admin/people")
    # The form offers the languages, the desk's (German by default) chosen.
    assert 'name="locale"' in page.text and '<option value="de" selected>' in page.text
    answer = await invite(admin_client, "nina@example.com", locale="de")
    assert answer.status_code == 201, answer.text
    [mail] = await outbox(runtime)
    assert mail.recipient == "nina@example.com"
    assert "Ada Admin hat Sie zum Service-Desk eingeladen" in mail.text
    assert "Ihre Einladung zum Service-Desk" in str(mail.subject)
    # The page answering the administrator stays in English.
    assert "on its way by e-mail too" in answer.text
    async with runtime.read() as session:
        nina = await session.scalar(select(User).where(User.email == "nina@example.com"))
    assert nina.locale == "de"

    # Invited again: the new link's mail in her language too.
    person = await admin_client.get(f"/admin/people/{nina.id}")
    again = await admin_client.post(
        f"/admin/people/{nina.id}/invite", data={"csrf_token": csrf_of(person.text), "mail": "on"}
    )
    assert again.status_code == 201
    [mail] = await outbox(runtime)
    assert "hat Sie zum Service-Desk eingeladen" in mail.text

    english = await invite(admin_client, "ed@example.com", locale="en")
    assert english.status_code == 201
    [mail] = await outbox(runtime)
    assert "Ada Admin invited you" in mail.text


async def test_without_a_choice_the_desks_language_and_a_bad_one_is_named(admin_client, runtime):
    answer = await invite(admin_client, "nina@example.com")
    assert answer.status_code == 201
    [mail] = await outbox(runtime)
    assert "hat Sie zum Service-Desk eingeladen" in mail.text  # the desk's default: de
    bad = await invite(admin_client, "kai@example.com", locale="xx")
    assert bad.status_code == 422 and "&#39;xx&#39; is not one of" in bad.text
    assert 'value="kai@example.com"' in bad.text  # what was typed stays


async def test_the_api_invites_in_a_language(client, admin_headers):
    body = {"email": "nina@example.com", "name": "Nina Neu", "role": "agent", "locale": "en"}
    answer = await client.post("/api/v1/users", json=body, headers=admin_headers)
    assert answer.status_code == 201 and answer.json()["user"]["locale"] == "en"
    body = {"email": "kai@example.com", "name": "Kai", "role": "agent"}
    answer = await client.post("/api/v1/users", json=body, headers=admin_headers)
    assert answer.json()["user"]["locale"] == "de"
    body = {"email": "lu@example.com", "name": "Lu", "role": "agent", "locale": "fr"}
    answer = await client.post("/api/v1/users", json=body, headers=admin_headers)
    assert answer.status_code == 422 and "'fr' is not one of" in answer.text
