"""One's own account over HTTP: password, reply signatures, signing out everywhere."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from customers.actions import create_customer
from tests.fixtures import csrf_of, sign_in
from tickets.actions import open_ticket
from tickets.history import Actor
from tickets.models import Message, Ticket
from tickets.replies import reply

INBOUND = {
    "channel": "email",
    "external_id": "<sig1@x>",
    "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
    "subject": "Passwort vergessen",
    "text": "Ich komme nicht mehr rein.",
}


def another(client) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


async def test_changing_the_password(client, agent):
    await sign_in(client)
    page = await client.get("/account/password")
    assert page.status_code == 200
    assert "New password" in page.text and "Repeat password" in page.text
    csrf = csrf_of(page.text)

    async def change(current, new, repeat):
        return await client.post(
            "/account/password",
            data={
                "current_password": current,
                "new_password": new,
                "repeat_password": repeat,
                "csrf_token": csrf,
            },
        )

    wrong = await change("nope-nope", "brand-new-pass", "brand-new-pass")
    assert wrong.status_code == 422 and "current password is not right" in wrong.text
    differ = await change("agent-password", "brand-new-pass", "brand-new-typo")
    assert differ.status_code == 422 and "not the same" in differ.text
    short = await change("agent-password", "short", "short")
    assert short.status_code == 422 and "at least 8" in short.text

    async with another(client) as laptop:
        await sign_in(laptop)
        assert (await laptop.get("/settings")).status_code == 200
        done = await change("agent-password", "brand-new-pass", "brand-new-pass")
        assert done.status_code == 303
        # This browser stays signed in; the other session ended.
        saved = await client.get(done.headers["location"])
        assert saved.status_code == 200 and "Your password is changed" in saved.text
        assert (await laptop.get("/settings")).status_code == 303
    client.cookies.clear()
    assert (await sign_in(client)).status_code == 401
    assert (await sign_in(client, password="brand-new-pass")).status_code == 303


async def test_sign_out_everywhere_ends_every_session(client, agent):
    await sign_in(client)
    async with another(client) as laptop:
        await sign_in(laptop)
        page = await client.get("/settings")
        assert "Sign out everywhere" in page.text
        answer = await client.post(
            "/account/sign-out-everywhere", data={"csrf_token": csrf_of(page.text)}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert (await client.get("/settings")).status_code == 303
        assert (await laptop.get("/settings")).status_code == 303


async def save_signatures(client, de: str, en: str):
    page = await client.get("/settings")
    return await client.post(
        "/settings",
        data={
            "part": "signatures",
            "signature_de": de,
            "signature_en": en,
            "csrf_token": csrf_of(page.text),
        },
    )


async def test_signatures_are_saved_per_language_and_kept_when_too_long(client, agent):
    await sign_in(client)
    saved = await save_signatures(client, "Viele Grüße\r\nAnna  ", "Best regards\nAnna")
    assert saved.status_code == 303
    page = await client.get("/settings")
    assert "Viele Grüße\nAnna</textarea>" in page.text
    assert "Best regards\nAnna</textarea>" in page.text
    too_long = await save_signatures(client, "x" * 2001, "kept as typed")
    assert too_long.status_code == 422 and "at most 2000 characters" in too_long.text
    assert "kept as typed</textarea>" in too_long.text
    # Nothing of the refused form was saved.
    assert "Viele Grüße\nAnna</textarea>" in (await client.get("/settings")).text
    # The language and timezone form still works and leaves the signatures alone.
    page = await client.get("/settings")
    await client.post(
        "/settings",
        data={"locale": "de", "timezone": "Europe/Berlin", "csrf_token": csrf_of(page.text)},
    )
    page = await client.get("/settings")
    assert "Signaturen" in page.text and "Viele Grüße\nAnna</textarea>" in page.text


async def customer_language(client, agent_headers, ticket_id: int, language: str) -> None:
    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=agent_headers)).json()
    answer = await client.patch(
        f"/api/v1/customers/{ticket['customer']['id']}",
        json={"language": language},
        headers=agent_headers,
    )
    assert answer.status_code == 200, answer.text


async def test_a_reply_gets_the_signature_in_the_customers_language(
    client, runtime, agent, agent_headers
):
    created = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    ticket_id = created["ticket_id"]
    await customer_language(client, agent_headers, ticket_id, "de")
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert "A reply ends with your signature" not in page.text  # none written yet
    await save_signatures(client, "Viele Grüße\nAnna", "Best regards\nAnna")
    page = await client.get(f"/tickets/{ticket_id}")
    # The composer shows what the reply will end with, in the customer's language.
    preview = page.text.split("A reply ends with your signature:")[1].split("</p>")[0]
    assert "Viele Grüße" in preview and "Best regards" not in preview
    sent = await client.post(
        f"/tickets/{ticket_id}/messages",
        data={"text": "Hier ist der Link.", "csrf_token": csrf_of(page.text)},
    )
    assert sent.status_code == 303
    note = await client.post(
        f"/tickets/{ticket_id}/messages",
        data={"text": "Kunde ruft an.", "internal": "on", "csrf_token": csrf_of(page.text)},
    )
    assert note.status_code == 303
    await customer_language(client, agent_headers, ticket_id, "en")
    await client.post(
        f"/tickets/{ticket_id}/messages",
        data={"text": "Here is the link.", "csrf_token": csrf_of(page.text)},
    )
    async with runtime.read() as session:
        texts = list(
            await session.scalars(
                select(Message.text)
                .where(Message.ticket_id == ticket_id, Message.direction == "outbound")
                .order_by(Message.id)
            )
        )
    staff = [text for text in texts if "link" in text.lower() or "Kunde" in text]
    assert staff == [
        "Hier ist der Link.\n\n-- \nViele Grüße\nAnna",
        "Kunde ruft an.",  # a note is not signed
        "Here is the link.\n\n-- \nBest regards\nAnna",
    ]
    # The ticket page shows the signature in the sent message.
    assert "Viele Grüße" in (await client.get(f"/tickets/{ticket_id}")).text


async def test_the_other_language_stands_in_and_chats_are_not_signed(
    client, runtime, agent, agent_headers
):
    created = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    await customer_language(client, agent_headers, created["ticket_id"], "de")
    await sign_in(client)
    await save_signatures(client, "", "Best regards\nAnna")
    answer = await client.post(
        f"/api/v1/tickets/{created['ticket_id']}/messages",
        json={"text": "Erledigt.", "html": "<p>Erledigt.</p>"},
        headers=agent_headers,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["text"] == "Erledigt.\n\n-- \nBest regards\nAnna"
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Chatty", identities=[("chat", "visitor-1")])
        chat = await open_ticket(tx, customer_id=customer.id, subject="Hi", channel="chat")
    async with runtime.transaction() as tx:
        chat = await tx.session.get(Ticket, chat.id)
        done = await reply(tx, chat, Actor(user_id=agent.id), text="Gern geschehen!")
        assert done.message.text == "Gern geschehen!"
        html = await tx.session.scalar(select(Message.html).where(Message.id == done.message.id))
    assert "Best regards" not in (html or "")
