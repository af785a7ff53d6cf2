"""API tokens expire, are revoked, die with their user, and speak for customers only with
the integration scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tresen import accounts
from tresen.models import ApiToken

INBOUND = {
    "channel": "email",
    "external_id": "<token-test@example.com>",
    "from": {"kind": "email", "value": "kunde@example.com"},
    "subject": "Rechnung",
    "text": "Hallo",
}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def token_row(runtime, token: str) -> ApiToken:
    async with runtime.read() as session:
        return await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == accounts.hash_token(token))
        )


async def test_an_expired_token_is_refused(client, runtime, agent):
    token = await accounts.create_token(runtime, agent.email, expires_days=30)
    row = await token_row(runtime, token)
    assert row.expires_at - row.created_at == timedelta(days=30)
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id)
            .values(expires_at=runtime.clock.now() - timedelta(seconds=1))
        )
    answer = await client.get("/api/v1/tickets", headers=bearer(token))
    assert answer.status_code == 401 and answer.json()["error"] == "token has expired"
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_token_is_refused_at_once(client, runtime, agent):
    token = await accounts.create_token(runtime, agent.email, name="zapier")
    other = await accounts.create_token(runtime, agent.email, name="script")
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
    [listed, _] = await accounts.list_tokens(runtime, agent.email)
    assert (listed.name, listed.revoked, listed.email) == ("zapier", False, agent.email)
    await accounts.revoke_token(runtime, listed.id)
    answer = await client.get("/api/v1/tickets", headers=bearer(token))
    assert answer.status_code == 401 and answer.json()["error"] == "token has been revoked"
    assert (await client.get("/api/v1/tickets", headers=bearer(other))).status_code == 200
    assert [t.revoked for t in await accounts.list_tokens(runtime)] == [True, False]
    with pytest.raises(accounts.AccountError, match="no API token with id 999"):
        await accounts.revoke_token(runtime, 999)


async def test_a_deactivated_users_token_is_refused(client, runtime, agent):
    token = await accounts.create_token(runtime, agent.email)
    await accounts.deactivate_user(runtime, agent.email)
    answer = await client.get("/api/v1/tickets", headers=bearer(token))
    assert answer.status_code == 401 and "deactivated" in answer.json()["error"]
    with pytest.raises(accounts.AccountError, match="deactivated"):
        await accounts.create_token(runtime, agent.email)
    await accounts.reactivate_user(runtime, agent.email)
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200


async def test_inbound_needs_the_integration_scope(client, runtime, agent):
    plain = await accounts.create_token(runtime, agent.email)
    answer = await client.post("/api/v1/inbound", json=INBOUND, headers=bearer(plain))
    assert answer.status_code == 403
    assert "integration scope" in answer.json()["error"]
    # The agent's other endpoints work with the plain token as before.
    assert (await client.get("/api/v1/tickets", headers=bearer(plain))).status_code == 200
    integration = await accounts.create_token(runtime, agent.email, scopes=["integration"])
    answer = await client.post("/api/v1/inbound", json=INBOUND, headers=bearer(integration))
    assert answer.status_code == 202, answer.text
    [_, listed] = await accounts.list_tokens(runtime)
    assert listed.scopes == ("integration",)
    document = (await client.get("/api/v1/openapi.json")).json()
    assert document["paths"]["/api/v1/inbound"]["post"]["x-required-scope"] == "integration"


async def test_last_use_is_written_at_most_once_a_minute(client, runtime, agent):
    token = await accounts.create_token(runtime, agent.email)
    assert (await token_row(runtime, token)).last_used_at is None
    await client.get("/api/v1/tickets", headers=bearer(token))
    first = (await token_row(runtime, token)).last_used_at
    assert first is not None
    await client.get("/api/v1/tickets", headers=bearer(token))
    assert (await token_row(runtime, token)).last_used_at == first
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == accounts.hash_token(token))
            .values(last_used_at=first - timedelta(minutes=2))
        )
    await client.get("/api/v1/tickets", headers=bearer(token))
    assert (await token_row(runtime, token)).last_used_at > first - timedelta(seconds=1)


@pytest.mark.parametrize(
    "options, named",
    [
        ({"scopes": ["admin"]}, "'admin'"),
        ({"expires_days": 0}, "0 days"),
        ({"expires_days": 100_000}, "100000 days"),
    ],
)
async def test_bad_token_options_are_named(runtime, agent, options, named):
    with pytest.raises(accounts.AccountError, match=named):
        await accounts.create_token(runtime, agent.email, **options)
    assert await accounts.list_tokens(runtime) == []
