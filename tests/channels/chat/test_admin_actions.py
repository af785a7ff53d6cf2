"""Chat channel actions: what they store, what they refuse (naming the field), and the
identity secret sealed at rest, opened by the public doors, replaced by a rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.chat import tokens
from channels.chat.actions import (
    channel_by_key,
    chat_channel_json,
    create_chat_channel,
    identity_secret,
    normalize_origin,
    rotate_identity_secret,
    snippet,
    update_chat_channel,
)
from channels.chat.models import ChatChannel
from channels.chat.sessions import channel_info
from tickets.queues import create_queue
from tresen import secrets
from tresen.runtime import ActionError

SHOP = "https://shop.example.com"


async def _create(runtime, **values):
    values.setdefault("name", "Shop")
    values.setdefault("allowed_origins", [SHOP])
    async with runtime.transaction() as tx:
        row, secret = await create_chat_channel(tx, **values)
        return row.id, row.public_key, secret


async def _row(runtime, channel_id: int) -> ChatChannel:
    async with runtime.read() as session:
        return await session.get(ChatChannel, channel_id)


async def test_a_new_channel_has_defaults_a_key_and_a_sealed_secret(runtime):
    channel_id, key, secret = await _create(
        runtime, allowed_origins=["HTTPS://Shop.Example.com/", "http://localhost:8080", SHOP]
    )
    row = await _row(runtime, channel_id)
    assert row.allowed_origins == [SHOP, "http://localhost:8080"]  # lower-cased, once each
    assert row.colors == {"primary": "#0b5cad", "text": "#ffffff"}
    assert row.greeting == {"en": "Hello! How can we help?", "de": "Hallo! Wie können wir helfen?"}
    assert row.prechat == {"name": "optional", "email": "optional"}
    assert row.active is True and row.queue_id is None and row.avatar_url is None
    assert len(key) == 24 and len(secret) == 43
    # Stored sealed: the plain secret is nowhere in the row, and the settings' key opens it.
    assert secrets.is_encrypted(row.identity_secret) and secret not in row.identity_secret
    assert identity_secret(runtime.settings, row) == secret
    shown = chat_channel_json(row)
    assert secret not in repr(shown) and "identity_secret" not in shown
    assert shown["public_key"] == key and shown["allowed_origins"] == row.allowed_origins
    assert snippet("https://desk.example.com/", row) == (
        f'<script src="https://desk.example.com/chat/widget.js" data-channel="{key}" '
        "async></script>"
    )
    async with runtime.read() as session:
        assert (await channel_by_key(session, key)).id == channel_id
        assert await channel_by_key(session, "nope") is None
        assert await channel_by_key(session, "") is None


async def test_the_public_doors_open_the_secret_and_a_rotation_replaces_it(runtime):
    channel_id, key, secret = await _create(runtime)
    info = await channel_info(runtime, key)
    assert info.identity_secret == secret
    assert tokens.vouched(info.identity_secret, "user-7", tokens.signature(secret, "user-7"))
    async with runtime.transaction() as tx:
        row = await tx.session.get(ChatChannel, channel_id)
        new = await rotate_identity_secret(tx, row)
    assert new != secret
    row = await _row(runtime, channel_id)
    assert identity_secret(runtime.settings, row) == new and new not in row.identity_secret
    # The cached channel was forgotten: the old secret no longer vouches for anyone.
    info = await channel_info(runtime, key)
    assert info.identity_secret == new
    assert not tokens.vouched(info.identity_secret, "user-7", tokens.signature(secret, "user-7"))


async def test_everything_can_be_chosen_and_changed(runtime):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Chats")
    channel_id, key, _ = await _create(
        runtime,
        queue_id=queue.id,
        colors={"primary": "#AA0000"},
        greeting={"en": "  Hi!  "},
        avatar_url="https://shop.example.com/team.png",
        prechat={"email": "required"},
    )
    row = await _row(runtime, channel_id)
    assert row.queue_id == queue.id
    assert row.colors == {"primary": "#aa0000", "text": "#ffffff"}
    assert row.greeting == {"en": "Hi!"}  # a language left out shows the English greeting
    assert row.prechat == {"name": "optional", "email": "required"}
    assert row.avatar_url == "https://shop.example.com/team.png"

    async with runtime.transaction() as tx:
        row = await tx.session.get(ChatChannel, channel_id)
        changed = await update_chat_channel(
            tx,
            row,
            {
                "name": "Shop DE",
                "allowed_origins": ["https://shop.example.de:443"],
                "queue_id": None,
                "colors": {"text": "#000000"},
                "greeting": {"de": "Moin!", "en": ""},
                "avatar_url": "",
                "prechat": {"name": "off"},
                "active": False,
            },
        )
        same = await update_chat_channel(tx, row, {"name": "Shop DE", "prechat": {"name": "off"}})
    assert sorted(changed) == sorted(
        ["name", "allowed_origins", "queue_id", "colors", "greeting", "avatar_url", "prechat"]
        + ["active"]
    )
    assert same == []
    row = await _row(runtime, channel_id)
    assert row.allowed_origins == ["https://shop.example.de"]  # the default port as browsers send
    assert row.colors == {"primary": "#aa0000", "text": "#000000"}
    assert row.greeting == {"de": "Moin!"}
    assert row.prechat == {"name": "off", "email": "required"}
    assert (row.name, row.queue_id, row.avatar_url, row.active) == ("Shop DE", None, None, False)
    assert row.public_key == key
    assert await channel_info(runtime, key) is None  # switched off: the widget is closed


@pytest.mark.parametrize(
    "values, field, named",
    [
        ({"name": "  "}, "name", "name"),
        ({"name": "x" * 101}, "name", "100"),
        ({"allowed_origins": []}, "allowed_origins", "at least one"),
        ({"allowed_origins": "https://a.example"}, "allowed_origins", "list"),
        ({"allowed_origins": ["*"]}, "allowed_origins", "wildcard"),
        ({"allowed_origins": ["https://*.example.com"]}, "allowed_origins", "*.example.com"),
        ({"allowed_origins": ["ftp://files.example.com"]}, "allowed_origins", "ftp://"),
        ({"allowed_origins": ["shop.example.com"]}, "allowed_origins", "shop.example.com"),
        ({"allowed_origins": ["https://shop.example.com/chat"]}, "allowed_origins", "path"),
        ({"allowed_origins": ["https://shop.example.com?x=1"]}, "allowed_origins", "query"),
        ({"allowed_origins": ["https://shop.example.com#x"]}, "allowed_origins", "fragment"),
        ({"allowed_origins": ["https://u:p@shop.example.com"]}, "allowed_origins", "user"),
        ({"allowed_origins": ["https://shop.example.com:99999"]}, "allowed_origins", "99999"),
        ({"allowed_origins": ["https://sh op.example.com"]}, "allowed_origins", "sh op"),
        ({"allowed_origins": ["https://"]}, "allowed_origins", "no host"),
        ({"colors": {"primary": "red"}}, "colors", "red"),
        ({"colors": {"primary": "#12345"}}, "colors", "#12345"),
        ({"colors": {"background": "#123456"}}, "colors", "background"),
        ({"greeting": {"fr": "Bonjour"}}, "greeting", "fr"),
        ({"greeting": {"en": "x" * 501}}, "greeting", "500"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url", "javascript"),
        ({"avatar_url": "https://x.example/" + "a" * 500}, "avatar_url", "500"),
        ({"prechat": {"name": "always"}}, "prechat", "always"),
        ({"prechat": {"phone": "required"}}, "prechat", "phone"),
        ({"queue_id": 4711}, "queue_id", "4711"),
    ],
)
async def test_bad_values_are_refused_naming_the_field(runtime, values, field, named):
    with pytest.raises(ActionError) as refused:
        await _create(runtime, **values)
    assert refused.value.field == field and named in str(refused.value)
    async with runtime.read() as session:
        assert (await session.scalars(select(ChatChannel))).all() == []


async def test_names_are_unique_and_only_known_fields_change(runtime):
    await _create(runtime, name="Shop")
    other_id, _, _ = await _create(runtime, name="Blog", allowed_origins=["https://blog.example"])
    with pytest.raises(ActionError) as clash:
        await _create(runtime, name="Shop")
    assert clash.value.conflict and clash.value.field == "name"
    async with runtime.transaction() as tx:
        row = await tx.session.get(ChatChannel, other_id)
        with pytest.raises(ActionError) as renamed:
            await update_chat_channel(tx, row, {"name": " Shop "})
        assert renamed.value.conflict
        for changes, field in (
            ({"public_key": "mine"}, "public_key"),
            ({"identity_secret": "mine"}, "identity_secret"),
            ({"active": "yes"}, "active"),
            ({"allowed_origins": ["*"]}, "allowed_origins"),
        ):
            with pytest.raises(ActionError) as refused:
                await update_chat_channel(tx, row, changes)
            assert refused.value.field == field
        # Its own name again is no clash.
        assert await update_chat_channel(tx, row, {"name": "Blog"}) == []


def test_origins_are_spelled_as_browsers_send_them():
    assert normalize_origin(" https://Shop.Example.com ") == "https://shop.example.com"
    assert normalize_origin("http://shop.example.com:80") == "http://shop.example.com"
    assert normalize_origin("https://shop.example.com:8443/") == "https://shop.example.com:8443"
    assert normalize_origin("http://127.0.0.1:3000") == "http://127.0.0.1:3000"
    assert normalize_origin("http://[::1]:3000") == "http://[::1]:3000"
    assert normalize_origin("https://bücher.example") == "https://xn--bcher-kva.example"
