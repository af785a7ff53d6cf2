"""One ticket event reaches a thousand open ticket lists with a constant number of queries,
and each list changes only what it must (rows in, rows out, the views' counts)."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import event, update

from agent_ui.live import DeskFeed
from tests.fixtures import sign_in
from tests.support import AsgiSocket
from tickets.models import Ticket
from tresen.database import WRITE_OPTION
from tresen.live import Hub

SOCKETS = 1000


async def open_lists(app, cookie: str, count: int, path: str = "/ws/console") -> list[AsgiSocket]:
    sockets = [AsgiSocket(app, path, cookie) for _ in range(count)]
    for socket in sockets:
        assert (await socket.connect())["type"] == "websocket.accept"
    return sockets


async def new_ticket(client, agent_headers, n: int, subject: str) -> dict:
    answer = await client.post(
        "/api/v1/inbound",
        headers=agent_headers,
        json={
            "channel": "email",
            "external_id": f"<fanout-{n}@x>",
            "from": {"kind": "email", "value": f"kunde{n}@x.example", "name": "Karl Kunde"},
            "subject": subject,
            "text": "Hallo",
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def session_cookie(client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def test_one_event_reaches_a_thousand_lists_with_constant_queries(
    runtime, app, client, agent_headers
):
    made = await new_ticket(client, agent_headers, 1, "Bestellung verschwunden")
    await sign_in(client)
    sockets = await open_lists(app, session_cookie(client), SOCKETS)
    hub = Hub.of(runtime)
    assert hub.listening
    statements: list[str] = []

    def count(conn, _cursor, statement, *_args) -> None:
        # The write itself (the writer's connection) is not the fan-out.
        if not conn.get_execution_options().get(WRITE_OPTION):
            statements.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with runtime.transaction() as tx:
            await tx.session.execute(
                update(Ticket).where(Ticket.id == made["ticket_id"]).values(priority="urgent")
            )
            tx.emit("ticket.updated", ticket_id=made["ticket_id"], fields=["priority"])
        frames = await asyncio.gather(*(socket.receive() for socket in sockets))
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
    row = f'id="ticket-{made["ticket_id"]}"'
    for frame in frames:
        assert frame["type"] == "websocket.send"
        # The row replaced in place (deleted, then inserted as the only row), and the counts.
        assert row in frame["text"] and "priority-urgent" in frame["text"]
        assert 'data-view="unassigned"' in frame["text"]
    assert len(statements) <= 5, statements
    for socket in sockets:
        await socket.close()
    assert not hub.listening  # the last socket gone, the hub lets go of the bus


async def test_a_list_takes_in_leaves_out_and_counts(runtime, app, client, agent_headers, agent):
    first = await new_ticket(client, agent_headers, 1, "Erstes Ticket")
    second = await new_ticket(client, agent_headers, 2, "Zweites Ticket")
    await sign_in(client)
    cookie = session_cookie(client)
    [unassigned] = await open_lists(app, cookie, 1, "/ws/console?assignee=none&view=unassigned")
    [mine] = await open_lists(app, cookie, 1, "/ws/console?assignee=me&view=mine")
    assign = await client.patch(
        f"/api/v1/tickets/{first['ticket_id']}",
        headers=agent_headers,
        json={"assignee_id": agent.id},
    )
    assert assign.status_code == 200, assign.text
    left = (await unassigned.receive())["text"]
    # Gone from "unassigned", the other row stays; counts follow.
    assert f'<tbody hx-swap-oob="delete:#ticket-{first["ticket_id"]}">' in left
    assert f'id="ticket-{second["ticket_id"]}"' not in left
    assert re.search(r'data-view="unassigned".*?data-count="1"', left, re.S)
    assert re.search(r'data-view="mine".*?data-count="1"', left, re.S)
    arrived = (await mine.receive())["text"]
    # "Mine" was empty: the whole body anew, with the one row.
    assert '<tbody id="ticket-rows" hx-swap-oob="true">' in arrived
    assert f'id="ticket-{first["ticket_id"]}"' in arrived
    # A new ticket sorts first (newest update): inserted before the row shown.
    third = await new_ticket(client, agent_headers, 3, "Drittes Ticket")
    text = ""
    while f'id="ticket-{third["ticket_id"]}"' not in text:
        text = (await unassigned.receive())["text"]
    assert f'hx-swap-oob="beforebegin:#ticket-{second["ticket_id"]}"' in text
    await unassigned.close()
    await mine.close()


async def test_a_socket_that_falls_behind_is_closed_to_reconnect(runtime, app, client, agent):
    await sign_in(client)
    [socket] = await open_lists(app, session_cookie(client), 1, "/ws/desk")
    hub = Hub.of(runtime)
    while not hub.sockets(DeskFeed):  # accepted; joining the hub after its first read
        await asyncio.sleep(0.01)
    [held] = hub.sockets(DeskFeed)
    # The browser stops reading: more pushes than the queue holds, and it is told to go.
    for _n in range(200):
        held.push(("read", [], 0))
    closed = None
    while closed is None:
        message = await socket.receive()
        if message["type"] == "websocket.close":
            closed = message
    assert closed["code"] == 1013  # try again: the page reconnects and refreshes
    await socket.close()


async def test_sockets_from_other_sites_or_strangers_are_refused(app, client, agent):
    stranger = AsgiSocket(app, "/ws/console", cookie="")
    assert (await stranger.connect())["type"] == "websocket.close"
    await sign_in(client)
    hijack = AsgiSocket(app, "/ws/console", session_cookie(client), origin="https://evil.example")
    assert (await hijack.connect())["type"] == "websocket.close"
