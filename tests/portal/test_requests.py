"""A new request in the portal over HTTP: the form, the articles suggested while typing,
"This solved my problem" (a deflection, no ticket) and the request sent (a ticket through
the inbox on the portal channel, once however often the form is sent)."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy import func, select

from knowledge_base.models import Deflection
from tests.fixtures import PNG, csrf_of, lexical_only, load_kb_samples
from tickets.models import Attachment, Message, Ticket
from tickets.queues import create_queue


def nonce_of(html: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', html).group(1)


async def form(client) -> tuple[str, str]:
    """The form's CSRF token and nonce."""
    page = await client.get("/portal/requests/new")
    assert page.status_code == 200, page.text
    return csrf_of(page.text), nonce_of(page.text)


async def count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_the_form_asks_for_suggestions_while_the_customer_types(portal_client, client):
    page = await portal_client.get("/portal/requests/new")
    assert page.status_code == 200
    assert 'hx-post="/portal/requests/suggest"' in page.text
    assert 'hx-trigger="keyup changed delay:400ms"' in page.text
    assert 'enctype="multipart/form-data"' in page.text and 'aria-live="polite"' in page.text
    assert 'name="queue"' not in page.text  # the desk offers no queues: routing decides
    # Nobody signed in: to the sign-in page, and back here afterwards.
    for answer in (
        await client.get("/portal/requests/new"),
        await client.post("/portal/requests/suggest", data={"text": "refund"}),
    ):
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/portal/sign-in?next=/portal/requests/")


async def test_public_articles_are_suggested_internal_ones_never(runtime, portal_client):
    ids = await load_kb_samples(lexical_only(runtime))
    csrf, nonce = await form(portal_client)

    async def suggest(**fields):
        data = {"csrf_token": csrf, "nonce": nonce, **fields}
        return await portal_client.post("/portal/requests/suggest", data=data)

    found = await suggest(subject="Refund", text="How do I get my money back?")
    assert found.status_code == 200
    assert 'href="/help/refund-en"' in found.text and "This solved my problem" in found.text
    assert f'name="article_id" value="{ids["refund-en"]}"' in found.text
    assert f'value="{nonce}"' in found.text
    internal = await suggest(text="Kulanzregeln Rückerstattungen")
    assert "goodwill" not in internal.text and "Kulanzregeln" not in internal.text
    nothing = await suggest(text="zzqx wibble frobnicate")
    assert "No article seems to answer this yet" in nothing.text
    assert "<form" not in nothing.text
    # What the customer types is sent in the body, with the form's CSRF token.
    refused = await portal_client.post(
        "/portal/requests/suggest", data={"text": "refund", "nonce": nonce}
    )
    assert refused.status_code == 403


async def test_this_solved_it_counts_a_deflection_and_makes_no_ticket(
    runtime, portal_client, portal_customer
):
    ids = await load_kb_samples(lexical_only(runtime))
    csrf, nonce = await form(portal_client)
    data = {"csrf_token": csrf, "nonce": nonce, "article_id": str(ids["refund-en"])}
    answer = await portal_client.post("/portal/requests/solved", data=data)
    assert answer.status_code == 200 and "not opened a ticket" in answer.text
    again = await portal_client.post("/portal/requests/solved", data=data)  # a double click
    assert again.status_code == 200
    async with runtime.read() as session:
        [row] = (await session.scalars(select(Deflection))).all()
    assert (row.article_id, row.customer_id) == (ids["refund-en"], portal_customer.id)
    assert await count(runtime, Ticket) == 0

    refused = [
        ({**data, "csrf_token": "wrong"}, 403),
        ({**data, "nonce": "../x"}, 400),
        ({**data, "article_id": "abc"}, 400),
        ({**data, "article_id": str(ids["goodwill-en"])}, 404),  # internal: no such article
        ({**data, "article_id": "999999"}, 404),
    ]
    for sent, status in refused:
        assert (
            await portal_client.post("/portal/requests/solved", data=sent)
        ).status_code == status
    assert await count(runtime, Deflection) == 1


async def test_a_request_sent_is_one_ticket_of_the_customer_on_the_portal_channel(
    runtime, portal_client, portal_customer
):
    csrf, nonce = await form(portal_client)
    data = {
        "csrf_token": csrf,
        "nonce": nonce,
        "subject": "Printer #5 does not print",
        "text": "Since this morning it blinks red.",
    }
    files = [("files", ("blink.png", PNG, "image/png"))]
    sent = await portal_client.post("/portal/requests/new", data=data, files=files)
    assert sent.status_code == 200, sent.text
    async with runtime.read() as session:
        ticket = await session.scalar(select(Ticket))
        message = await session.scalar(select(Message).where(Message.ticket_id == ticket.id))
        attachment = await session.scalar(select(Attachment))
    assert f"ticket #{ticket.number}" in sent.text
    assert f'href="/portal/tickets/{ticket.number}"' in sent.text
    assert (ticket.customer_id, ticket.channel) == (portal_customer.id, "portal")
    assert message.text == "Since this morning it blinks red." and message.direction == "inbound"
    assert (attachment.filename, attachment.content_type) == ("blink.png", "image/png")

    again = await portal_client.post("/portal/requests/new", data=data, files=files)
    assert again.status_code == 200 and f"ticket #{ticket.number}" in again.text
    assert await count(runtime, Ticket) == 1

    # The request is among the customer's tickets.
    mine = await portal_client.get("/portal/tickets")
    assert f"/portal/tickets/{ticket.number}" in mine.text


async def test_what_is_wrong_with_a_request_is_said_and_the_text_kept(runtime, portal_client):
    csrf, nonce = await form(portal_client)
    base = {"csrf_token": csrf, "nonce": nonce, "subject": "Help", "text": "My text stays."}
    cases = [
        ({"subject": "  "}, [], 422, "subject"),
        ({"text": " "}, [], 422, "describe"),
        ({"subject": "x" * 201}, [], 422, "too long"),
        ({}, [("files", ("tool.exe", b"MZ\x90\x00\x03\x00", "image/png"))], 415, "tool.exe"),
        ({"queue": "1"}, [], 422, "topics"),
    ]
    for change, files, status, words in cases:
        answer = await portal_client.post(
            "/portal/requests/new", data={**base, **change}, files=files
        )
        assert answer.status_code == status, (change, answer.text)
        assert words in answer.text
        assert "My text stays." in answer.text or change.get("text") == " "
    no_token = await portal_client.post("/portal/requests/new", data={**base, "csrf_token": "x"})
    assert no_token.status_code == 403
    bad_nonce = await portal_client.post("/portal/requests/new", data={**base, "nonce": "a b"})
    assert bad_nonce.status_code == 400
    assert await count(runtime, Ticket) == 0


async def test_the_desk_may_offer_queues_to_choose_from(runtime, portal_client):
    async with runtime.transaction() as tx:
        billing = await create_queue(tx, name="Billing")
        await create_queue(tx, name="Internal IT")
    runtime.settings = replace(runtime.settings, portal_queues=("Billing", "Missing"))
    csrf, nonce = await form(portal_client)
    page = await portal_client.get("/portal/requests/new")
    assert f'<option value="{billing.id}"' in page.text and "Internal IT" not in page.text
    data = {
        "csrf_token": csrf,
        "nonce": nonce,
        "subject": "Invoice",
        "text": "Twice charged.",
        "queue": str(billing.id),
    }
    assert (await portal_client.post("/portal/requests/new", data=data)).status_code == 200
    async with runtime.read() as session:
        assert (await session.scalar(select(Ticket))).queue_id == billing.id


async def test_a_request_sent_after_this_solved_it_takes_the_deflection_back(
    runtime, portal_client
):
    ids = await load_kb_samples(lexical_only(runtime))
    csrf, nonce = await form(portal_client)
    solved = {"csrf_token": csrf, "nonce": nonce, "article_id": str(ids["refund-en"])}
    assert (await portal_client.post("/portal/requests/solved", data=solved)).status_code == 200
    assert await count(runtime, Deflection) == 1
    # Back to the form: it did not help after all.
    request = {"csrf_token": csrf, "nonce": nonce, "subject": "Refund", "text": "Still no money."}
    assert (await portal_client.post("/portal/requests/new", data=request)).status_code == 200
    assert await count(runtime, Deflection) == 0 and await count(runtime, Ticket) == 1


async def test_the_form_speaks_german_to_a_german_browser(runtime, portal_client):
    await load_kb_samples(lexical_only(runtime))
    german = {"accept-language": "de-DE,de;q=0.9"}
    page = await portal_client.get("/portal/requests/new", headers=german)
    assert "Anfrage senden" in page.text and "Beschreibung" in page.text
    found = await portal_client.post(
        "/portal/requests/suggest",
        data={
            "csrf_token": csrf_of(page.text),
            "subject": "Rückerstattung",
            "text": "Wie beantrage ich eine Rückerstattung?",
            "nonce": nonce_of(page.text),
        },
        headers=german,
    )
    assert "Das hat mein Problem gelöst" in found.text and "/help/refund-de" in found.text


async def test_too_many_files_or_odd_bytes_are_a_clear_answer_never_a_500(runtime, portal_client):
    csrf, nonce = await form(portal_client)
    base = {"csrf_token": csrf, "nonce": nonce, "subject": "Files", "text": "Many."}
    many = [("files", (f"f{i}.txt", b"hello", "text/plain")) for i in range(7)]
    answer = await portal_client.post("/portal/requests/new", data=base, files=many)
    assert 400 <= answer.status_code < 500
    # Bytes that are no UTF-8, and a NUL, in the subject: taken as text or refused, no 500.
    body = "&".join(f"{k}={v}" for k, v in {**base, "subject": "%FF%FE%00x"}.items())
    answer = await portal_client.post(
        "/portal/requests/new",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code < 500
    assert await count(runtime, Ticket) <= 1
