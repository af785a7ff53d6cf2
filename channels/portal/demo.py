"""Demo portal request: a customer signed in to the portal asks for something new."""

from __future__ import annotations

from sqlalchemy import Integer, String, column, select, table

from channels.portal.inbound import new_request, sender_of
from tresen import rooms
from tresen.demo_clock import minutes_ago

identities = table(
    "identities", column("customer_id", Integer), column("kind", String), column("value", String)
)
CUSTOMER = "jonas.mueller@mueller-maschinenbau.example"


async def seed(runtime) -> None:
    async with runtime.read() as session:
        customer_id = await session.scalar(
            select(identities.c.customer_id).where(
                identities.c.kind == "email", identities.c.value == CUSTOMER
            )
        )
        sender = await sender_of(session, customer_id)
    async with minutes_ago(runtime, 30):
        await rooms.deliver(
            runtime,
            new_request(
                customer_id=customer_id,
                nonce="demo-request-0000001",
                sender=sender,
                subject="Zugang für einen neuen Kollegen",
                text="Bitte richten Sie für unseren neuen Kollegen Tim Braun einen Zugang zum "
                "Kundenportal ein (tim.braun@mueller-maschinenbau.example).",
            ),
        )
