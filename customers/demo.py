"""Demo customers: organizations and people reachable on several channels."""

from __future__ import annotations

from customers.actions import create_customer, create_organization
from tresen.runtime import Runtime

ORGANIZATIONS = (
    ("Müller Maschinenbau GmbH", "mueller-maschinenbau.example", "premium"),
    ("Nordlicht Reisen AG", "nordlicht-reisen.example", "standard"),
)
CUSTOMERS = (
    (
        "Jonas Müller",
        0,
        "de",
        "premium",
        [("email", "jonas.mueller@mueller-maschinenbau.example"), ("phone", "+49 89 1234567")],
    ),
    (
        "Petra Schneider",
        0,
        "de",
        "standard",
        [("email", "p.schneider@mueller-maschinenbau.example"), ("whatsapp", "+49 151 2345678")],
    ),
    (
        "Emma Wilson",
        1,
        "en",
        "standard",
        [("email", "emma.wilson@nordlicht-reisen.example"), ("telegram", "emmaw")],
    ),
    (
        "Lukas Becker",
        None,
        "de",
        "vip",
        [
            ("email", "lukas.becker@mail.example"),
            ("phone", "030 98765432"),
            ("chat", "visitor-7f3a"),
        ],
    ),
)


async def seed(runtime: Runtime) -> None:
    async with runtime.transaction() as tx:
        organizations = [
            await create_organization(tx, name=name, domain=domain, tier=tier)
            for name, domain, tier in ORGANIZATIONS
        ]
        for name, org_index, language, tier, identities in CUSTOMERS:
            await create_customer(
                tx,
                name=name,
                identities=identities,
                organization_id=organizations[org_index].id if org_index is not None else None,
                language=language,
                tier=tier,
                consent={"marketing": False, "sms": True},
            )
