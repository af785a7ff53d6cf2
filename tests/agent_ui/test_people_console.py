"""/admin/people over HTTP: an administrator invites with queues, skills and capacity, edits
a person (what was typed stays on an error), deactivates and reactivates them, sees and
revokes their tokens; everyone makes and revokes their own tokens at /account/tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from routing.models import AgentProfile, QueueMember
from tests.fixtures import csrf_of, sign_in
from tickets.models import OutboxMessage
from tickets.queues import create_queue
from tresen import accounts
from tresen.models import User


@pytest.fixture
async def admin_client(app, runtime):
    await accounts.create_user(
        runtime, email="ada@example.com", name="Ada Admin", role="admin", password="admin-password"
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await sign_in(client, "ada@example.com", "admin-password")).status_code == 303
        yield client


async def queue_ids(runtime) -> dict[str, int]:
    async with runtime.transaction() as tx:
        return {name: (await create_queue(tx, name=name)).id for name in ("Billing", "Hardware")}


async def test_an_admin_invites_with_queues_skills_and_capacity(admin_client, runtime):
    queues = await queue_ids(runtime)
    page = await admin_client.get("/admin/people")
    assert page.status_code == 200 and "Ada Admin" in page.text and "Invite someone" in page.text
    answer = await admin_client.post(
        "/admin/people",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "nina@example.com",
            "name": "Nina Neu",
            "role": "agent",
            "queues": [str(queues["Billing"])],
            "skills": "billing, returns",
            "languages": "de, EN",
            "capacity": "6",
            "locale": "en",
            "mail": "on",
        },
    )
    assert answer.status_code == 201 and "on its way by e-mail too" in answer.text
    link = re.search(r'value="(http://127\.0\.0\.1:8000/invite/inv_[^"]+)"', answer.text)
    assert link, answer.text
    async with runtime.read() as session:
        nina = await session.scalar(select(User).where(User.email == "nina@example.com"))
        profile = await session.get(AgentProfile, nina.id)
        members = (await session.execute(select(QueueMember.queue_id, QueueMember.user_id))).all()
    assert nina.password_hash is None and nina.role == "agent"
    assert profile.capacity == 6
    assert profile.skills == ["billing", "lang:de", "lang:en", "returns"]
    assert members == [(queues["Billing"], nina.id)]
    # The link went to the outbox too, for her address.
    async with runtime.read() as session:
        [mail] = (await session.scalars(select(OutboxMessage))).all()
    assert mail.recipient == "nina@example.com" and link.group(1) in mail.text
    assert "Ada Admin invited you" in mail.text
    listed = await admin_client.get("/admin/people")
    assert re.search(r"nina@example\.com</td>\s*<td>Agent</td>\s*<td>invited until", listed.text)


async def test_a_bad_invitation_keeps_what_was_typed(admin_client, runtime):
    page = await admin_client.get("/admin/people")
    answer = await admin_client.post(
        "/admin/people",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "ada@example.com",
            "name": "Second Ada",
            "role": "supervisor",
            "skills": "billing",
            "capacity": "many",
            "mail": "on",
        },
    )
    assert answer.status_code == 422
    assert "Capacity: many is not a whole number" in answer.text
    assert 'value="Second Ada"' in answer.text and 'value="billing"' in answer.text
    assert re.search(r'<option value="supervisor"\s+selected>', answer.text)
    again = await admin_client.post(
        "/admin/people",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "ada@example.com",
            "name": "A",
            "role": "agent",
        },
    )
    assert again.status_code == 422 and "exists already" in again.text
    async with runtime.read() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []


async def test_an_admin_edits_deactivates_and_reactivates(admin_client, app, runtime, agent):
    queues = await queue_ids(runtime)
    token = await accounts.create_token(runtime, agent.email, name="anna-script")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anna:
        assert (await sign_in(anna, agent.email, "agent-password")).status_code == 303
        page = await admin_client.get(f"/admin/people/{agent.id}")
        assert page.status_code == 200 and "anna-script" in page.text
        csrf = csrf_of(page.text)
        saved = await admin_client.post(
            f"/admin/people/{agent.id}",
            data={
                "csrf_token": csrf,
                "name": "Anna Berger",
                "role": "supervisor",
                "queues": [str(queues["Hardware"])],
                "skills": "hardware",
                "languages": "de",
                "capacity": "",
                "chat_capacity": "2",
            },
        )
        assert saved.status_code == 303
        page = await admin_client.get(saved.headers["location"])
        assert 'value="Anna Berger"' in page.text and 'value="hardware"' in page.text
        async with runtime.read() as session:
            profile = await session.get(AgentProfile, agent.id)
            user = await session.get(User, agent.id)
        assert (profile.capacity, profile.chat_capacity) == (None, 2)
        assert profile.skills == ["hardware", "lang:de"] and user.role == "supervisor"

        bad = await admin_client.post(
            f"/admin/people/{agent.id}",
            data={"csrf_token": csrf, "name": "Anna B.", "role": "agent", "chat_capacity": "-1"},
        )
        assert bad.status_code == 422 and 'value="Anna B."' in bad.text

        assert (await anna.get("/")).status_code == 200
        off = await admin_client.post(
            f"/admin/people/{agent.id}/active", data={"csrf_token": csrf, "do": "deactivate"}
        )
        assert off.status_code == 303
        assert "sessions have ended" in (await admin_client.get(off.headers["location"])).text
        gone = await anna.get("/")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        headers = {"Authorization": f"Bearer {token}"}
        assert (await anna.get("/api/v1/tickets", headers=headers)).status_code == 401

        on = await admin_client.post(
            f"/admin/people/{agent.id}/active", data={"csrf_token": csrf, "do": "reactivate"}
        )
        assert on.status_code == 303
        assert (await anna.get("/api/v1/tickets", headers=headers)).status_code == 200
        renewed = await admin_client.post(
            f"/admin/people/{agent.id}/invite", data={"csrf_token": csrf}
        )
        assert renewed.status_code == 201 and "/invite/inv_" in renewed.text

        # The administrator revokes Anna's token from her page.
        [listed] = await accounts.list_tokens(runtime, agent.email)
        revoked = await admin_client.post(
            f"/account/tokens/{listed.id}/revoke", data={"csrf_token": csrf}
        )
        assert revoked.headers["location"] == f"/admin/people/{agent.id}?saved=revoked"
        assert (await anna.get("/api/v1/tickets", headers=headers)).status_code == 401


async def test_the_last_admin_cannot_be_deactivated(admin_client, runtime):
    page = await admin_client.get("/admin/people")
    ada = re.search(r'href="/admin/people/(\d+)">Ada Admin', page.text).group(1)
    answer = await admin_client.post(
        f"/admin/people/{ada}/active", data={"csrf_token": csrf_of(page.text), "do": "deactivate"}
    )
    assert answer.status_code == 409 and "last active administrator" in answer.text
    missing = await admin_client.post(
        "/admin/people/4711/active", data={"csrf_token": csrf_of(page.text), "do": "deactivate"}
    )
    assert missing.status_code == 404


async def test_everyone_makes_and_revokes_their_own_tokens(client, runtime, agent):
    assert (await sign_in(client, agent.email, "agent-password")).status_code == 303
    page = await client.get("/account/tokens")
    assert page.status_code == 200 and "No API tokens." in page.text
    made = await client.post(
        "/account/tokens",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "shop",
            "expires_days": "30",
            "scopes": ["integration"],
        },
    )
    assert made.status_code == 201
    token = re.search(r'value="(trs_[^"]+)"', made.text).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/tickets", headers=headers)).status_code == 200
    listed = await client.get("/account/tokens")
    assert "shop" in listed.text and "integration" in listed.text and token not in listed.text
    [info] = await accounts.list_tokens(runtime, agent.email)
    assert info.expires_at is not None and info.scopes == ("integration",)

    bad = await client.post(
        "/account/tokens",
        data={"csrf_token": csrf_of(page.text), "name": "x", "expires_days": "soon"},
    )
    assert bad.status_code == 422 and "soon" in bad.text
    root = await client.post(
        "/account/tokens",
        data={"csrf_token": csrf_of(page.text), "name": "x", "scopes": ["root"]},
    )
    assert root.status_code == 422 and "root" in root.text

    # Another's token is nothing to an agent.
    await accounts.create_user(
        runtime, email="bo@example.com", name="Bo", role="agent", password="bo-password"
    )
    await accounts.create_token(runtime, "bo@example.com", name="bos")
    bos = [t for t in await accounts.list_tokens(runtime) if t.name == "bos"][0]
    csrf = csrf_of(page.text)
    nosy = await client.post(f"/account/tokens/{bos.id}/revoke", data={"csrf_token": csrf})
    assert nosy.status_code == 404
    own = await client.post(f"/account/tokens/{info.id}/revoke", data={"csrf_token": csrf})
    assert own.headers["location"] == "/account/tokens?saved=revoked"
    assert (await client.get("/api/v1/tickets", headers=headers)).status_code == 401
    assert "The token is revoked." in (await client.get(own.headers["location"])).text


async def test_an_admin_turns_off_a_lost_two_factor_sign_in(admin_client, runtime, agent):
    import pyotp

    from tresen import totp

    enrolment = await totp.start_enrolment(runtime, agent.id)
    await totp.confirm_enrolment(runtime, agent.id, pyotp.TOTP(enrolment.secret).now())
    page = await admin_client.get("/admin/people")
    assert re.search(rf'id="person-{agent.id}"[^>]*>(?:(?!</tr>).)*<td>on</td>', page.text, re.S)
    page = await admin_client.get(f"/admin/people/{agent.id}")
    assert "two-factor sign-in on" in page.text
    answer = await admin_client.post(
        f"/admin/people/{agent.id}/two-factor", data={"csrf_token": csrf_of(page.text)}
    )
    assert answer.status_code == 303
    page = await admin_client.get(answer.headers["location"])
    assert "Two-factor sign-in is off for Anna Agent." in page.text
    assert "Turn two-factor sign-in off" not in page.text
    async with runtime.read() as session:
        assert not totp.is_enrolled(await session.get(User, agent.id))
    missing = await admin_client.post(
        "/admin/people/4711/two-factor", data={"csrf_token": csrf_of(page.text)}
    )
    assert missing.status_code == 404


async def test_the_people_page_shows_each_ones_last_sign_in(admin_client, runtime):
    await accounts.create_user(
        runtime, email="kim@example.com", name="Kim Never", role="agent", password="kim-password"
    )
    async with runtime.read() as session:
        admin = await session.scalar(select(User).where(User.email == "ada@example.com"))
        kim = await session.scalar(select(User).where(User.email == "kim@example.com"))
    assert admin.last_sign_in_at is not None  # the fixture signed in
    assert kim.last_sign_in_at is None
    page = (await admin_client.get("/admin/people")).text
    row = page[page.index(f'id="person-{kim.id}"') :]
    assert "never" in row[: row.index("</tr>")]
