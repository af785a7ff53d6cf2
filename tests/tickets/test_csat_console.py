"""Ratings where staff see them: the ticket page, the customer's page, the supervisors'
board (by queue, agent and week) and the API."""

from __future__ import annotations

from tests.fixtures import inbound_mail, sign_in
from tickets.actions import Actor, update_ticket
from tickets.csat import rate
from tickets.inbox import receive
from tickets.models import Ticket
from tickets.queues import create_queue
from tresen.accounts import create_token, create_user
from tresen.handlers import run_due


async def _rated(runtime, agent, score=2, comment="<script>alert(1)</script> zu langsam"):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Billing")
    result = await receive(runtime, inbound_mail("<c-1@example.com>", queue_id=queue.id))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, result.ticket_id)
        await update_ticket(
            tx, ticket, {"state": "solved", "assignee_id": agent.id}, Actor(user_id=agent.id)
        )
    await run_due(runtime)  # the solved mail asks
    async with runtime.transaction() as tx:
        await rate(tx, ticket.id, ticket.customer_id, score, comment, source="mail")
    return ticket, queue


async def test_the_ticket_page_shows_the_rating_and_when_the_customer_was_asked(
    client, runtime, agent
):
    ticket, _ = await _rated(runtime, agent)
    await sign_in(client)
    page = (await client.get(f"/tickets/{ticket.id}")).text
    section = page[page.index('id="ticket-csat"') :]
    section = section[: section.index("</section>")]
    assert "2 of 5" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt; zu langsam" in section
    assert "<script>alert" not in page
    assert "Asked by e-mail (kim@example.com)" in section
    assert "Kim Meyer rated the service 2 of 5" in page  # the timeline


async def test_an_unrated_ticket_says_so(client, runtime, agent):
    result = await receive(runtime, inbound_mail("<c-2@example.com>"))
    await sign_in(client)
    page = (await client.get(f"/tickets/{result.ticket_id}")).text
    assert "The customer is asked when the ticket is solved." in page


async def test_the_customer_page_lists_their_ratings(client, runtime, agent):
    ticket, _ = await _rated(runtime, agent, score=4, comment=None)
    await sign_in(client)
    page = (await client.get(f"/customers/{ticket.customer_id}")).text
    section = page[page.index('id="customer-csat"') :]
    assert "Average 4.0 of 5 from 1 ratings" in section
    assert f"#{ticket.number}" in section and "4 of 5" in section


async def test_supervisors_see_csat_by_queue_agent_and_week_on_the_board(client, runtime, agent):
    ticket, queue = await _rated(runtime, agent, score=5)
    await create_user(
        runtime, email="sam@example.com", name="Sam", role="supervisor", password="sam-password"
    )
    await sign_in(client, "sam@example.com", "sam-password")
    page = (await client.get("/board")).text
    section = page[page.index('id="board-csat"') :]
    assert "1 ratings, average 5.00 of 5, 100 % satisfied (4 or 5)" in section
    queue_table = section[section.index('class="board-csat-queue"') :]
    assert f'data-queue="{queue.id}"' in queue_table and "Billing" in queue_table
    agent_table = section[section.index('class="board-csat-agent"') :]
    assert f'data-agent="{agent.id}"' in agent_table and "Anna Agent" in agent_table
    week = runtime.clock.now().isocalendar()
    assert f"{week[0]}-W{week[1]:02d}" in section[section.index('class="board-csat-week"') :]


async def test_the_board_without_ratings_says_so(client, runtime):
    await create_user(
        runtime, email="sam@example.com", name="Sam", role="supervisor", password="sam-password"
    )
    await sign_in(client, "sam@example.com", "sam-password")
    assert "No ratings in these weeks." in (await client.get("/board")).text


async def test_the_api_gives_the_rating_with_the_ticket_and_the_report(
    client, runtime, agent, agent_headers
):
    ticket, queue = await _rated(runtime, agent, score=3, comment="ok")
    answer = (await client.get(f"/api/v1/tickets/{ticket.id}", headers=agent_headers)).json()
    assert answer["rating"]["score"] == 3 and answer["rating"]["comment"] == "ok"
    assert answer["rating"]["source"] == "mail"
    alone = await client.get(f"/api/v1/tickets/{ticket.id}/rating", headers=agent_headers)
    assert alone.json()["rating"] == answer["rating"]
    missing = await client.get("/api/v1/tickets/999999/rating", headers=agent_headers)
    assert missing.status_code == 404

    # The report is for supervisors.
    report = await client.get("/api/v1/csat/report?by=queue", headers=agent_headers)
    assert report.status_code == 403
    await create_user(runtime, email="sam@example.com", name="Sam", role="supervisor")
    headers = {"Authorization": f"Bearer {await create_token(runtime, 'sam@example.com')}"}
    report = (await client.get("/api/v1/csat/report?by=queue", headers=headers)).json()
    assert report["total"] == {"count": 1, "average": 3.0, "satisfied": 0.0}
    assert report["items"] == [
        {"key": queue.id, "name": "Billing", "count": 1, "average": 3.0, "satisfied": 0.0}
    ]
    by_week = (await client.get("/api/v1/csat/report", headers=headers)).json()
    assert by_week["by"] == "week" and by_week["items"][0]["count"] == 1
    for query in ("by=customer", "weeks=9999", "weeks=-1", "weeks=abc"):
        refused = await client.get(f"/api/v1/csat/report?{query}", headers=headers)
        assert refused.status_code == 400, query
    async with runtime.read() as session:
        assert (await session.get(Ticket, ticket.id)).state == "solved"
