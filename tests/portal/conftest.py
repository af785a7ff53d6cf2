"""The portal's shared fixtures: a customer with an e-mail identity, and signing a client in
to the portal the way a customer does (a sign-in link, its page, its button)."""

from __future__ import annotations

import httpx
import pytest

from customers.actions import create_customer
from tests.fixtures import sign_in_to_portal

PORTAL_EMAIL = "kim@example.com"  # the sender of tests.fixtures.inbound_mail


@pytest.fixture
async def portal_customer(runtime):
    """Kim Meyer, kim@example.com (the sender of `inbound_mail`, so mail delivered with it
    lands on this record), no organization, language unknown."""
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Kim Meyer", identities=[("email", PORTAL_EMAIL)])
    return customer


@pytest.fixture
def portal_sign_in(runtime):
    """`await portal_sign_in(client, customer_or_email)`: the client is signed in to the
    portal (its cookie jar holds the session)."""

    async def sign_in(client, who) -> None:
        await sign_in_to_portal(runtime, client, who)

    return sign_in


@pytest.fixture
async def portal_client(app, portal_customer, portal_sign_in):
    """A client signed in to the portal as `portal_customer`."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await portal_sign_in(client, portal_customer)
        yield client
