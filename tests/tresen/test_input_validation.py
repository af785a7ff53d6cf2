"""Bad input from outside is a 4xx naming it, never a 500 and never a stored failure:
ids past a column's width or in other digits, JSON of any shape, NUL and lone surrogates,
dates out of range, forged cursors, over-long search texts (issue 14, findings 6, 11, 15)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, insert, select

from customers.models import Customer
from tests.fixtures import csrf_of, sign_in
from tickets.models import InboundRecord, Message, Ticket
from tresen.accounts import create_token
from tresen.ids import MAX_ID, parse_id

MAIL = {
    "channel": "email",
    "external_id": "<a@mail.example>",
    "from": {"kind": "email", "value": "jana@kunde.example", "name": "Jana Krüger"},
    "subject": "Lieferung fehlt",
    "text": "Meine Bestellung 4711 ist nicht angekommen.",
}


@pytest.fixture
async def integration_headers(runtime, agent):
    token = await create_token(runtime, agent.email, scopes=("integration",))
    return {"Authorization": f"Bearer {token}"}


def as_json(body) -> bytes:
    """JSON as clients send a lone surrogate: escaped (backslash-u d800), as json.dumps does."""
    return json.dumps(body).encode()


async def count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


def test_one_id_parser_takes_ascii_digits_a_column_holds():
    assert parse_id("42") == 42
    assert parse_id(str(MAX_ID)) == MAX_ID
    for not_an_id in ("²", "①", "٣", "-1", "1.0", "", " ", str(MAX_ID + 1), "9" * 20, None):
        assert parse_id(not_an_id) is None, not_an_id


async def test_ids_past_the_column_are_404_not_500(client, agent_headers, agent):
    await sign_in(client)
    for path in (
        "/tickets/12345678901234567890",
        f"/tickets/{MAX_ID + 1}",
        "/messages/99999999999999999999/source",
        "/customers/99999999999999999999",
    ):
        assert (await client.get(path)).status_code == 404, path
    for path in ("/api/v1/tickets/12345678901234567890", f"/api/v1/customers/{MAX_ID + 1}"):
        assert (await client.get(path, headers=agent_headers)).status_code == 404, path
    # The largest id is an id: looked up, and not there.
    answer = await client.get(f"/api/v1/tickets/{MAX_ID}", headers=agent_headers)
    assert answer.status_code == 404 and "does not exist" in answer.json()["error"]


async def test_digits_int_refuses_are_400_naming_the_parameter(client, agent_headers, agent):
    for value in ("²", "①", "99999999999999999999"):
        answer = await client.get("/api/v1/tickets", params={"queue": value}, headers=agent_headers)
        assert answer.status_code == 400 and answer.json()["field"] == "queue", value
    await sign_in(client)
    answer = await client.get("/", params={"queue": "²"})
    assert answer.status_code == 400 and "queue" in answer.text
    csrf = csrf_of((await client.get("/")).text)
    answer = await client.post(
        "/tickets/bulk", data={"ids": ["1", "①"], "state": "open", "csrf_token": csrf}
    )
    assert answer.status_code == 400 and "ids" in answer.text


@pytest.mark.parametrize(
    "body",
    [b"[" * 60_000, b'{"text":' * 7_000, b"[]", b'"hello"', b"null", b'{"text": NaN}'],
    ids=["60000-brackets", "deep-objects", "list", "string", "null", "nan"],
)
async def test_json_of_any_shape_is_a_400(client, body):
    """On a public endpoint (its body limit is small: deep nesting within it)."""
    answer = await client.post(
        "/api/v1/kb/suggest", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert "JSON" in answer.json()["error"] or "nested" in answer.json()["error"]


async def test_200000_nested_brackets_are_a_400(client, agent_headers):
    """They raised RecursionError in the decoder: a 500."""
    for body in (b"[" * 200_000, b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000):
        answer = await client.post(
            "/api/v1/customers",
            content=body,
            headers={**agent_headers, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, answer.text


async def test_nul_is_removed_on_every_door(client, runtime, integration_headers, agent):
    """NUL gave a 500 on PostgreSQL (public endpoints too) and a mail that stayed failed."""
    for path in (
        "/help?q=Drucker%00",
        "/api/v1/kb/search?q=Dru%00cker",
        "/help?q=%%0000x",  # one %00 removed joins "%" and "00" into another
        "/api/v1/kb/search?q=a%%%000000",
    ):
        assert (await client.get(path)).status_code == 200, path
    answer = await client.post("/api/v1/kb/suggest", json={"text": "Drucker\x00 druckt nicht"})
    assert answer.status_code == 200
    mail = {
        **MAIL,
        "subject": "Liefe\x00rung",
        "from": {**MAIL["from"], "name": "Jana\x00 Krüger"},
        "attachments": [
            {
                "filename": "bel\x00eg.txt",
                "content_base64": base64.b64encode(b"a\x00b").decode(),
            }
        ],
    }
    answer = await client.post("/api/v1/inbound", json=mail, headers=integration_headers)
    assert answer.status_code == 202, answer.text
    ticket = (
        await client.get(
            f"/api/v1/tickets/{answer.json()['ticket_id']}", headers=integration_headers
        )
    ).json()
    assert ticket["subject"] == "Lieferung"
    assert ticket["customer"]["name"] == "Jana Krüger"
    assert ticket["messages"][0]["attachments"][0]["filename"] == "beleg.txt"
    # A console form and a query string: NUL removed before they reach SQL.
    await sign_in(client)
    assert (await client.get("/search?q=Liefe%00rung")).status_code == 200
    page = await client.get(f"/tickets/{ticket['id']}")
    answer = await client.post(
        f"/tickets/{ticket['id']}/messages",
        data={"text": "Wir pr\x00üfen das.", "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code in (200, 303), answer.text
    async with runtime.read() as session:
        texts = list(await session.scalars(select(Message.text)))
    assert "Wir prüfen das." in texts


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"queue_id": 10**19}, "queue_id"),
        ({"queue_id": MAX_ID + 1}, "queue_id"),
        ({"references": ["<x@y>", "\ud800"]}, "references.1"),
        ({"subject": "Liefer\udfffung"}, "subject"),
        ({"received_at": "0001-01-01T00:00:00+05:00"}, "received_at"),
        ({"received_at": "9999-12-31T23:00:00-05:00"}, "received_at"),
        ({"raw": {"rfc822_base64": "not base64!"}}, "raw"),
    ],
)
async def test_client_mistakes_in_inbound_are_422_and_nothing_is_stored(
    client, runtime, integration_headers, change, field
):
    """They were stored as failed, answered 500 and retried every 5 minutes for ever."""
    answer = await client.post(
        "/api/v1/inbound", content=as_json({**MAIL, **change}), headers=integration_headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert await count(runtime, InboundRecord) == 0


async def test_lone_surrogates_in_tags_keywords_and_consent_keys_are_422(
    client, agent_headers, integration_headers
):
    created = await client.post("/api/v1/inbound", json=MAIL, headers=integration_headers)
    ticket_id = created.json()["ticket_id"]
    cases = [
        ("PATCH", f"/api/v1/tickets/{ticket_id}", {"tags": ["ok", "b\ud800d"]}, "tags.1"),
        (
            "POST",
            "/api/v1/kb/articles",
            {"title": "T", "language": "de", "keywords": ["\udc00"]},
            "keywords.0",
        ),
        ("POST", "/api/v1/customers", {"name": "Kim", "consent": {"\ud83d": True}}, "consent"),
    ]
    for method, path, body, field in cases:
        answer = await client.request(method, path, content=as_json(body), headers=agent_headers)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["field"].startswith(field), answer.json()


async def test_two_spellings_of_one_address_in_one_request_are_422(client, runtime, agent_headers):
    body = {
        "name": "Kim",
        "identities": [
            {"kind": "email", "value": "Kim@Example.com"},
            {"kind": "email", "value": "kim@example.com"},
        ],
    }
    answer = await client.post("/api/v1/customers", json=body, headers=agent_headers)
    assert answer.status_code == 422 and answer.json()["field"] == "identities"
    assert "given twice" in answer.json()["error"]
    assert await count(runtime, Customer) == 0


async def test_forged_cursors_and_overlong_search_texts_are_422(
    client, agent_headers, integration_headers
):
    await client.post("/api/v1/inbound", json=MAIL, headers=integration_headers)
    forged = [
        base64.urlsafe_b64encode(b'["updated", "2026-01-01T00:00:00+00:00", 99999999999999999999]'),
        base64.urlsafe_b64encode(b'["updated", "0001-01-01T00:00:00+05:00", 1]'),
        base64.urlsafe_b64encode(b'["updated", "2026-01-01T00:00:00", 1]'),
        b"\xc2\xb2",
    ]
    for cursor in forged:
        answer = await client.get(
            "/api/v1/tickets", params={"cursor": cursor.decode()}, headers=agent_headers
        )
        assert answer.status_code == 422 and answer.json()["field"] == "cursor", cursor
    for path in ("/api/v1/tickets", "/api/v1/customers"):
        answer = await client.get(path, params={"q": "a" * 60_000}, headers=agent_headers)
        assert answer.status_code == 422 and answer.json()["field"] == "q", path


async def test_an_old_row_with_a_source_that_is_not_base64_is_a_404(client, runtime, agent):
    """The original's download was a 500 for a record stored before `raw` was validated."""
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            insert(InboundRecord),
            {
                "channel": "email",
                "external_id": "<old@mail.example>",
                "payload": {**MAIL, "raw": {"rfc822_base64": "not base64!"}},
                "status": "processed",
                "received_at": tx.now(),
            },
        )
    from tickets.inbox import receive
    from tresen.inbound import InboundMessage

    received = await receive(runtime, InboundMessage.model_validate({**MAIL, "external_id": "<x>"}))
    async with runtime.transaction() as tx:
        message = await tx.session.get(Message, received.message_id)
        message.external_id = "<old@mail.example>"
    await sign_in(client)
    answer = await client.get(f"/messages/{received.message_id}/source")
    assert answer.status_code == 404
    assert await count(runtime, Ticket) == 1
