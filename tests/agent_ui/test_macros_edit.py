"""Every field of a macro is changed afterwards; a refused change shows the form as typed."""

from __future__ import annotations

import re

from tests.fixtures import csrf_of, sign_in
from tickets import macros
from tickets.models import Macro
from tresen.accounts import create_user


async def test_every_field_of_a_macro_is_edited_and_errors_keep_the_typing(runtime, client):
    sina = await create_user(
        runtime, email="sup@example.com", name="Sina", role="supervisor", password="super-pass-1"
    )
    async with runtime.transaction() as tx:
        mine = await macros.create_macro(tx, name="Thanks", body="Thank you", owner_id=sina.id)
        await macros.create_macro(tx, name="Taken", body="x", owner_id=None)
    await sign_in(client, "sup@example.com", "super-pass-1")
    page = await client.get("/macros")
    token = csrf_of(page.text)
    changed = await client.post(
        f"/macros/{mine.id}",
        data={
            "csrf_token": token,
            "name": "Thanks, waiting",
            "body": "Thank you, {{customer.first_name}}",
            "internal": "on",
            "state": "pending",
            "priority": "low",
            "add_tags": "waiting",
            "remove_tags": "new",
            "sharing": "1",
            "shared": "on",
        },
    )
    assert changed.status_code == 303
    async with runtime.read() as session:
        row = await session.get(Macro, mine.id)
    assert (row.name, row.body, row.internal, row.active) == (
        "Thanks, waiting",
        "Thank you, {{customer.first_name}}",
        True,
        False,
    )
    assert row.actions == {
        "state": "pending",
        "priority": "low",
        "add_tags": ["waiting"],
        "remove_tags": ["new"],
    }
    assert row.owner_id is None  # shared with everyone now
    page = await client.get("/macros")
    form = re.search(rf'action="/macros/{mine.id}".*?</form>', page.text, re.S).group(0)
    assert '<option value="pending" selected' in form and '<option value="low" selected' in form
    assert 'name="shared" checked' in form and 'name="active" >' in form  # off
    refused = await client.post(
        f"/macros/{mine.id}",
        data={
            "csrf_token": token,
            "name": "Taken",
            "body": "typed text",
            "priority": "urgent",
            "add_tags": "typed-tag",
            "sharing": "1",
            "shared": "on",
        },
    )
    assert refused.status_code == 422 and "exists already" in refused.text
    form = re.search(rf'action="/macros/{mine.id}".*?</form>', refused.text, re.S).group(0)
    assert 'value="Taken"' in form and "typed text</textarea>" in form
    assert '<option value="urgent" selected' in form and 'value="typed-tag"' in form
    assert f'id="macro-{mine.id}" open' in refused.text
    async with runtime.read() as session:
        assert (await session.get(Macro, mine.id)).name == "Thanks, waiting"


async def test_a_refused_new_macro_keeps_its_choices(client, agent):
    await sign_in(client)
    token = csrf_of((await client.get("/macros")).text)
    bad = await client.post(
        "/macros",
        data={
            "csrf_token": token,
            "name": "Broken",
            "body": "Hi {{customer.shoe_size}}",
            "state": "solved",
            "priority": "high",
        },
    )
    assert bad.status_code == 422 and "shoe_size" in bad.text
    form = re.search(r'action="/macros" aria-label="New macro".*?</form>', bad.text, re.S).group(0)
    assert '<option value="solved" selected' in form and '<option value="high" selected' in form
