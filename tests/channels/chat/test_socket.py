"""The visitor's socket: hello and welcome, messages stored once, resume, bad frames,
identities vouched for by the site, prechat, replies from the console."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from channels.chat.models import ChatSession
from channels.chat.tokens import signature
from tickets import replies
from tickets.history import Actor
from tickets.models import Message, Ticket
from tresen.accounts import create_user


async def _count(runtime, model, *where) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_other_sites_and_unknown_keys_are_refused_before_the_handshake(app, visitor):
    other = visitor(origin="https://evil.example.net")
    assert (await other.connect()) == {"type": "websocket.close", "code": 1008, "reason": ""}
    without = visitor(origin=None)
    assert (await without.connect())["code"] == 1008
    from tests.channels.chat.conftest import Visitor

    unknown = Visitor(app, "no-such-key")
    assert (await unknown.connect())["code"] == 1008


async def test_a_message_is_stored_once_and_resumed_after_a_reconnect(runtime, visitor):
    first = visitor()
    welcome = await first.hello()
    assert welcome["type"] == "welcome" and welcome["status"] == "new"
    assert welcome["messages"] == [] and welcome["token"]
    await first.send({"type": "message", "client_id": "c1", "text": "Where is my order?"})
    got = await first.collect("ack", "message")
    ack, echo = got["ack"], got["message"]
    assert ack["client_id"] == "c1" and ack["id"] == echo["id"]
    assert echo["from"] == "visitor" and echo["client_id"] == "c1"
    assert echo["text"] == "Where is my order?"
    # The connection dropped before the ack arrived: the widget sends it again.
    await first.send({"type": "message", "client_id": "c1", "text": "Where is my order?"})
    again = await first.until("ack")
    assert again["id"] == ack["id"]
    await first.close()
    assert await _count(runtime, Message, Message.channel == "chat") == 1
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.channel == "chat"))
        row = await session.scalar(select(ChatSession))
    assert ticket.subject == "Chat: Where is my order?"
    assert row.ticket_id == ticket.id and row.left_at is not None

    # The same visitor (its token) comes back: everything after what it holds, once.
    back = visitor()
    welcome = await back.hello(token=welcome["token"], last_id=0)
    assert welcome["status"] == "open"
    assert [m["id"] for m in welcome["messages"]] == [ack["id"]]
    await back.send({"type": "message", "client_id": "c2", "text": "Order 4711"})
    second = (await back.until("ack"))["id"]
    await back.close()
    latest = visitor()
    welcome = await latest.hello(token=welcome["token"], last_id=ack["id"])
    assert [m["id"] for m in welcome["messages"]] == [second]
    await latest.close()
    assert await _count(runtime, Ticket, Ticket.channel == "chat") == 1
    # Someone else's (or a forged) token is a new visitor: nothing of the conversation.
    stranger = visitor()
    welcome = await stranger.hello(token=welcome["token"] + "x")
    assert welcome["status"] == "new" and welcome["messages"] == []
    await stranger.close()


async def test_bad_frames_get_an_error_and_the_socket_stays(visitor):
    chat = visitor()
    await chat.hello()
    for bad, code in (
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ({"type": "launch"}, "bad_frame"),
        ({"type": "message", "client_id": "bad id!", "text": "x"}, "invalid"),
        ({"type": "message", "client_id": "ok", "text": "   "}, "invalid"),
        ({"type": "message", "client_id": "ok", "text": "x" * 5001}, "invalid"),
        ({"type": "hello"}, "bad_frame"),
        ("x" * 20000, "too_large"),
        ({"type": "verify_code", "code": "12ab"}, "invalid"),
        ({"type": "read", "id": "7"}, "invalid"),
    ):
        await chat.send(bad)
        error = await chat.frame()
        assert error["type"] == "error" and error["code"] == code, (bad, error)
    await chat.send({"type": "ping"})
    assert (await chat.frame()) == {"type": "pong"}
    await chat.close()


async def test_a_forged_user_signature_is_refused(runtime, visitor, chat_channel):
    _row, secret = chat_channel
    forged = visitor()
    answer = await forged.hello(identity={"user_id": "42", "user_hash": signature("guess", "42")})
    assert answer["type"] == "error" and answer["code"] == "identity_refused"
    assert (await forged.frame())["code"] == 1008

    # Vouched for: the conversation is on that user's record; the e-mail vouched for too.
    signed = visitor()
    welcome = await signed.hello(
        identity={
            "user_id": "42",
            "user_hash": signature(secret, "42"),
            "name": "Grete Kunde",
            "email": "grete@example.com",
            "email_hash": signature(secret, "grete@example.com"),
        }
    )
    assert welcome["visitor"] == {
        "name": "Grete Kunde",
        "email": "grete@example.com",
        "email_verified": True,
    }
    await signed.send({"type": "message", "client_id": "m1", "text": "Hallo"})
    await signed.until("ack")
    await signed.close()
    async with runtime.read() as session:
        message = await session.scalar(select(Message).where(Message.channel == "chat"))
    assert message.sender == f"user:{_row.id}:42"

    # An e-mail without its signature is a claim: kept, not verified.
    claimed = visitor()
    welcome = await claimed.hello(
        identity={"user_id": "43", "user_hash": signature(secret, "43"), "email": "boss@x.de"}
    )
    assert welcome["visitor"]["email_verified"] is False
    await claimed.close()


async def test_prechat_required_fields_come_before_the_first_message(
    runtime, visitor, chat_channel
):
    row, _secret = chat_channel
    async with runtime.transaction() as tx:
        tx.session.add(row)
        row.prechat = {"name": "required", "email": "optional"}
    runtime.caches.pop("chat.channels", None)
    chat = visitor()
    welcome = await chat.hello()
    assert welcome["prechat"] == {"name": "required", "email": "optional"}
    await chat.send({"type": "message", "client_id": "a", "text": "Hi"})
    refused = await chat.frame()
    assert refused["code"] == "prechat_required" and refused["fields"] == ["name"]
    await chat.send({"type": "prechat", "name": "Max", "email": "not an address"})
    assert (await chat.frame())["field"] == "email"
    await chat.send({"type": "prechat", "name": "Max Muster", "email": "max@example.com"})
    assert (await chat.frame()) == {
        "type": "visitor",
        "name": "Max Muster",
        "email": "max@example.com",
        "email_verified": False,
    }
    await chat.send({"type": "message", "client_id": "a", "text": "Hi"})
    assert (await chat.until("ack"))["client_id"] == "a"
    await chat.close()
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.channel == "chat"))
        await session.refresh(ticket, ["customer"])
    assert ticket.customer.name == "Max Muster"


async def test_the_agents_reply_and_typing_reach_the_visitor_live(runtime, visitor):
    agent = await create_user(
        runtime, email="bea@example.com", name="Bea Berater", role="agent", password="pw-123456"
    )
    chat = visitor()
    await chat.hello()
    await chat.send({"type": "message", "client_id": "q", "text": "Can I return shoes?"})
    ack = (await chat.collect("ack", "message"))["ack"]
    async with runtime.read() as session:
        ticket_id = await session.scalar(select(Message.ticket_id).where(Message.id == ack["id"]))
    await runtime.publish("chat.typing", ticket_id=ticket_id, side="agent", typing=True, name="Bea")
    assert (await chat.until("typing")) == {"type": "typing", "typing": True, "name": "Bea"}
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        await replies.reply(tx, ticket, Actor(user_id=agent.id), text="Yes, within 30 days.")
        await replies.reply(tx, ticket, Actor(user_id=agent.id), text="secret", internal=True)
    answer = await chat.until("message")
    assert answer["from"] == "agent" and answer["text"] == "Yes, within 30 days."
    assert answer["author"] == {"name": "Bea Berater"}
    # The internal note never reaches the visitor.
    await chat.send({"type": "ping"})
    assert (await chat.frame()) == {"type": "pong"}
    await chat.close()


async def test_the_visitor_ends_the_chat(runtime, visitor):
    chat = visitor()
    token = (await chat.hello())["token"]
    await chat.send({"type": "message", "client_id": "q", "text": "Thanks, bye"})
    await chat.until("ack")
    await chat.send({"type": "end"})
    assert (await chat.until("ended"))["by"] == "visitor"
    async with runtime.read() as session:
        row = await session.scalar(select(ChatSession))
    assert row.status == "ended" and row.ended_at is not None
    await chat.close()
    # Coming back, the visitor sees the ended chat; asking for a new one starts afresh.
    back = visitor()
    assert (await back.hello(token=token))["status"] == "ended"
    await back.close()
    fresh = visitor()
    welcome = await fresh.hello(token=token, new=True)
    assert welcome["status"] == "new" and welcome["messages"] == []
    await fresh.send({"type": "message", "client_id": "q", "text": "One more thing"})
    await fresh.until("ack")
    await fresh.close()
    assert await _count(runtime, Ticket, Ticket.channel == "chat") == 2


async def test_messages_are_rate_limited_per_visitor(runtime, visitor):
    runtime.settings.__dict__["chat_messages_per_minute"] = 3
    runtime.caches.pop("chat.rates", None)
    chat = visitor()
    await chat.hello()
    codes = []
    for number in range(5):
        await chat.send({"type": "message", "client_id": f"m{number}", "text": f"n{number}"})
        frame = await chat.until("ack") if number < 3 else await chat.until("error")
        codes.append(frame.get("code", frame["type"]))
    assert codes == ["ack", "ack", "ack", "rate_limited", "rate_limited"]
    await chat.close()
    await asyncio.sleep(0)


async def test_a_merged_ticket_shows_each_visitor_only_their_own_conversation(runtime, visitor):
    from tickets.merge import merge_tickets

    anna, ben = visitor(), visitor()
    anna_token = (await anna.hello())["token"]
    await ben.hello()
    await anna.send({"type": "message", "client_id": "a", "text": "Anna's question"})
    first = (await anna.collect("ack", "message"))["ack"]["id"]
    await ben.send({"type": "message", "client_id": "b", "text": "Ben's secret order 4711"})
    second = (await ben.collect("ack", "message"))["ack"]["id"]
    async with runtime.transaction() as tx:
        anna_ticket = await tx.session.get(
            Ticket, await tx.session.scalar(select(Message.ticket_id).where(Message.id == first))
        )
        ben_ticket = await tx.session.get(
            Ticket, await tx.session.scalar(select(Message.ticket_id).where(Message.id == second))
        )
        await merge_tickets(tx, ben_ticket, anna_ticket, Actor())
    # Ben writes on: his message joins Anna's ticket now; Anna's socket does not show it.
    await ben.send({"type": "message", "client_id": "b2", "text": "Ben again"})
    await ben.until("ack")
    await anna.send({"type": "ping"})
    assert (await anna.frame()) == {"type": "pong"}
    await anna.close()
    back = visitor()
    welcome = await back.hello(token=anna_token)
    assert [m["text"] for m in welcome["messages"]] == ["Anna's question"]
    await back.close()
    await ben.close()


async def test_a_socket_left_before_its_hello_ends_quietly(visitor, caplog):
    chat = visitor()
    assert (await chat.connect())["type"] == "websocket.accept"
    await chat.close()  # the page went away at once
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
