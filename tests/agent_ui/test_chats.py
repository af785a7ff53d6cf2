"""The console's side of live chat over HTTP and its sockets: the Chats page (who may see
it, its lists, CSRF on every form), the ticket page in chat mode, and the chat events its
socket shows and sends."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select

from channels.chat.models import ChatChannel, ChatSession
from routing import offers
from routing.models import ChatOffer, QueueMember
from tests.fixtures import csrf_of, sign_in
from tests.support import AsgiSocket
from tickets.actions import Actor, update_ticket
from tickets.models import Queue, Ticket
from tresen.accounts import create_user
from tresen.live import Hub


async def chat_message(client, headers, n: int, text: str, key: str = "sess-1") -> dict:
    """A visitor's message as the chat channel hands it to the inbox."""
    answer = await client.post(
        "/api/v1/inbound",
        headers=headers,
        json={
            "channel": "chat",
            "external_id": f"{key}:c{n}",
            "conversation_id": key,
            "from": {"kind": "chat", "value": f"visitor:{key}", "name": "Vera Visitor"},
            "subject": "Chat: " + text[:60],
            "text": text,
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def mail(client, headers, subject: str) -> dict:
    answer = await client.post(
        "/api/v1/inbound",
        headers=headers,
        json={
            "channel": "email",
            "external_id": f"<{subject}@x>",
            "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
            "subject": subject,
            "text": "Bitte helfen.",
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def cookie_of(client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def open_socket(app, client, path: str) -> AsgiSocket:
    socket = AsgiSocket(app, path, cookie_of(client))
    assert (await socket.connect())["type"] == "websocket.accept"
    return socket


async def frame_with(socket: AsgiSocket, needle: str, timeout: float = 5) -> str:
    """The first frame the socket sends that holds `needle`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = await socket.receive(max(left, 0.01))
        if message["type"] == "websocket.send" and needle in message.get("text", ""):
            return message["text"]


async def wait_listening(runtime, feed_type, count: int = 1) -> None:
    hub = Hub.of(runtime)
    for _ in range(500):
        if len(hub.sockets(feed_type)) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the socket never joined the hub")


async def test_chats_page_needs_a_signed_in_agent(client, agent):
    answer = await client.get("/chats")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    await sign_in(client)
    page = await client.get("/chats")
    assert page.status_code == 200
    assert 'href="/chats"' in page.text  # the menu entry
    assert "No chat is offered to you." in page.text
    assert 'ws-connect="/ws/chats"' in page.text


async def test_chats_page_lists_my_chats_and_the_waiting_ones(
    client, runtime, agent, agent_headers
):
    waiting = await chat_message(client, agent_headers, 1, "Hallo, ist jemand da?")
    mine = await chat_message(client, agent_headers, 1, "Meine Bestellung fehlt", key="sess-2")
    await mail(client, agent_headers, "Keine Chat-Sache")
    assigned = await client.patch(
        f"/api/v1/tickets/{mine['ticket_id']}",
        headers=agent_headers,
        json={"assignee_id": agent.id},
    )
    assert assigned.status_code == 200, assigned.text
    await sign_in(client)
    page = (await client.get("/chats")).text
    active = page.split('id="chat-active-title"')[1].split('id="chat-waiting-title"')[0]
    queued = page.split('id="chat-waiting-title"')[1]
    assert f'id="chat-{mine["ticket_id"]}"' in active
    assert "Meine Bestellung fehlt" in active and "Vera Visitor" in active
    assert "unread-chat" in active  # the visitor wrote last and nobody has read it
    assert "waiting" in active
    assert f'id="waiting-{waiting["ticket_id"]}"' in queued
    assert "Hallo, ist jemand da?" in queued
    assert "Keine Chat-Sache" not in page  # only live channels' tickets

    # An agent who is a member of another queue only sees that queue's waiting chats.
    async with runtime.transaction() as tx:
        queue = Queue(name="Andere")
        tx.session.add(queue)
        await tx.session.flush()
        tx.session.add(QueueMember(queue_id=queue.id, user_id=agent.id, role="agent"))
    page = (await client.get("/chats")).text
    assert f'id="waiting-{waiting["ticket_id"]}"' not in page
    assert "No chat is waiting." in page


async def test_chats_page_in_german(client, runtime, agent, agent_headers):
    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await sign_in(client)
    page = await client.get("/chats")
    await client.post(
        "/settings",
        data={"locale": "de", "timezone": "Europe/Berlin", "csrf_token": csrf_of(page.text)},
    )
    page = (await client.get("/chats")).text
    assert ">Chats</a>" in page and "Ihre Chats" in page and "Wartend in Ihren Queues" in page
    page = (await client.get(f"/tickets/{chat['ticket_id']}")).text
    assert "Chat beenden" in page and "Weiterleiten" in page
    assert "Enter sendet, Umschalt+Enter beginnt eine neue Zeile." in page


async def test_the_visitor_as_the_chat_session_knows_them(client, runtime, agent, agent_headers):
    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await client.patch(
        f"/api/v1/tickets/{chat['ticket_id']}",
        headers=agent_headers,
        json={"assignee_id": agent.id},
    )
    now = runtime.clock.now()
    async with runtime.transaction() as tx:
        channel = ChatChannel(
            name="Shop",
            public_key="pk-shop",
            allowed_origins=["https://shop.example"],
            identity_secret="sealed",
            created_at=now,
            updated_at=now,
        )
        tx.session.add(channel)
        await tx.session.flush()
        session = ChatSession(
            channel_id=channel.id,
            key="sess-1",
            visitor_id="v1",
            identity="visitor:sess-1",
            name="Vera Sommer",
            email="vera@example.com",
            email_verified=True,
            ticket_id=chat["ticket_id"],
            status="open",
            last_seen_at=now,
            visitor_read_id=chat["message_id"],
            agent_read_id=0,
            created_at=now,
        )
        tx.session.add(session)
    await sign_in(client)
    page = (await client.get(f"/tickets/{chat['ticket_id']}")).text
    assert "Visitor online" in page and "Vera Sommer" in page
    assert "vera@example.com (verified)" in page
    assert f'data-read-id="{chat["message_id"]}"' in page
    assert "unread-chat" in (await client.get("/chats")).text
    # The agent read it (the chat channel keeps what each side has seen); the visitor left.
    from tresen import channel as channel_registry

    await channel_registry.get("chat").mark_read(runtime, chat["ticket_id"], chat["message_id"])
    async with runtime.transaction() as tx:
        row = await tx.session.get(ChatSession, session.id)
        assert row.agent_read_id == chat["message_id"]
        row.last_seen_at = now - timedelta(seconds=runtime.settings.chat_away_seconds + 1)
    assert "unread-chat" not in (await client.get("/chats")).text
    assert "Visitor offline" in (await client.get(f"/tickets/{chat['ticket_id']}")).text


async def test_every_chat_form_wants_its_csrf_token(client, agent, agent_headers):
    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await sign_in(client)
    tid = chat["ticket_id"]
    for path in (
        f"/chats/{tid}/accept",
        f"/chats/{tid}/decline",
        f"/tickets/{tid}/chat/end",
        f"/tickets/{tid}/chat/transfer",
    ):
        answer = await client.post(path, data={"to": f"agent:{agent.id}"})
        assert answer.status_code == 403, path
        assert "CSRF" in answer.text


async def test_ticket_page_in_chat_mode(client, agent, agent_headers):
    chat = await chat_message(client, agent_headers, 1, "Hallo aus dem Chat")
    other = await mail(client, agent_headers, "Per Mail")
    await sign_in(client)
    page = (await client.get(f"/tickets/{chat['ticket_id']}")).text
    assert 'data-chat="1"' in page  # the article (socket) and the composer
    assert f'action="/tickets/{chat["ticket_id"]}/chat/end"' in page
    assert "End chat" in page and "Transfer" in page
    assert 'id="chat-typing"' in page and 'id="chat-read"' in page
    assert "Enter sends, Shift+Enter starts a new line." in page
    assert 'hx-post="/tickets/' in page  # the reply stays on the page
    plain = (await client.get(f"/tickets/{other['ticket_id']}")).text
    assert "data-chat" not in plain and "End chat" not in plain


async def test_end_chat_solves_the_ticket_and_says_so_to_the_visitor(
    client, runtime, agent, agent_headers
):
    chat = await chat_message(client, agent_headers, 1, "Danke, das war alles")
    other = await mail(client, agent_headers, "Kein Chat")
    await sign_in(client)
    page = await client.get(f"/tickets/{chat['ticket_id']}")
    token = csrf_of(page.text)
    refused = await client.post(
        f"/tickets/{other['ticket_id']}/chat/end", data={"csrf_token": token}
    )
    assert refused.status_code == 409
    async with runtime.bus.subscribe() as events:
        ended = await client.post(
            f"/tickets/{chat['ticket_id']}/chat/end", data={"csrf_token": token}
        )
        assert ended.status_code == 303
        assert ended.headers["location"] == f"/tickets/{chat['ticket_id']}"
        seen = []
        while not any(e.type == "chat.ended" for e in seen):
            seen.append(await asyncio.wait_for(events.get(), 5))
    [event] = [e for e in seen if e.type == "chat.ended"]
    assert event.data == {"ticket_id": chat["ticket_id"], "by": "agent"}
    assert any(e.type == "ticket.updated" for e in seen)  # the same transaction
    async with runtime.read() as session:
        ticket = await session.get(Ticket, chat["ticket_id"])
        assert ticket.state == "solved"
    page = (await client.get(f"/tickets/{chat['ticket_id']}")).text
    assert "The chat has ended." in page


async def test_transfer_wants_an_agent_or_a_queue(client, agent, agent_headers):
    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await sign_in(client)
    token = csrf_of((await client.get(f"/tickets/{chat['ticket_id']}")).text)
    for target in ("", "agent:", "team:3", "queue:x"):
        answer = await client.post(
            f"/tickets/{chat['ticket_id']}/chat/transfer", data={"csrf_token": token, "to": target}
        )
        assert answer.status_code == 400, target


async def test_transfer_hands_the_chat_to_a_colleague(client, runtime, agent, agent_headers):
    colleague = await create_user(
        runtime, email="bernd@example.com", name="Bernd", role="agent", password="bernd-pw-123"
    )
    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await client.patch(
        f"/api/v1/tickets/{chat['ticket_id']}",
        headers=agent_headers,
        json={"assignee_id": agent.id},
    )
    await sign_in(client)
    token = csrf_of((await client.get(f"/tickets/{chat['ticket_id']}")).text)
    answer = await client.post(
        f"/tickets/{chat['ticket_id']}/chat/transfer",
        data={"csrf_token": token, "to": f"agent:{colleague.id}"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/chats"
    page = (await client.get("/chats")).text
    assert f'id="chat-{chat["ticket_id"]}"' not in page


async def test_an_offer_shows_and_is_accepted_or_declined(client, runtime, agent, agent_headers):
    first = await chat_message(client, agent_headers, 1, "Erstes Angebot")
    second = await chat_message(client, agent_headers, 1, "Zweites Angebot", key="sess-2")
    # Routing offers a chat to an agent as it gives it to them (here by hand: nobody is
    # online for the routing engine to pick).
    async with runtime.transaction() as tx:
        for made in (first, second):
            ticket = await tx.session.get(Ticket, made["ticket_id"])
            await update_ticket(tx, ticket, {"assignee_id": agent.id}, Actor(user_id=agent.id))
            await offers.offer(tx, made["ticket_id"], agent.id)
    await sign_in(client)
    page = (await client.get("/chats")).text
    offered = page.split('id="chat-offers-title"')[1].split('id="chat-active-title"')[0]
    assert f'id="offer-{first["ticket_id"]}"' in offered and "Erstes Angebot" in offered
    assert "Accept" in offered and "Decline" in offered and "s left" in offered
    token = csrf_of(page)
    accepted = await client.post(f"/chats/{first['ticket_id']}/accept", data={"csrf_token": token})
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/tickets/{first['ticket_id']}"
    declined = await client.post(
        f"/chats/{second['ticket_id']}/decline", data={"csrf_token": token}
    )
    assert declined.status_code == 303 and declined.headers["location"] == "/chats"
    async with runtime.read() as session:
        states = dict(list(await session.execute(select(ChatOffer.ticket_id, ChatOffer.state))))
    assert states[first["ticket_id"]] == "accepted"
    assert states[second["ticket_id"]] == "declined"
    page = (await client.get("/chats")).text
    assert f'id="chat-{first["ticket_id"]}"' in page  # now one of my chats
    assert f'id="offer-{second["ticket_id"]}"' not in page


async def test_the_ticket_socket_shows_the_visitor_and_sends_the_agents_side(
    app, client, runtime, agent, agent_headers
):
    from agent_ui.ticket_live import TicketFeed

    chat = await chat_message(client, agent_headers, 1, "Hallo")
    tid = chat["ticket_id"]
    await sign_in(client)
    socket = await open_socket(app, client, f"/ws/tickets/{tid}")
    await wait_listening(runtime, TicketFeed)
    try:
        await runtime.publish(
            "chat.typing", ticket_id=tid, side="visitor", typing=True, name="Vera"
        )
        assert "Visitor is typing…" in await frame_with(socket, 'id="chat-typing"')
        # Nothing new within 6 seconds: the indicator goes again by itself.
        cleared = await frame_with(socket, 'id="chat-typing"', timeout=8)
        assert "Visitor is typing" not in cleared
        await runtime.publish(
            "chat.visitor",
            ticket_id=tid,
            online=True,
            name="Vera Visitor",
            email="vera@example.com",
            email_verified=False,
        )
        shown = await frame_with(socket, 'id="chat-visitor"')
        assert "Visitor online" in shown and "vera@example.com (not verified)" in shown
        await runtime.publish(
            "chat.read", ticket_id=tid, side="visitor", message_id=chat["message_id"]
        )
        assert f'data-read-id="{chat["message_id"]}"' in await frame_with(socket, 'id="chat-read"')
        await runtime.publish("chat.ended", ticket_id=tid, by="visitor")
        assert "The visitor ended the chat." in await frame_with(socket, 'id="chat-ended"')

        async with runtime.bus.subscribe() as events:

            async def say(body: dict) -> None:
                socket.to_app.put_nowait({"type": "websocket.receive", "text": json.dumps(body)})

            async def next_chat_event():
                while True:
                    event = await asyncio.wait_for(events.get(), 5)
                    if event.type.startswith("chat."):
                        return event

            await say({"typing": True, "reply": True})
            typing = await next_chat_event()
            assert typing.type == "chat.typing"
            assert typing.data == {
                "ticket_id": tid,
                "side": "agent",
                "typing": True,
                "name": "Anna Agent",
            }
            await say({"typing": True, "reply": True})  # within 2 s: not again
            await say({"typing": False, "reply": True})
            stopped = await next_chat_event()
            assert stopped.data["typing"] is False
            await say({"typing": True})  # a note: colleagues see it, the visitor does not
            await say({"read": 999_999})  # not a message of this ticket
            await say({"read": chat["message_id"]})
            read = await next_chat_event()
            assert read.type == "chat.read"
            assert read.data == {
                "ticket_id": tid,
                "side": "agent",
                "message_id": chat["message_id"],
            }
            # The agent leaves while typing: the visitor is told they stopped.
            await say({"typing": True, "reply": True})
            assert (await next_chat_event()).data["typing"] is True
            await socket.close()
            left = await next_chat_event()
            assert left.type == "chat.typing" and left.data["typing"] is False
    finally:
        await socket.close()


async def test_the_chats_page_changes_live(app, client, runtime, agent, agent_headers):
    from agent_ui.chats import ChatsFeed

    await sign_in(client)
    socket = await open_socket(app, client, "/ws/chats")
    await wait_listening(runtime, ChatsFeed)
    try:
        await mail(client, agent_headers, "Nur eine Mail")
        chat = await chat_message(client, agent_headers, 1, "Ist jemand da?")
        frame = await frame_with(socket, 'id="chat-lists"')
        assert f'id="waiting-{chat["ticket_id"]}"' in frame and "Ist jemand da?" in frame
        assert 'hx-swap-oob="true"' in frame
        # Offered to the agent: it moves to their offers, with Accept and the time left.
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, chat["ticket_id"])
            await update_ticket(tx, ticket, {"assignee_id": agent.id}, Actor(user_id=agent.id))
            await offers.offer(tx, chat["ticket_id"], agent.id)
        frame = await frame_with(socket, f'id="offer-{chat["ticket_id"]}"')
        assert "Accept" in frame and "s left" in frame
        assert f'id="waiting-{chat["ticket_id"]}"' not in frame
    finally:
        await socket.close()


async def test_a_new_offer_pops_up_in_the_header(app, client, runtime, agent, agent_headers):
    from agent_ui.live import DeskFeed

    chat = await chat_message(client, agent_headers, 1, "Hallo")
    await sign_in(client)
    socket = await open_socket(app, client, "/ws/desk")
    await wait_listening(runtime, DeskFeed)
    try:
        fields = {"ticket_id": chat["ticket_id"], "agent_id": agent.id, "expires_at": "2030-01-01"}
        await runtime.publish("chat.offered", **fields)
        toast = await frame_with(socket, "kind-chat-offered")
        assert 'href="/chats"' in toast and "A chat is waiting for you." in toast
    finally:
        await socket.close()


async def test_a_reply_going_out_updates_only_its_delivery_line(
    app, client, runtime, agent, agent_headers
):
    from agent_ui.ticket_live import TicketFeed
    from tickets import replies
    from tickets.history import Actor
    from tickets.models import Ticket

    chat = await chat_message(client, agent_headers, 1, "Hallo")
    tid = chat["ticket_id"]
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, tid)
        done = await replies.reply(tx, ticket, Actor(user_id=agent.id), text="Gern!")
    await sign_in(client)
    socket = await open_socket(app, client, f"/ws/tickets/{tid}")
    await wait_listening(runtime, TicketFeed)
    try:
        # What the outbox says as a reply goes out: its delivery line changes, nothing else.
        await runtime.publish("ticket.updated", ticket_id=tid, fields=["delivery"])
        frame = await frame_with(socket, f'id="delivery-{done.message.id}"')
        assert 'hx-swap-oob="true"' in frame
        assert 'id="ticket-status"' not in frame and 'id="ticket-sla"' not in frame
        # As the outbox says it: naming the replies, only theirs are looked up and drawn.
        await runtime.publish(
            "ticket.updated", ticket_id=tid, fields=["delivery"], message_ids=[done.message.id]
        )
        frame = await frame_with(socket, f'id="delivery-{done.message.id}"')
        assert 'id="ticket-status"' not in frame
        # Any other change draws the ticket's status again, as before.
        await runtime.publish("ticket.updated", ticket_id=tid, fields=["priority"])
        assert "hx-swap-oob" in await frame_with(socket, "ticket-status")
    finally:
        await socket.close()
