"""A customer's language: detected by routing from their messages, set only through the action."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from customers.actions import CustomerError, create_customer, set_language
from customers.models import Customer
from tickets.inbox import receive
from tresen.inbound import InboundMessage

GERMAN = "Seit heute druckt unser Drucker nicht mehr. Bitte helfen Sie uns schnell."
ENGLISH = "Our printer stopped working this morning. Could you please help us quickly?"


def mail(external_id: str, text: str, sender: str = "kim@example.com") -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": sender},
            "subject": "Drucker",
            "text": text,
        }
    )


async def language_of(runtime, customer_id: int) -> str | None:
    async with runtime.read() as session:
        return await session.scalar(select(Customer.language).where(Customer.id == customer_id))


async def next_update(queue) -> int:
    """The customer of the next customer.updated event (on PostgreSQL events come back
    through NOTIFY, in commit order: wait for it)."""
    while True:
        event = await asyncio.wait_for(queue.get(), 10)
        if event.type == "customer.updated":
            return event.data["customer_id"]


async def test_the_first_message_tells_a_new_customers_language_and_the_consoles(runtime):
    async with runtime.bus.subscribe() as queue:
        await receive(runtime, mail("<l1@example.com>", GERMAN))
        kim = await next_update(queue)
        assert await language_of(runtime, kim) == "de"
        # Written in English later: a detected language never replaces a known one, and
        # nothing is announced; the next update is of the next new customer.
        await receive(runtime, mail("<l2@example.com>", ENGLISH))
        await receive(runtime, mail("<l3@example.com>", ENGLISH, sender="lea@example.com"))
        lea = await next_update(queue)
    assert lea != kim
    assert await language_of(runtime, kim) == "de"
    assert await language_of(runtime, lea) == "en"


async def test_a_chosen_language_replaces_a_detected_one_and_is_never_replaced_by_one(runtime):
    async with runtime.transaction() as tx:
        customer = await create_customer(tx, name="Kim", identities=[("email", "kim@x.de")])
    async with runtime.transaction() as tx:
        assert await set_language(tx, customer.id, "en", source="detected")
    async with runtime.transaction() as tx:
        assert await set_language(tx, customer.id, "de", source="chosen")
    async with runtime.transaction() as tx:
        assert not await set_language(tx, customer.id, "en", source="detected")
        assert tx.events == []
    assert await language_of(runtime, customer.id) == "de"
    with pytest.raises(CustomerError, match="guessed"):
        async with runtime.transaction() as tx:
            await set_language(tx, customer.id, "en", source="guessed")
