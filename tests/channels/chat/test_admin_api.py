"""Chat channels through the REST API: administrators only, the identity secret answered
once (when made or rotated) and never again, bad values named."""

from __future__ import annotations

from sqlalchemy import select

from channels.chat.actions import identity_secret
from channels.chat.models import ChatChannel

SHOP = "https://shop.example.com"


async def test_admin_adds_lists_changes_and_rotates_a_chat_channel(client, admin_headers, runtime):
    queue = (
        await client.post("/api/v1/queues", headers=admin_headers, json={"name": "Chats"})
    ).json()
    created = await client.post(
        "/api/v1/chat/channels",
        headers=admin_headers,
        json={
            "name": "Shop",
            "allowed_origins": ["HTTPS://Shop.Example.com"],
            "queue_id": queue["id"],
            "prechat": {"email": "required"},
        },
    )
    assert created.status_code == 201, created.text
    channel = created.json()
    secret = channel["identity_secret"]
    assert channel["allowed_origins"] == [SHOP] and channel["queue_id"] == queue["id"]
    assert channel["prechat"] == {"name": "optional", "email": "required"}
    assert channel["snippet"] == (
        f'<script src="{runtime.settings.base_url}/chat/widget.js" '
        f'data-channel="{channel["public_key"]}" async></script>'
    )
    async with runtime.read() as session:
        row = await session.scalar(select(ChatChannel))
    assert identity_secret(runtime.settings, row) == secret

    # Shown once: no later answer holds it.
    listed = await client.get("/api/v1/chat/channels", headers=admin_headers)
    one = await client.get(f"/api/v1/chat/channels/{channel['id']}", headers=admin_headers)
    changed = await client.patch(
        f"/api/v1/chat/channels/{channel['id']}",
        headers=admin_headers,
        json={"active": False, "greeting": {"de": "Moin!"}, "queue_id": None},
    )
    for answer in (listed, one, changed):
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and "identity_secret" not in answer.text
    assert [item["name"] for item in listed.json()["items"]] == ["Shop"]
    assert one.json()["public_key"] == channel["public_key"]
    assert changed.json()["active"] is False and changed.json()["queue_id"] is None
    assert changed.json()["greeting"] == {"en": "Hello! How can we help?", "de": "Moin!"}

    rotated = await client.post(
        f"/api/v1/chat/channels/{channel['id']}/rotate-secret", headers=admin_headers
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["identity_secret"]
    assert new != secret and rotated.json()["public_key"] == channel["public_key"]
    async with runtime.read() as session:
        row = await session.scalar(select(ChatChannel))
    assert identity_secret(runtime.settings, row) == new
    again = await client.get(f"/api/v1/chat/channels/{channel['id']}", headers=admin_headers)
    assert new not in again.text


async def test_bad_values_are_named(client, admin_headers):
    for body, field, named in (
        ({"name": "Shop", "allowed_origins": ["*"]}, "allowed_origins", "wildcard"),
        ({"name": "Shop", "allowed_origins": ["https://s.example/x"]}, "allowed_origins", "path"),
        ({"name": "Shop", "allowed_origins": []}, "allowed_origins", "at least one"),
        ({"name": "Shop", "allowed_origins": [SHOP], "queue_id": 999}, "queue_id", "999"),
        ({"name": "Shop", "allowed_origins": [SHOP], "colors": {"text": "blue"}}, "colors", "blue"),
        ({"name": "   ", "allowed_origins": [SHOP]}, "name", "name"),
    ):
        answer = await client.post("/api/v1/chat/channels", headers=admin_headers, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["field"] == field and named in answer.json()["error"], answer.text
    missing = await client.post("/api/v1/chat/channels", headers=admin_headers, json={})
    assert missing.status_code == 422 and "name" in missing.text
    extra = await client.post(
        "/api/v1/chat/channels",
        headers=admin_headers,
        json={"name": "Shop", "allowed_origins": [SHOP], "identity_secret": "mine"},
    )
    assert extra.status_code == 422 and "identity_secret" in extra.text

    made = await client.post(
        "/api/v1/chat/channels",
        headers=admin_headers,
        json={"name": "Shop", "allowed_origins": [SHOP]},
    )
    assert made.status_code == 201
    duplicate = await client.post(
        "/api/v1/chat/channels",
        headers=admin_headers,
        json={"name": "Shop", "allowed_origins": [SHOP]},
    )
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    path = f"/api/v1/chat/channels/{made.json()['id']}"
    for body, field in (
        ({"allowed_origins": ["ftp://x.example"]}, "allowed_origins"),
        ({"prechat": {"name": "always"}}, "prechat"),
        ({"avatar_url": "data:image/png;base64,xx"}, "avatar_url"),
        ({"name": None}, "name"),
    ):
        answer = await client.patch(path, headers=admin_headers, json=body)
        assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    for method, missing_path in (
        ("GET", "/api/v1/chat/channels/999"),
        ("PATCH", "/api/v1/chat/channels/999"),
        ("POST", "/api/v1/chat/channels/999/rotate-secret"),
    ):
        answer = await client.request(method, missing_path, headers=admin_headers, json={})
        assert answer.status_code == 404, (method, missing_path)


async def test_agents_may_not_see_or_change_chat_channels(client, agent_headers, admin_headers):
    made = await client.post(
        "/api/v1/chat/channels",
        headers=admin_headers,
        json={"name": "Shop", "allowed_origins": [SHOP]},
    )
    path = f"/api/v1/chat/channels/{made.json()['id']}"
    for method, where, body in (
        ("GET", "/api/v1/chat/channels", None),
        ("POST", "/api/v1/chat/channels", {"name": "Mine", "allowed_origins": [SHOP]}),
        ("GET", path, None),
        ("PATCH", path, {"active": False}),
        ("POST", f"{path}/rotate-secret", None),
    ):
        answer = await client.request(method, where, headers=agent_headers, json=body)
        assert answer.status_code == 403, (method, where, answer.text)
        assert made.json()["identity_secret"] not in answer.text
        anonymous = await client.request(method, where, json=body)
        assert anonymous.status_code == 401
    still = await client.get(path, headers=admin_headers)
    assert still.json()["active"] is True and still.json()["name"] == "Shop"
    assert (
        len((await client.get("/api/v1/chat/channels", headers=admin_headers)).json()["items"]) == 1
    )


async def test_openapi_lists_the_chat_channel_routes(client):
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/chat/channels"])
    assert {"get", "patch"} <= set(paths["/api/v1/chat/channels/{channel_id}"])
    assert "post" in paths["/api/v1/chat/channels/{channel_id}/rotate-secret"]
