"""`POST /api/v1/bot/ticket-status`: a ticket's state only for its number and its customer's
address, the same answer for a wrong number and a wrong address, limited per token."""

from __future__ import annotations

import pytest

from bots.status_api import LOOKUPS_PER_ADDRESS_PER_HOUR, LOOKUPS_PER_MINUTE
from tresen.accounts import create_token

STATUS = "/api/v1/bot/ticket-status"


async def _request(client, headers, email="kim@example.com", external_id="rasa:s1:ticket:m1"):
    answer = await client.post(
        "/api/v1/inbound",
        headers=headers,
        json={
            "channel": "assistant",
            "external_id": external_id,
            "from": {"kind": "email", "value": email},
            "subject": "Router blinks red",
            "text": "My router blinks red since this morning.",
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_the_state_for_the_number_and_the_customers_address(client, agent_headers):
    created = await _request(client, agent_headers)
    number = created["ticket_number"]
    answer = await client.post(
        STATUS, headers=agent_headers, json={"number": f"#{number}", "email": "Kim@Example.com"}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["found"] is True and found["number"] == number
    assert found["state"] == "new" and found["state_label"] == "Received"
    assert found["updated_at"]
    german = await client.post(
        STATUS,
        headers=agent_headers,
        json={"number": number, "email": "kim@example.com", "lang": "de"},
    )
    assert german.json()["state_label"] == "Eingegangen"


async def test_a_wrong_number_and_a_wrong_address_answer_the_same(client, agent_headers):
    number = (await _request(client, agent_headers))["ticket_number"]
    other = await _request(client, agent_headers, "lea@example.com", "rasa:s2:ticket:m1")
    wrong_address = await client.post(
        STATUS, headers=agent_headers, json={"number": number, "email": "lea@example.com"}
    )
    wrong_number = await client.post(
        STATUS, headers=agent_headers, json={"number": number + 999, "email": "kim@example.com"}
    )
    assert wrong_address.status_code == wrong_number.status_code == 200
    assert (
        wrong_address.json()
        == wrong_number.json()
        == {
            "found": False,
            "number": None,
            "state": None,
            "state_label": None,
            "updated_at": None,
        }
    )
    assert other["ticket_number"] != number


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": "ten", "email": "kim@example.com"}, "number"),
        ({"number": 0, "email": "kim@example.com"}, "number"),
        ({"number": 10001, "email": "not an address"}, "email"),
        ({"number": 10001}, "email"),
        ({"number": 10001, "email": "kim@example.com", "lang": "fr"}, "lang"),
        ({"number": 10001, "email": "kim@example.com", "extra": 1}, "extra"),
    ],
)
async def test_bad_questions_are_refused_with_the_field(client, agent_headers, body, field):
    answer = await client.post(STATUS, headers=agent_headers, json=body)
    assert answer.status_code == 422
    assert answer.json()["field"].startswith(field)


async def test_only_integration_tokens_may_ask(client, runtime, agent):
    plain = await create_token(runtime, agent.email)
    body = {"number": 10001, "email": "kim@example.com"}
    assert (await client.post(STATUS, json=body)).status_code == 401
    refused = await client.post(STATUS, headers={"Authorization": f"Bearer {plain}"}, json=body)
    assert refused.status_code == 403


async def test_each_token_is_rate_limited(client, runtime, agent, agent_headers):
    # A different address each time: the token's bucket, not an address's, runs out.
    for n in range(LOOKUPS_PER_MINUTE):
        body = {"number": 10001, "email": f"kim{n}@example.com"}
        assert (await client.post(STATUS, headers=agent_headers, json=body)).status_code == 200
    body = {"number": 10001, "email": "someone@example.com"}
    refused = await client.post(STATUS, headers=agent_headers, json=body)
    assert refused.status_code == 429 and "with this token" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Another token has buckets of its own.
    other = await create_token(runtime, agent.email, scopes=["integration"])
    answer = await client.post(STATUS, headers={"Authorization": f"Bearer {other}"}, json=body)
    assert answer.status_code == 200


async def test_each_address_is_rate_limited_whatever_the_token(
    client, runtime, agent, agent_headers
):
    number = (await _request(client, agent_headers))["ticket_number"]
    # Probing one address with many numbers, through one token and then another.
    for guess in range(LOOKUPS_PER_ADDRESS_PER_HOUR):
        body = {"number": number + 1 + guess, "email": "kim@example.com"}
        assert (await client.post(STATUS, headers=agent_headers, json=body)).status_code == 200
    other = await create_token(runtime, agent.email, scopes=["integration"])
    other_headers = {"Authorization": f"Bearer {other}"}
    for headers in (agent_headers, other_headers):
        # Even the right number is refused now: the refusal tells nothing about it.
        body = {"number": number, "email": " Kim@Example.com"}
        refused = await client.post(STATUS, headers=headers, json=body)
        assert refused.status_code == 429 and "for this address" in refused.json()["error"]
        assert int(refused.headers["Retry-After"]) > 60
    # The refusals took nothing from the shared token: everyone else's lookups still go.
    for n in range(LOOKUPS_PER_MINUTE - LOOKUPS_PER_ADDRESS_PER_HOUR):
        body = {"number": number, "email": f"lea{n}@example.com"}
        assert (await client.post(STATUS, headers=agent_headers, json=body)).status_code == 200


async def test_an_assistant_request_naming_a_ticket_number_joins_nothing(client, agent_headers):
    # The assistant's user typed the subject and nobody verified their address.
    first = await _request(client, agent_headers)
    answer = await client.post(
        "/api/v1/inbound",
        headers=agent_headers,
        json={
            "channel": "assistant",
            "external_id": "rasa:s3:ticket:m1",
            "from": {"kind": "email", "value": "mallory@example.com"},
            "subject": f"[#{first['ticket_number']}] please add this",
            "text": "Injected?",
        },
    )
    assert answer.status_code == 202
    assert answer.json()["ticket_id"] != first["ticket_id"]
