"""The console's chat settings page: administrators only, a channel added and changed with
the form's CSRF token, the identity secret shown once, the embed line ready to copy."""

from __future__ import annotations

import html
import re

from playwright.async_api import expect
from sqlalchemy import select

from channels.chat.actions import identity_secret
from channels.chat.models import ChatChannel
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import csrf_of, sign_in
from tickets.queues import create_queue
from tresen.accounts import create_user

ADD = {
    "name": "Shop",
    "allowed_origins": "https://Shop.Example.com\r\n\r\nhttp://localhost:3000\r\n",
    "queue_id": "",
    "color_primary": "#112233",
    "color_text": "#ffffff",
    "greeting_en": "Hi there!",
    "greeting_de": "Hallo!",
    "avatar_url": "",
    "prechat_name": "off",
    "prechat_email": "required",
}


def snippets(page: str) -> list[str]:
    """The embed lines in the page's read-only text areas, as a person copies them."""
    found = re.findall(r'<textarea id="snippet-\d+"[^>]*readonly[^>]*>([^<]*)</textarea>', page)
    return [html.unescape(text) for text in found]


async def _admin(runtime, client) -> str:
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="admin-pass"
    )
    await sign_in(client, "ada@example.com", "admin-pass")
    page = await client.get("/admin/chat")
    assert page.status_code == 200
    return csrf_of(page.text)


async def _channels(runtime) -> list[ChatChannel]:
    async with runtime.read() as session:
        return (await session.scalars(select(ChatChannel).order_by(ChatChannel.id))).all()


async def test_only_admins_reach_the_chat_settings(client, agent, runtime):
    assert (await client.get("/admin/chat")).headers["location"].startswith("/login")
    await sign_in(client)
    assert (await client.get("/admin/chat")).status_code == 403
    csrf = csrf_of((await client.get("/settings")).text)
    refused = await client.post("/admin/chat/channels", data={"csrf_token": csrf, **ADD})
    assert refused.status_code == 403
    assert await _channels(runtime) == []


async def test_admin_adds_a_channel_and_sees_its_secret_once(client, runtime):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Chats")
    csrf = await _admin(runtime, client)
    empty = await client.get("/admin/chat")
    assert "No chat channel yet" in empty.text
    # The add form starts with the defaults.
    assert "Hello! How can we help?" in empty.text and 'value="#0b5cad"' in empty.text

    without = await client.post("/admin/chat/channels", data=ADD)
    assert without.status_code == 403 and await _channels(runtime) == []

    added = await client.post(
        "/admin/chat/channels", data={**ADD, "csrf_token": csrf, "queue_id": str(queue.id)}
    )
    assert added.status_code == 200, added.text
    [row] = await _channels(runtime)
    secret = identity_secret(runtime.settings, row)
    assert secret in added.text and "shown only this once" in added.text
    assert row.allowed_origins == ["https://shop.example.com", "http://localhost:3000"]
    assert row.queue_id == queue.id
    assert row.colors == {"primary": "#112233", "text": "#ffffff"}
    assert row.greeting == {"en": "Hi there!", "de": "Hallo!"}
    assert row.prechat == {"name": "off", "email": "required"}
    line = (
        f'<script src="{runtime.settings.base_url}/chat/widget.js" '
        f'data-channel="{row.public_key}" async></script>'
    )
    assert snippets(added.text) == [line]

    shown = await client.get("/admin/chat")
    assert secret not in shown.text  # once only
    assert snippets(shown.text) == [line] and 'data-copy="snippet-' in shown.text
    assert "https://shop.example.com" in shown.text and "Chats" in shown.text

    rotated = await client.post(
        f"/admin/chat/channels/{row.id}/rotate-secret", data={"csrf_token": csrf}
    )
    assert rotated.status_code == 200
    [row] = await _channels(runtime)
    new = identity_secret(runtime.settings, row)
    assert new != secret and new in rotated.text and secret not in rotated.text
    assert new not in (await client.get("/admin/chat")).text


async def test_bad_values_are_named_and_the_form_kept(client, runtime):
    csrf = await _admin(runtime, client)
    bad = await client.post(
        "/admin/chat/channels",
        data={**ADD, "csrf_token": csrf, "allowed_origins": "https://ok.example\n*"},
    )
    assert bad.status_code == 422
    assert "allowed_origins" in bad.text and "wildcard" in bad.text
    assert 'value="Shop"' in bad.text and "https://ok.example" in bad.text
    assert await _channels(runtime) == []
    nothing = await client.post("/admin/chat/channels", data={"csrf_token": csrf})
    assert nothing.status_code == 422 and await _channels(runtime) == []


async def test_admin_changes_and_switches_off_a_channel(client, runtime):
    csrf = await _admin(runtime, client)
    await client.post("/admin/chat/channels", data={**ADD, "csrf_token": csrf})
    [row] = await _channels(runtime)
    changed = await client.post(
        f"/admin/chat/channels/{row.id}",
        data={
            **ADD,
            "csrf_token": csrf,
            "name": "Webshop",
            "allowed_origins": "https://www.example.com",
            "greeting_de": "",
            "avatar_url": "https://www.example.com/team.png",
        },
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/admin/chat?saved=channel"
    [row] = await _channels(runtime)
    assert (row.name, row.allowed_origins, row.greeting) == (
        "Webshop",
        ["https://www.example.com"],
        {"en": "Hi there!"},
    )
    assert row.avatar_url == "https://www.example.com/team.png"
    bad = await client.post(
        f"/admin/chat/channels/{row.id}",
        data={"csrf_token": csrf, "allowed_origins": "ftp://www.example.com"},
    )
    assert bad.status_code == 422 and "ftp://www.example.com" in bad.text

    off = await client.post(
        f"/admin/chat/channels/{row.id}", data={"csrf_token": csrf, "active": "off"}
    )
    assert off.status_code == 303
    [row] = await _channels(runtime)
    assert row.active is False and row.name == "Webshop"  # only the switch changed
    page = (await client.get("/admin/chat")).text
    assert "Switch on Webshop" in page
    wrong = await client.post(
        f"/admin/chat/channels/{row.id}", data={"csrf_token": csrf[:-2] + "xx", "active": "on"}
    )
    assert wrong.status_code == 403
    assert (
        await client.post("/admin/chat/channels/999999", data={"csrf_token": csrf})
    ).status_code == 404


async def test_chat_settings_in_the_browser(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await page.get_by_role("link", name="Chat settings").click()
        await expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()
        form = page.get_by_role("form", name="Add a chat channel")
        await form.get_by_label("Name", exact=True).fill("Shop")
        await form.get_by_label("Allowed origins (one per line)").fill(
            "https://shop.example.com\nhttp://localhost:3000"
        )
        await form.get_by_label("Ask for the email address").select_option(label="Required")
        await form.get_by_role("button", name="Add chat channel").click()
        secret = page.get_by_label("Identity secret", exact=True)
        await expect(secret).to_have_attribute("readonly", "")
        assert len(await secret.input_value()) == 43
        snippet = page.get_by_label("Embed code: put this line into every page that shows the chat")
        await expect(snippet).to_have_attribute("readonly", "")
        assert (await snippet.input_value()).startswith(
            f'<script src="{server.url}/chat/widget.js"'
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "admin-chat.png", full_page=True)

        await page.get_by_role("button", name="Switch off Shop").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved.")
        await expect(page.get_by_role("button", name="Switch on Shop")).to_be_visible()
        await expect(page.get_by_label("Identity secret", exact=True)).to_have_count(0)
        assert page.errors == []
