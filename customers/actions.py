"""The only places that change customers, organizations and identities."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from customers.identities import (
    IdentityError,
    name_from_identity,
    normalize_identity,
    search_form,
)
from customers.models import ORG_ROLES, TIERS, Customer, Identity, Organization
from tresen.runtime import ActionError, Transaction

EDITABLE = ("name", "language", "timezone", "tier", "notes", "consent", "organization_id")


class CustomerError(ActionError):
    """A bad value for a customer; the message names the field."""


def _region(tx: Transaction) -> str:
    return tx.runtime.settings.default_phone_region


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise CustomerError("tier", f"tier {tier!r} is not one of {', '.join(TIERS)}")


def _check_length(field: str, value) -> None:
    """A text longer than its column takes (PostgreSQL refuses it: it was a 500 there)."""
    column = Customer.__table__.columns.get(field)
    limit = getattr(column.type, "length", None) if column is not None else None
    if limit and isinstance(value, str) and len(value) > limit:
        raise CustomerError(field, f"{field} is longer than {limit} characters")


async def _check_organization(tx: Transaction, organization_id: int | None) -> None:
    if organization_id is not None and not await tx.session.get(Organization, organization_id):
        raise CustomerError("organization_id", f"organization {organization_id} does not exist")


# Built once: every inbound message asks it.
_OWNER_OF_IDENTITY = (
    select(
        Identity.customer_id,
        Identity.bounced_at,
        Customer.organization_id,
        Customer.tier,
        Customer.language,
    )
    .join(Customer, Customer.id == Identity.customer_id)
    .where(Identity.kind == bindparam("kind"), Identity.value == bindparam("value"))
)


def _remember(tx: Transaction, customer_id: int, organization_id, tier: str, language) -> None:
    """What routing asks next about the sender, known now: saves it a look-up per message."""
    tx.memo[("customer", customer_id)] = {
        "organization_id": organization_id,
        "tier": tier,
        "language": language,
    }


async def customer_id_for(tx: Transaction, kind: str, normalized: str) -> int | None:
    """The id of the customer with this (normalized) identity."""
    connection = await tx.session.connection()
    row = (
        await connection.execute(_OWNER_OF_IDENTITY, {"kind": kind, "value": normalized})
    ).first()
    return None if row is None else row.customer_id


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
    _check_tier(tier)
    await _check_organization(tx, organization_id)
    rows, seen = [], set()
    for kind, value in identities:
        normalized = _normalized(tx, kind, value)
        if (kind, normalized) in seen:  # two spellings of one address: one identity
            raise CustomerError("identities", f"{kind} {value!r} is given twice (as {normalized})")
        seen.add((kind, normalized))
        await _check_free(tx, kind, normalized, customer_id=None)
        rows.append(_identity(tx, kind, normalized, None))
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
        identities=rows,
    )
    tx.session.add(customer)
    await tx.session.flush()
    tx.emit("customer.created", customer_id=customer.id)
    return customer


def _normalized(tx: Transaction, kind: str, value: str) -> str:
    try:
        return normalize_identity(kind, value, default_region=_region(tx))
    except IdentityError as error:
        raise CustomerError("identities", str(error)) from None


def _identity_values(tx: Transaction, kind: str, normalized: str, display_name: str | None) -> dict:
    return {
        "kind": kind,
        "value": normalized,
        "display_name": (display_name or None) and display_name[:200],
        "search_value": search_form(kind, normalized),
        "created_at": tx.now(),
    }


def _identity(tx: Transaction, kind: str, normalized: str, display_name: str | None) -> Identity:
    return Identity(**_identity_values(tx, kind, normalized, display_name))


async def _check_free(tx: Transaction, kind: str, normalized: str, *, customer_id) -> bool:
    """False when the customer has it already; raises when another customer has it."""
    owner = await customer_id_for(tx, kind, normalized)
    if owner is None:
        return True
    if owner == customer_id:
        return False
    raise CustomerError(
        "identities", f"{kind} {normalized} belongs to customer {owner} already", conflict=True
    )


async def add_identity(
    tx: Transaction, customer: Customer, kind: str, value: str, display_name: str | None = None
) -> None:
    """Link an identity to the customer; it must not belong to another record."""
    normalized = _normalized(tx, kind, value)
    if not await _check_free(tx, kind, normalized, customer_id=customer.id):
        return
    customer.identities.append(_identity(tx, kind, normalized, display_name))
    customer.updated_at = tx.now()
    await tx.session.flush()
    tx.emit("customer.updated", customer_id=customer.id)


async def link_identity(tx: Transaction, customer_id: int, kind: str, value: str) -> int:
    """Attach an identity the customer proved is theirs (a chat visitor's verified e-mail);
    the id of the record it ends on.

    When another record has it already, that record is the person's: this one (a chat
    visitor's, say) is merged into it, so its tickets show there too.
    """
    # merge imports this module (CustomerError): imported here, not at the top.
    from customers.merge import merge_customers

    normalized = _normalized(tx, kind, value)
    customer = await tx.session.get(Customer, customer_id)
    if customer is None:
        raise CustomerError("customer_id", f"customer {customer_id} does not exist")
    while customer.merged_into_id is not None:  # merged meanwhile: the record it went to
        customer = await tx.session.get(Customer, customer.merged_into_id)
    owner = await customer_id_for(tx, kind, normalized)
    if owner is None:
        await add_identity(tx, customer, kind, normalized)
        return customer.id
    if owner == customer.id:
        return customer.id
    await merge_customers(tx, customer, await tx.session.get(Customer, owner))
    return owner


async def resolve_sender(
    tx: Transaction,
    kind: str,
    normalized: str,
    display_name: str | None = None,
    *,
    person: bool = True,
) -> int:
    """The id of the customer behind a normalized identity, created on first contact.

    Every inbound message asks this, so it is written as Core statements (no ORM
    unit of work); `create_customer` is the path for staff and the API. A person
    writing from an address that bounced shows it works again: the flag is cleared.
    """
    connection = await tx.session.connection()
    row = (
        await connection.execute(_OWNER_OF_IDENTITY, {"kind": kind, "value": normalized})
    ).first()
    if row is not None:
        if row.bounced_at is not None and person:
            await connection.execute(
                update(Identity)
                .where(Identity.kind == kind, Identity.value == normalized)
                .values(bounced_at=None, bounce_reason=None)
            )
            tx.emit("customer.updated", customer_id=row.customer_id)
        _remember(tx, row.customer_id, row.organization_id, row.tier, row.language)
        return row.customer_id
    name = (display_name or "").strip() or name_from_identity(kind, normalized)
    if not tx.runtime.settings.is_postgres:
        # SQLite's write transaction (BEGIN IMMEDIATE) excludes every other writer,
        # so nobody can have created the identity since the look-up.
        return await _insert_first_contact(tx, kind, normalized, name, display_name)
    try:
        async with tx.session.begin_nested():
            return await _insert_first_contact(tx, kind, normalized, name, display_name)
    except IntegrityError:
        # Another process created this identity between our look-up and insert.
        customer_id = await customer_id_for(tx, kind, normalized)
        if customer_id is None:
            raise
        return customer_id


async def flag_bouncing(tx: Transaction, addresses: list[str], reason: str) -> list[int]:
    """Mark email identities whose mail bounced for good; returns their customers' ids."""
    if not addresses:
        return []
    connection = await tx.session.connection()
    result = await connection.execute(
        update(Identity)
        .where(Identity.kind == "email", Identity.value.in_(addresses))
        .values(bounced_at=tx.now(), bounce_reason=reason[:2000])
        .returning(Identity.customer_id)
    )
    customer_ids = sorted({row.customer_id for row in result})
    for customer_id in customer_ids:
        tx.emit("customer.updated", customer_id=customer_id)
    return customer_ids


async def _insert_first_contact(
    tx: Transaction, kind: str, normalized: str, name: str, display_name: str | None
) -> int:
    connection = await tx.session.connection()
    now = tx.now()
    customer = {
        "name": name[:200],
        "tier": "standard",
        "notes": "",
        "consent": {},
        "created_at": now,
        "updated_at": now,
    }
    customer_id = (await connection.execute(insert(Customer), customer)).inserted_primary_key[0]
    identity = _identity_values(tx, kind, normalized, display_name)
    await connection.execute(insert(Identity), {**identity, "customer_id": customer_id})
    tx.emit("customer.created", customer_id=customer_id)
    _remember(tx, customer_id, None, "standard", None)
    return customer_id


async def update_customer(tx: Transaction, customer: Customer, changes: dict) -> Customer:
    """Change editable fields of the record; unknown fields are refused."""
    for field, value in changes.items():
        if field not in EDITABLE:
            raise CustomerError(field, f"{field} cannot be changed")
        if field == "name" and not str(value or "").strip():
            raise CustomerError("name", "name must not be empty")
        _check_length(field, value)
        if field == "tier":
            _check_tier(value)
        if field == "organization_id":
            await _check_organization(tx, value)
            if value != customer.organization_id:
                # A manager of one organization is nobody's manager in the next.
                customer.org_role = "member"
        setattr(customer, field, value)
    customer.updated_at = tx.now()
    tx.emit("customer.updated", customer_id=customer.id)
    return customer


async def set_organization_role(tx: Transaction, customer: Customer, role: str) -> Customer:
    """Make the customer a member or the manager of their organization (administrators).

    A manager sees and answers all the organization's tickets in the portal; a customer
    without an organization can only be a member.
    """
    if role not in ORG_ROLES:
        raise CustomerError("org_role", f"org_role {role!r} is not one of {', '.join(ORG_ROLES)}")
    if role != "member" and customer.organization_id is None:
        raise CustomerError(
            "org_role", f"customer {customer.id} belongs to no organization: only a member"
        )
    if role != customer.org_role:
        customer.org_role = role
        customer.updated_at = tx.now()
        tx.emit("customer.updated", customer_id=customer.id)
    return customer


# Built once: routing asks for every new customer's first message.
_SET_LANGUAGE = (
    update(Customer)
    .where(Customer.id == bindparam("customer_id"))
    .values(language=bindparam("language"), updated_at=bindparam("now"))
)
_SET_LANGUAGE_IF_UNKNOWN = _SET_LANGUAGE.where(Customer.language.is_(None))
# detected: read from the customer's messages; chosen: said by the customer or an agent.
LANGUAGE_SOURCES = ("detected", "chosen")


async def set_language(
    tx: Transaction, customer_id: int, language: str, *, source: str = "detected"
) -> bool:
    """Record the language a customer writes in; False when it was not set.

    A detected language (routing reads it from the customer's messages) only fills
    one not known yet: it never replaces a chosen one. Costs one statement, no look-up.
    """
    if source not in LANGUAGE_SOURCES:
        sources = ", ".join(LANGUAGE_SOURCES)
        raise CustomerError("source", f"source {source!r} is not one of {sources}")
    statement = _SET_LANGUAGE_IF_UNKNOWN if source == "detected" else _SET_LANGUAGE
    connection = await tx.session.connection()
    result = await connection.execute(
        statement, {"customer_id": customer_id, "language": language, "now": tx.now()}
    )
    if not result.rowcount:
        return False
    remembered = tx.memo.get(("customer", customer_id))
    if remembered is not None:
        remembered["language"] = language
    tx.emit("customer.updated", customer_id=customer_id)
    return True


async def create_organization(
    tx: Transaction, *, name: str, domain: str | None = None, tier: str = "standard"
) -> Organization:
    _check_tier(tier)
    existing = await tx.session.scalar(select(Organization).where(Organization.name == name))
    if existing:
        raise CustomerError("name", f"organization {name!r} exists already", conflict=True)
    organization = Organization(name=name, domain=domain, tier=tier, notes="", created_at=tx.now())
    tx.session.add(organization)
    await tx.session.flush()
    tx.emit("organization.created", organization_id=organization.id)
    return organization


async def update_organization_notes(
    tx: Transaction, organization: Organization, notes: str
) -> None:
    """Replace the organization's notes (free text staff keep about it)."""
    limit = 20_000
    if len(notes) > limit:
        raise CustomerError("notes", f"notes are longer than {limit} characters")
    organization.notes = notes
