"""People over the API: administrators list, invite and change staff; an invitation sets a
password once within its week; a deactivated user's token is refused at once; tokens are
listed and revoked by their owner and by administrators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures import csrf_of, sign_in
from tresen import accounts
from tresen.clock import FrozenClock
from tresen.invites import UserInvite


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def invite(client, admin_headers, **fields) -> dict:
    body = {"email": "nina@example.com", "name": "Nina Neu", "role": "agent", "locale": "en"}
    body.update(fields)
    answer = await client.post("/api/v1/users", json=body, headers=admin_headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def set_password(client, link: str, password: str, repeat: str | None = None):
    path = link.removeprefix("http://127.0.0.1:8000")
    page = await client.get("/login")  # the session's CSRF token, whatever the link's state
    return await client.post(
        path,
        data={
            "password": password,
            "repeat": password if repeat is None else repeat,
            "csrf_token": csrf_of(page.text),
        },
    )


async def test_an_admin_invites_an_agent_who_sets_a_password_once(client, runtime, admin_headers):
    made = await invite(client, admin_headers)
    assert made["user"]["email"] == "nina@example.com" and not made["user"]["has_password"]
    assert made["invite_link"].startswith("http://127.0.0.1:8000/invite/inv_")
    assert made["expires_in_days"] == 7
    listed = (await client.get("/api/v1/users", headers=admin_headers)).json()["items"]
    nina = next(item for item in listed if item["email"] == "nina@example.com")
    assert nina["invite_expires_at"] and nina["role"] == "agent" and nina["active"]
    # Only the hash is kept.
    async with runtime.read() as session:
        stored = await session.scalar(select(UserInvite.token_hash))
    assert made["invite_link"].rsplit("/", 1)[1] not in stored

    path = made["invite_link"].removeprefix("http://127.0.0.1:8000")
    page = await client.get(path)
    assert page.status_code == 200
    assert "New password" in page.text and "Repeat password" in page.text
    differ = await set_password(client, made["invite_link"], "nina-password", "nina-passwort")
    assert differ.status_code == 422 and "The two passwords differ." in differ.text
    short = await set_password(client, made["invite_link"], "short")
    assert short.status_code == 422 and "at least 8 characters" in short.text

    done = await set_password(client, made["invite_link"], "nina-password")
    assert done.status_code == 303 and done.headers["location"] == "/"
    # Signed in at once: the console opens.
    assert (await client.get("/")).status_code == 200
    assert await accounts.authenticate(runtime, "nina@example.com", "nina-password")

    again = await client.get(path)
    assert again.status_code == 410 and "used already" in again.text
    client.cookies.clear()
    reused = await set_password(client, made["invite_link"], "other-password")
    assert reused.status_code == 410
    assert await accounts.authenticate(runtime, "nina@example.com", "other-password") is None


async def test_an_invitation_expires_after_seven_days(client, runtime, admin_headers):
    runtime.clock = FrozenClock(datetime.now(UTC))
    made = await invite(client, admin_headers)
    path = made["invite_link"].removeprefix("http://127.0.0.1:8000")
    runtime.clock.advance(timedelta(days=7, seconds=1))
    page = await client.get(path)
    assert page.status_code == 410 and "expired" in page.text
    assert (await set_password(client, made["invite_link"], "nina-password")).status_code == 410
    # A new invitation works, and the old link stays dead.
    user_id = made["user"]["id"]
    renewed = await client.post(f"/api/v1/users/{user_id}/invite", headers=admin_headers)
    assert renewed.status_code == 201
    assert (await client.get(path)).status_code == 404  # replaced: no longer a link at all
    done = await set_password(client, renewed.json()["invite_link"], "nina-password")
    assert done.status_code == 303


async def test_a_new_invitation_replaces_the_unused_one(client, runtime, admin_headers):
    made = await invite(client, admin_headers)
    user_id = made["user"]["id"]
    renewed = await client.post(f"/api/v1/users/{user_id}/invite", headers=admin_headers)
    first = made["invite_link"].removeprefix("http://127.0.0.1:8000")
    assert (await client.get(first)).status_code == 404
    async with runtime.read() as session:
        assert await session.scalar(select(func.count(UserInvite.id))) == 1
    assert (await client.get("/invite/inv_nothing")).status_code == 404
    assert (await client.get("/invite/" + "x" * 5000)).status_code == 404
    assert renewed.json()["user"]["id"] == user_id


@pytest.mark.parametrize(
    "body, status, named",
    [
        ({"email": "not-an-address", "name": "X", "role": "agent"}, 422, "not-an-address"),
        ({"email": "x@example.com", "name": "X", "role": "boss"}, 422, "boss"),
        ({"email": "x@example.com", "name": " ", "role": "agent"}, 422, "name"),
        ({"email": "admin@example.com", "name": "X", "role": "agent"}, 409, "exists already"),
        ({"email": "x@example.com", "name": "X"}, 422, "role"),
    ],
)
async def test_bad_invitations_are_named(client, admin_headers, body, status, named):
    answer = await client.post("/api/v1/users", json=body, headers=admin_headers)
    assert answer.status_code == status and named in answer.json()["error"], answer.text


async def test_an_admin_changes_and_deactivates_a_user(client, runtime, admin_headers, agent):
    token = await accounts.create_token(runtime, agent.email, name="script")
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
    assert (await sign_in(client, agent.email, "agent-password")).status_code == 303
    assert (await client.get("/")).status_code == 200

    changed = await client.patch(
        f"/api/v1/users/{agent.id}",
        json={"name": "Anna Berger", "role": "supervisor"},
        headers=admin_headers,
    )
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["role"]) == ("Anna Berger", "supervisor")
    assert (await client.get("/board")).status_code == 200  # the new role counts at once

    off = await client.patch(
        f"/api/v1/users/{agent.id}", json={"active": False}, headers=admin_headers
    )
    assert off.status_code == 200 and off.json()["active"] is False
    # Her open session and her token stop at once.
    answer = await client.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    refused = await client.get("/api/v1/tickets", headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["error"] == "token's user is deactivated"

    on = await client.patch(
        f"/api/v1/users/{agent.id}", json={"active": True}, headers=admin_headers
    )
    assert on.json()["active"] is True
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200


async def test_the_last_admin_stays_an_active_admin(client, runtime, admin_headers):
    async with runtime.read() as session:
        from tresen.models import User

        admin_id = await session.scalar(select(User.id).where(User.email == "admin@example.com"))
    for body in ({"role": "agent"}, {"active": False}):
        answer = await client.patch(f"/api/v1/users/{admin_id}", json=body, headers=admin_headers)
        assert answer.status_code == 422 and "last active administrator" in answer.json()["error"]
    missing = await client.patch("/api/v1/users/4711", json={"name": "X"}, headers=admin_headers)
    assert missing.status_code == 404
    bad = await client.patch(f"/api/v1/users/{admin_id}", json={"role": 7}, headers=admin_headers)
    assert bad.status_code == 422


async def test_tokens_are_listed_and_revoked_by_owner_and_admin(
    client, runtime, admin_headers, agent
):
    await accounts.create_user(
        runtime, email="bo@example.com", name="Bo", role="agent", password="bo-password"
    )
    mine = await accounts.create_token(runtime, agent.email, name="mine", expires_days=30)
    spare = await accounts.create_token(runtime, agent.email, name="spare")
    bos = await accounts.create_token(runtime, "bo@example.com", name="bos")

    listed = (await client.get("/api/v1/tokens", headers=bearer(mine))).json()["items"]
    assert [t["name"] for t in listed] == ["mine", "spare"]
    assert listed[0]["expires_at"] and listed[0]["last_used_at"] and not listed[0]["revoked"]
    assert all(mine not in str(t) for t in listed)
    everyone = (await client.get("/api/v1/tokens", headers=admin_headers)).json()["items"]
    assert {t["name"] for t in everyone} >= {"mine", "spare", "bos"}
    bo_id = (await client.get("/api/v1/users", headers=admin_headers)).json()["items"]
    bo_id = next(u["id"] for u in bo_id if u["email"] == "bo@example.com")
    only_bo = await client.get(f"/api/v1/tokens?user={bo_id}", headers=admin_headers)
    assert [t["name"] for t in only_bo.json()["items"]] == ["bos"]
    nosy = await client.get(f"/api/v1/tokens?user={bo_id}", headers=bearer(mine))
    assert nosy.status_code == 403

    bos_id = only_bo.json()["items"][0]["id"]
    # Someone else's token is not found for an agent (and stays valid).
    assert (
        await client.delete(f"/api/v1/tokens/{bos_id}", headers=bearer(mine))
    ).status_code == 404
    assert (await client.get("/api/v1/tickets", headers=bearer(bos))).status_code == 200
    # The owner revokes their own; an administrator anyone's.
    assert (await client.delete(f"/api/v1/tokens/{listed[1]['id']}", headers=bearer(mine))).json()[
        "revoked"
    ]
    assert (await client.get("/api/v1/tickets", headers=bearer(spare))).status_code == 401
    assert (
        await client.delete(f"/api/v1/tokens/{bos_id}", headers=admin_headers)
    ).status_code == 200
    assert (await client.get("/api/v1/tickets", headers=bearer(bos))).status_code == 401


async def test_sign_out_everywhere_ends_the_sessions_not_the_token(client, runtime, agent):
    token = await accounts.create_token(runtime, agent.email)
    assert (await sign_in(client, agent.email, "agent-password")).status_code == 303
    answer = await client.post("/api/v1/users/me/sign-out-everywhere", headers=bearer(token))
    assert answer.status_code == 200
    assert (await client.get("/")).headers["location"].startswith("/login")
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200


async def test_with_two_factor_required_the_invited_set_it_up_first(client, runtime, admin_headers):
    from sqlalchemy import update

    from tresen.desk_settings import put_setting
    from tresen.models import User

    async with runtime.transaction() as tx:
        await put_setting(tx, "require_two_factor", True)
        # The administrator's token works only once they have set it up themselves.
        await tx.session.execute(
            update(User).where(User.email == "admin@example.com").values(totp_enabled_at=tx.now())
        )
    made = await invite(client, admin_headers)
    done = await set_password(client, made["invite_link"], "nina-password")
    assert done.status_code == 303 and done.headers["location"] == "/account/two-factor"
