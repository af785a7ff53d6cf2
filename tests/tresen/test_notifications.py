"""Staff notifications: read all at once through the action, from the console."""

from __future__ import annotations

from tests.fixtures import csrf_of, sign_in
from tresen.notifications import mark_all_read, notify, recent, unread_count


async def test_marking_read_is_an_action_with_its_event(client, runtime, agent):
    async with runtime.transaction() as tx:
        await notify(tx, [agent.id], kind="test", link=None, data={})
        await notify(tx, [agent.id], kind="test", link=None, data={})
    async with runtime.read() as session:
        assert await unread_count(session, agent.id) == 2
        assert len(await recent(session, agent.id)) == 2
    async with runtime.transaction() as tx:
        await mark_all_read(tx, agent.id)
        events = list(tx.events)
    assert [(e.type, e.data) for e in events] == [("notifications.read", {"user_id": agent.id})]
    async with runtime.read() as session:
        assert await unread_count(session, agent.id) == 0

    # The console's button goes through the same action.
    async with runtime.transaction() as tx:
        await notify(tx, [agent.id], kind="test", link=None, data={})
    await sign_in(client)
    page = await client.get("/notifications")
    marked = await client.post("/notifications/read", data={"csrf_token": csrf_of(page.text)})
    assert marked.status_code == 303
    async with runtime.read() as session:
        assert await unread_count(session, agent.id) == 0
