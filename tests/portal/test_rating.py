"""The rating page: opened from the solved mail's link without signing in, answered with a
form (CSRF), refused with a clear page when the link was altered, expired or is not theirs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from customers import erasure
from customers.actions import create_customer
from customers.models import Customer
from portal.rating import rating_link
from tests.fixtures import csrf_of, inbound_mail
from tickets.actions import Actor, open_ticket, update_ticket
from tickets.csat import rating_token, ticket_rating
from tickets.csat_models import Rating
from tickets.inbox import receive
from tickets.models import OutboxMessage, Ticket
from tresen.clock import FrozenClock
from tresen.handlers import run_due


async def _solved_ticket(runtime, agent, language: str | None = None) -> Ticket:
    """Kim's ticket, solved; Kim's language as given (None: not known)."""
    result = await receive(runtime, inbound_mail("<rate-1@example.com>"))
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, result.ticket_id)
        customer = await tx.session.get(Customer, ticket.customer_id)
        customer.language = language
        await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=agent.id))
    return ticket


async def _mailed_link(runtime) -> str:
    """The rating link of the solved mail, as the customer's mail program shows it."""
    await run_due(runtime)
    async with runtime.read() as session:
        mail = await session.scalar(select(OutboxMessage).where(OutboxMessage.subject.like("%[#%")))
    url = mail.text.split("http://127.0.0.1:8000", 1)[1].split()[0]
    assert url.startswith("/portal/rate/")
    return url


async def _ratings(runtime) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(Rating))


async def test_rating_from_the_solved_mail_without_signing_in(client, runtime, agent):
    ticket = await _solved_ticket(runtime, agent, language="de")
    url = await _mailed_link(runtime)
    page = await client.get(url + "?score=2")
    assert page.status_code == 200
    assert "Wie zufrieden waren Sie?" in page.text  # the customer's language
    assert f"#{ticket.number}" in page.text
    assert 'value="2" required checked' in page.text  # chosen in the mail
    assert await _ratings(runtime) == 0  # opening the link (a mail scanner) records nothing

    answer = await client.post(
        url,
        data={"csrf_token": csrf_of(page.text), "score": "2", "comment": "<b>zu langsam</b>"},
    )
    assert answer.status_code == 303
    thanks = await client.get(answer.headers["location"])
    assert "Danke! Sie haben uns mit 2 von 5 bewertet." in thanks.text
    assert "&lt;b&gt;zu langsam&lt;/b&gt;" in thanks.text and "<b>zu" not in thanks.text
    async with runtime.read() as session:
        rating = await ticket_rating(session, ticket.id)
    assert (rating.score, rating.comment, rating.source) == (2, "<b>zu langsam</b>", "mail")
    assert rating.customer_id == ticket.customer_id

    # A later answer replaces it.
    again = await client.post(url, data={"csrf_token": csrf_of(thanks.text), "score": "5"})
    assert again.status_code == 303
    async with runtime.read() as session:
        rating = await ticket_rating(session, ticket.id)
    assert (rating.score, rating.comment) == (5, None)
    assert await _ratings(runtime) == 1


async def test_english_by_the_browser_when_the_customer_has_no_language(client, runtime, agent):
    await _solved_ticket(runtime, agent)
    url = await _mailed_link(runtime)
    page = await client.get(url, headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "How satisfied were you?" in page.text and "Very dissatisfied" in page.text


async def test_a_bad_answer_is_told_and_nothing_is_kept(client, runtime, agent):
    await _solved_ticket(runtime, agent, language="en")
    url = await _mailed_link(runtime)
    page = await client.get(url)
    csrf = csrf_of(page.text)
    for data in ({"score": "9"}, {"score": "abc"}, {}, {"score": "4", "comment": "x" * 2001}):
        answer = await client.post(url, data={"csrf_token": csrf, **data})
        assert answer.status_code == 422, data
        assert 'role="alert"' in answer.text
    refused = await client.post(url, data={"score": "4"})  # no CSRF token
    assert refused.status_code == 403
    assert await _ratings(runtime) == 0


async def test_an_altered_link_is_refused_with_a_page(client, runtime, agent):
    await _solved_ticket(runtime, agent, language="en")
    url = await _mailed_link(runtime)
    page = await client.get(url)
    csrf = csrf_of(page.text)
    token = url.removeprefix("/portal/rate/").split("?")[0]
    for altered in (token[:-2] + "xx", token.replace(".", ".A", 1), "nothing", "x" * 2000):
        answer = await client.get(f"/portal/rate/{altered}")
        assert answer.status_code == 400, altered
        assert 'data-reason="altered"' in answer.text
        assert "This rating link is not complete or was changed" in answer.text
        posted = await client.post(f"/portal/rate/{altered}", data={"csrf_token": csrf, "score": 1})
        assert posted.status_code == 400
    assert await _ratings(runtime) == 0


async def test_an_expired_link_is_refused_with_a_page(client, runtime, agent):
    runtime.clock = FrozenClock(runtime.clock.now())
    await _solved_ticket(runtime, agent, language="en")
    url = await _mailed_link(runtime)
    runtime.clock.advance(timedelta(days=29))
    assert (await client.get(url)).status_code == 200
    runtime.clock.advance(timedelta(days=1, seconds=1))
    answer = await client.get(url)
    assert answer.status_code == 410
    assert 'data-reason="expired"' in answer.text and "has expired" in answer.text


async def test_a_link_for_a_ticket_that_is_not_the_customers_is_refused(client, runtime, agent):
    ticket = await _solved_ticket(runtime, agent, language="en")
    async with runtime.transaction() as tx:
        other = await create_customer(tx, name="Eve", identities=[("email", "eve@example.com")])
    token = rating_token(
        runtime.settings.secret_key, ticket.id, other.id, runtime.clock.now(), number=ticket.number
    )
    answer = await client.get(f"/portal/rate/{token}")
    assert answer.status_code == 404
    assert 'data-reason="unknown"' in answer.text
    token = rating_token(
        runtime.settings.secret_key, 999_999, other.id, runtime.clock.now(), number=ticket.number
    )
    assert (await client.get(f"/portal/rate/{token}")).status_code == 404


async def test_the_portal_ticket_page_link_is_for_the_customers_own_solved_tickets(
    client, runtime, agent
):
    async with runtime.transaction() as tx:
        kim = await create_customer(tx, name="Kim", identities=[("email", "kim@example.com")])
        ticket = await open_ticket(tx, customer_id=kim.id, subject="Hallo", channel="web")
    settings, now = runtime.settings, runtime.clock.now()
    assert rating_link(settings, ticket, now, kim.id) is None  # not solved yet
    async with runtime.transaction() as tx:
        row = await tx.session.get(Ticket, ticket.id)
        await update_ticket(tx, row, {"state": "solved"}, Actor(user_id=agent.id))
    async with runtime.read() as session:
        ticket = await session.get(Ticket, ticket.id)
    assert rating_link(settings, ticket, now, kim.id + 1) is None  # a manager, say
    link = rating_link(settings, ticket, now, kim.id)
    assert link.startswith("/portal/rate/") and link.endswith("?via=portal")
    page = await client.get(link)
    answer = await client.post(link, data={"csrf_token": csrf_of(page.text), "score": "4"})
    assert answer.status_code == 303
    async with runtime.read() as session:
        assert (await ticket_rating(session, ticket.id)).source == "portal"


async def test_a_link_is_bound_to_the_tickets_number_not_only_its_id(client, runtime, agent):
    """With deletion an id can come back (SQLite gives the highest one again); the number of
    the ticket the link was made for never does."""
    ticket = await _solved_ticket(runtime, agent, language="en")
    url = await _mailed_link(runtime)
    assert (await client.get(url)).status_code == 200
    async with runtime.transaction() as tx:  # another ticket now has this id
        row = await tx.session.get(Ticket, ticket.id)
        row.number += 500
    answer = await client.get(url)
    assert answer.status_code == 404 and 'data-reason="unknown"' in answer.text
    page = await client.get("/portal/rate/nothing")
    posted = await client.post(url, data={"csrf_token": csrf_of(page.text), "score": "1"})
    assert posted.status_code == 404
    assert await _ratings(runtime) == 0


async def test_a_link_of_an_erased_customer_no_longer_works(client, runtime, agent):
    ticket = await _solved_ticket(runtime, agent, language="en")
    url = await _mailed_link(runtime)
    page = await client.get(url)
    assert page.status_code == 200
    await erasure.erase(
        runtime, ticket.customer_id, source="console", actor_user_id=None, mode="anonymize"
    )
    answer = await client.get(url)
    assert answer.status_code == 404 and 'data-reason="unknown"' in answer.text
    posted = await client.post(
        url, data={"csrf_token": csrf_of(page.text), "score": "1", "comment": "Kim, 030 1234"}
    )
    assert posted.status_code == 404
    assert await _ratings(runtime) == 0
