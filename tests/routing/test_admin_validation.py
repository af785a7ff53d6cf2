"""SLA policies and business calendars from the API and the console: a blank name or a weekday
that is not one is refused with the value named (422, a form error), never stored or a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from routing.models import BusinessCalendarRow, SlaPolicyRow
from tests.fixtures import csrf_of, sign_in

TARGETS = {"high": {"first_response": 30}}
WEEKLY = {"0": [["09:00", "17:00"]]}


async def count(runtime, model) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
async def test_the_api_refuses_blank_names(runtime, client, admin_headers, name):
    policy = await client.post(
        "/api/v1/routing/sla-policies",
        json={"name": name, "targets": TARGETS},
        headers=admin_headers,
    )
    calendar = await client.post(
        "/api/v1/routing/calendars", json={"name": name, "weekly": WEEKLY}, headers=admin_headers
    )
    for answer in (policy, calendar):
        assert answer.status_code == 422, answer.text
        assert "name" in answer.text
    assert await count(runtime, SlaPolicyRow) == 0
    assert await count(runtime, BusinessCalendarRow) == 0


async def test_the_api_keeps_names_without_surrounding_spaces(client, admin_headers):
    policy = await client.post(
        "/api/v1/routing/sla-policies",
        json={"name": "  Gold ", "targets": TARGETS},
        headers=admin_headers,
    )
    assert policy.status_code == 201 and policy.json()["name"] == "Gold"
    again = await client.post(
        "/api/v1/routing/sla-policies",
        json={"name": "Gold", "targets": TARGETS},
        headers=admin_headers,
    )
    assert again.status_code == 409  # the same name, once the spaces are gone


@pytest.mark.parametrize("day", ["x", "²", "9", "-1", "1" * 30])
async def test_the_api_names_a_weekday_that_is_not_one(client, admin_headers, day):
    answer = await client.post(
        "/api/v1/routing/calendars",
        json={"name": "Office", "weekly": {day: [["09:00", "17:00"]]}},
        headers=admin_headers,
    )
    assert answer.status_code == 422, answer.text
    assert "weekday" in answer.json()["error"] and day[:20] in answer.json()["error"]


async def admin_form(runtime, client) -> str:
    from tresen.accounts import create_user

    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    return csrf_of((await client.get("/admin/routing")).text)


@pytest.mark.parametrize("day", ["x", "7", "²", ""])
async def test_the_console_names_a_weekday_that_is_not_one(runtime, client, day):
    token = await admin_form(runtime, client)
    answer = await client.post(
        "/admin/routing/calendars",
        data={"csrf_token": token, "name": "Office", "days": ["0", day]},
    )
    assert answer.status_code == 422
    assert f"weekday {day!r}".replace("'", "&#39;") in answer.text
    assert await count(runtime, BusinessCalendarRow) == 0
    made = await client.post(
        "/admin/routing/calendars",
        data={"csrf_token": token, "name": "Office", "days": ["0", "4"]},
    )
    assert made.status_code == 303
    async with runtime.read() as session:
        row = await session.scalar(select(BusinessCalendarRow))
    assert set(row.weekly) == {"0", "4"}


async def test_the_console_refuses_blank_names_for_policies_and_calendars(runtime, client):
    token = await admin_form(runtime, client)
    policy = await client.post(
        "/admin/routing/policies",
        data={"csrf_token": token, "name": "  ", "high_first_response": "30"},
    )
    calendar = await client.post(
        "/admin/routing/calendars", data={"csrf_token": token, "name": " ", "days": ["0"]}
    )
    assert policy.status_code == 422 and "an SLA policy needs a name" in policy.text
    assert calendar.status_code == 422 and "a calendar needs a name" in calendar.text
    assert await count(runtime, SlaPolicyRow) == 0
    assert await count(runtime, BusinessCalendarRow) == 0
