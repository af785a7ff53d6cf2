"""The only places that change customers, organizations and identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from customers.identities import (
    IdentityError,
    name_from_identity,
    normalize_identity,
    search_form,
)
from customers.models import TIERS, Customer, Identity, Organization
from tresen.runtime import Transaction

EDITABLE = ("name", "language", "timezone", "tier", "notes", "consent", "organization_id")


class CustomerError(ValueError):
    """A bad value for a customer; the message names the field."""

    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict  # clashes with an existing record (HTTP 409)


def _region(tx: Transaction) -> str:
    return tx.runtime.settings.default_phone_region


async def find_by_identity(tx: Transaction, kind: str, value: str) -> Customer | None:
    normalized = normalize_identity(kind, value, default_region=_region(tx))
    return await tx.session.scalar(
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.kind == kind, Identity.value == normalized)
    )


async def create_customer(
    tx: Transaction,
    *,
    name: str,
    identities: list[tuple[str, str]] = (),
    organization_id: int | None = None,
    language: str | None = None,
    timezone: str | None = None,
    tier: str = "standard",
    notes: str = "",
    consent: dict | None = None,
) -> Customer:
    """A new central record with its identities; an identity someone else has is refused."""
    if not name.strip():
        raise CustomerError("name", "name must not be empty")
    if tier not in TIERS:
        raise CustomerError("tier", f"tier {tier!r} is not one of {', '.join(TIERS)}")
    if organization_id is not None and not await tx.session.get(Organization, organization_id):
        raise CustomerError("organization_id", f"organization {organization_id} does not exist")
    now = tx.now()
    customer = Customer(
        name=name.strip(),
        organization_id=organization_id,
        language=language,
        timezone=timezone,
        tier=tier,
        notes=notes,
        consent=consent or {},
        created_at=now,
        updated_at=now,
        identities=[],
    )
    tx.session.add(customer)
    await tx.session.flush()
    for kind, value in identities:
        await add_identity(tx, customer, kind, value)
    tx.emit("customer.created", customer_id=customer.id)
    return customer


async def add_identity(
    tx: Transaction, customer: Customer, kind: str, value: str, display_name: str | None = None
) -> Identity:
    """Link an identity to the customer; it must not belong to another record."""
    try:
        normalized = normalize_identity(kind, value, default_region=_region(tx))
    except IdentityError as error:
        raise CustomerError("identities", str(error)) from None
    owner = await tx.session.scalar(
        select(Identity).where(Identity.kind == kind, Identity.value == normalized)
    )
    if owner is not None:
        if owner.customer_id == customer.id:
            return owner
        raise CustomerError(
            "identities",
            f"{kind} {normalized} belongs to customer {owner.customer_id} already",
            conflict=True,
        )
    identity = Identity(
        customer_id=customer.id,
        kind=kind,
        value=normalized,
        display_name=display_name,
        search_value=search_form(kind, normalized),
        created_at=tx.now(),
    )
    tx.session.add(identity)
    customer.identities.append(identity)
    await tx.session.flush()
    tx.emit("customer.updated", customer_id=customer.id)
    return identity


async def resolve_sender(
    tx: Transaction, kind: str, value: str, display_name: str | None = None
) -> tuple[Customer, bool]:
    """The customer behind an identity, created on first contact. Returns (customer, created)."""
    normalized = normalize_identity(kind, value, default_region=_region(tx))
    customer = await find_by_identity(tx, kind, normalized)
    if customer is not None:
        return customer, False
    name = (display_name or "").strip() or name_from_identity(kind, normalized)
    try:
        async with tx.session.begin_nested():
            customer = await create_customer(tx, name=name, identities=[(kind, normalized)])
    except IntegrityError:
        # Another process created this identity between our look-up and insert.
        customer = await find_by_identity(tx, kind, normalized)
        if customer is None:
            raise
        return customer, False
    customer.identities[0].display_name = display_name
    return customer, True


async def update_customer(tx: Transaction, customer: Customer, changes: dict) -> Customer:
    """Change editable fields of the record; unknown fields are refused."""
    for field, value in changes.items():
        if field not in EDITABLE:
            raise CustomerError(field, f"{field} cannot be changed")
        if field == "name" and not str(value or "").strip():
            raise CustomerError("name", "name must not be empty")
        if field == "tier" and value not in TIERS:
            raise CustomerError("tier", f"tier {value!r} is not one of {', '.join(TIERS)}")
        if field == "organization_id" and value is not None:
            if not await tx.session.get(Organization, value):
                raise CustomerError("organization_id", f"organization {value} does not exist")
        setattr(customer, field, value)
    customer.updated_at = tx.now()
    tx.emit("customer.updated", customer_id=customer.id)
    return customer


async def create_organization(
    tx: Transaction, *, name: str, domain: str | None = None, tier: str = "standard"
) -> Organization:
    if tier not in TIERS:
        raise CustomerError("tier", f"tier {tier!r} is not one of {', '.join(TIERS)}")
    existing = await tx.session.scalar(select(Organization).where(Organization.name == name))
    if existing:
        raise CustomerError("name", f"organization {name!r} exists already", conflict=True)
    organization = Organization(
        name=name, domain=domain, tier=tier, notes="", created_at=tx.now()
    )
    tx.session.add(organization)
    await tx.session.flush()
    tx.emit("organization.created", organization_id=organization.id)
    return organization
