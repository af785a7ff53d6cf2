"""At the end of a chat the widget asks "How satisfied were you?": the `ended` frame carries
the signed rating link, which opens the rating page without signing in."""

from __future__ import annotations

from sqlalchemy import select

from tests.fixtures import csrf_of
from tickets.csat import ticket_rating
from tickets.models import Message


async def test_the_ended_frame_carries_a_rating_link_that_works(runtime, visitor, client):
    chat = visitor()
    await chat.hello()
    await chat.send({"type": "message", "client_id": "q", "text": "Danke, das war alles"})
    ack = await chat.until("ack")
    async with runtime.read() as session:
        ticket_id = await session.scalar(select(Message.ticket_id).where(Message.id == ack["id"]))
    await chat.send({"type": "end"})
    ended = await chat.until("ended")
    await chat.close()
    assert ended["by"] == "visitor"
    base = runtime.settings.base_url
    assert ended["rating_url"].startswith(f"{base}/portal/rate/")
    assert ended["rating_url"].endswith("?via=chat")

    url = ended["rating_url"].removeprefix(base)
    page = await client.get(url)
    assert page.status_code == 200
    answer = await client.post(url, data={"csrf_token": csrf_of(page.text), "score": "5"})
    assert answer.status_code == 303
    async with runtime.read() as session:
        rating = await ticket_rating(session, ticket_id)
    assert (rating.score, rating.source) == (5, "chat")


async def test_a_visitor_who_ends_before_writing_gets_no_rating_link(visitor):
    chat = visitor()
    await chat.hello()
    await chat.send({"type": "end"})
    ended = await chat.until("ended")
    await chat.close()
    assert "rating_url" not in ended
