"""Safety nets in the console: a bulk change shows what it will do before doing it, and is
undone at once; a merge asks first and is undone from the ticket page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.fixtures import csrf_of, inbound_mail, sign_in
from tickets.inbox import receive
from tickets.models import Message, Ticket
from tresen.accounts import create_user
from tresen.clock import FrozenClock

START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def _tickets(runtime, count: int, sender: str = "kim@example.com") -> list[int]:
    ids = []
    for n in range(count):
        who = {"kind": "email", "value": sender, "name": "Kim"}
        received = await receive(
            runtime,
            inbound_mail(f"<bulk-{sender}-{n}@x>", subject=f"Frage {n}", **{"from": who}),
        )
        ids.append(received.ticket_id)
    return ids


async def _states(runtime, ids) -> list[tuple[str, str]]:
    async with runtime.read() as session:
        return [(t.state, t.priority) for t in [await session.get(Ticket, i) for i in ids]]


async def test_bulk_shows_the_change_then_applies_it_and_undoes_it(client, agent, runtime):
    runtime.clock = FrozenClock(START)
    ids = await _tickets(runtime, 3)
    await sign_in(client)
    token = csrf_of((await client.get("/")).text)
    form = {"ids": ids, "state": "pending", "priority": "high", "csrf_token": token}
    preview = await client.post("/tickets/bulk", data=form)
    assert preview.status_code == 200
    assert "Change 3 tickets?" in preview.text
    assert re.search(r"3 tickets: State new → pending", preview.text), preview.text
    assert "Priority normal → high" in preview.text
    assert await _states(runtime, ids) == [("new", "normal")] * 3  # nothing changed yet
    applied = await client.post("/tickets/bulk", data={**form, "confirm": "yes"})
    assert applied.status_code == 303
    assert await _states(runtime, ids) == [("pending", "high")] * 3
    listing = await client.get(applied.headers["location"])
    undo_action = re.search(r'action="(/tickets/bulk/\d+/undo)"', listing.text).group(1)
    assert "3 tickets changed" in listing.text
    # Another agent may not undo someone else's change.
    await create_user(
        runtime, email="otto@example.com", name="Otto", role="agent", password="otto-password"
    )
    other = client.__class__(transport=client._transport, base_url="http://testserver")
    async with other:
        await sign_in(other, "otto@example.com", "otto-password")
        otto_token = csrf_of((await other.get("/")).text)
        refused = await other.post(undo_action, data={"csrf_token": otto_token})
        assert refused.status_code == 403
    undone = await client.post(undo_action, data={"csrf_token": token})
    assert undone.status_code == 303
    assert await _states(runtime, ids) == [("new", "normal")] * 3
    assert "3 tickets put back" in (await client.get("/")).text
    again = await client.post(undo_action, data={"csrf_token": token})
    assert again.status_code == 409 and "undone already" in again.text


async def test_bulk_undo_ends_after_the_window(client, agent, runtime):
    runtime.clock = FrozenClock(START)
    ids = await _tickets(runtime, 2)
    await sign_in(client)
    token = csrf_of((await client.get("/")).text)
    form = {"ids": ids, "state": "solved", "confirm": "yes", "csrf_token": token}
    applied = await client.post("/tickets/bulk", data=form)
    listing = await client.get(applied.headers["location"])
    undo_action = re.search(r'action="(/tickets/bulk/\d+/undo)"', listing.text).group(1)
    runtime.clock.advance(timedelta(minutes=31))
    late = await client.post(undo_action, data={"csrf_token": token})
    assert late.status_code == 409 and "30 minutes" in late.text
    assert await _states(runtime, ids) == [("solved", "normal")] * 2


async def test_bulk_merge_previews_the_target(client, agent, runtime):
    ids = await _tickets(runtime, 3)
    await sign_in(client)
    token = csrf_of((await client.get("/")).text)
    form = {"ids": ids, "action": "merge", "csrf_token": token}
    preview = await client.post("/tickets/bulk", data=form)
    async with runtime.read() as session:
        oldest = await session.get(Ticket, ids[0])
    assert preview.status_code == 200
    assert f"Merge 2 tickets into #{oldest.number}?" in preview.text
    async with runtime.read() as session:
        owners = list(await session.scalars(select(Message.ticket_id).order_by(Message.id)))
        assert [(await session.get(Ticket, i)).merged_into_id for i in ids] == [None] * 3
    assert owners == ids  # every message still on its own ticket


async def test_merge_asks_first_and_is_undone_from_the_ticket_page(client, agent, runtime):
    runtime.clock = FrozenClock(START)
    a, b = await _tickets(runtime, 2)
    async with runtime.read() as session:
        number_a = (await session.get(Ticket, a)).number
        number_b = (await session.get(Ticket, b)).number
    await sign_in(client)
    token = csrf_of((await client.get(f"/tickets/{b}")).text)
    asked = await client.post(f"/tickets/{b}/merge", data={"into": number_a, "csrf_token": token})
    assert asked.status_code == 200
    assert f"Merge #{number_b} into #{number_a}?" in asked.text and "Confirm merge" in asked.text
    async with runtime.read() as session:
        assert (await session.get(Ticket, b)).merged_into_id is None
    merged = await client.post(
        f"/tickets/{b}/merge", data={"into": number_a, "confirm": "yes", "csrf_token": token}
    )
    assert merged.status_code == 303
    page = await client.get(merged.headers["location"])
    assert "Undo merge" in page.text
    undo_action = re.search(r'action="(/merges/\d+/undo)"', page.text).group(1)
    undone = await client.post(undo_action, data={"csrf_token": token})
    assert undone.status_code == 303 and undone.headers["location"] == f"/tickets/{b}"
    back = await client.get(f"/tickets/{b}")
    assert "is back with its messages" in back.text and "Frage 1" in back.text
    assert "Undo merge" not in back.text
    async with runtime.read() as session:
        assert (await session.get(Ticket, b)).merged_into_id is None
    itself = await client.post(f"/tickets/{b}/merge", data={"into": number_b, "csrf_token": token})
    assert itself.status_code == 422
