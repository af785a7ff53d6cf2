"""Reading the customer directory: customers and organizations found by name, page by page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from customers.models import Customer, Identity, Organization
from customers.queries import escape_like

PAGE_SIZE = 25
# Resolving a typed name to records stops here: more is not "a name", it is a search.
MATCH_LIMIT = 10


@dataclass(frozen=True)
class Page:
    """One page of a directory list: its rows, the page number and how many rows in all."""

    rows: list
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _listed():
    """Records a directory shows: not merged into another, not erased."""
    return [Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)]


def _customer_matches(q: str, *, organizations: bool = True):
    """Name, e-mail, phone (any spelling) or, optionally, the organization's name has `q`."""
    needle = q.strip().lower()
    like = f"%{escape_like(needle)}%"
    conditions = [
        func.lower(Customer.name).like(like, escape="\\"),
        Customer.id.in_(
            select(Identity.customer_id).where(Identity.search_value.like(like, escape="\\"))
        ),
    ]
    if organizations:
        conditions.append(
            Customer.organization_id.in_(
                select(Organization.id).where(func.lower(Organization.name).like(like, escape="\\"))
            )
        )
    digits = re.sub(r"\D", "", needle)
    if len(digits) >= 4:
        # "+49 30 123456", "030 123456" and "4930123456" all find the same number.
        tail = escape_like(digits.lstrip("0"))
        conditions.append(
            Customer.id.in_(
                select(Identity.customer_id).where(
                    Identity.search_value.like(f"%{tail}", escape="\\")
                )
            )
        )
    return or_(*conditions)


async def customers_page(
    session: AsyncSession,
    *,
    q: str = "",
    organization_id: int | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """Customers by name (A to Z), those matching `q` when given."""
    conditions = _listed()
    if q.strip():
        conditions.append(_customer_matches(q))
    if organization_id is not None:
        conditions.append(Customer.organization_id == organization_id)
    total = await session.scalar(select(func.count()).select_from(Customer).where(*conditions))
    page = max(1, min(page, max(1, -(-(total or 0) // size))))
    rows = await session.scalars(
        select(Customer)
        .where(*conditions)
        .order_by(func.lower(Customer.name), Customer.id)
        .offset((page - 1) * size)
        .limit(size)
    )
    return Page(list(rows.unique()), page, total or 0, size)


async def organizations_page(
    session: AsyncSession, *, q: str = "", page: int = 1, size: int = PAGE_SIZE
) -> Page:
    """Organizations by name with their member counts: rows of (organization, members)."""
    conditions = []
    if q.strip():
        like = f"%{escape_like(q.strip().lower())}%"
        conditions.append(
            or_(
                func.lower(Organization.name).like(like, escape="\\"),
                func.lower(Organization.domain).like(like, escape="\\"),
            )
        )
    total = await session.scalar(select(func.count()).select_from(Organization).where(*conditions))
    page = max(1, min(page, max(1, -(-(total or 0) // size))))
    members = (
        select(func.count())
        .where(Customer.organization_id == Organization.id, *_listed())
        .correlate(Organization)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Organization, members)
        .where(*conditions)
        .order_by(func.lower(Organization.name), Organization.id)
        .offset((page - 1) * size)
        .limit(size)
    )
    return Page([(row[0], row[1]) for row in rows], page, total or 0, size)


async def get_organization(session: AsyncSession, organization_id: int) -> Organization | None:
    return await session.get(Organization, organization_id)


async def customers_named(session: AsyncSession, name: str) -> list[Customer]:
    """The customers a typed name means: those so named, else those it partly matches."""
    name = name.strip()
    if not name:
        return []
    exact = list(
        await session.scalars(
            select(Customer)
            .where(func.lower(Customer.name) == name.lower(), *_listed())
            .order_by(Customer.id)
            .limit(MATCH_LIMIT)
        )
    )
    if exact:
        return exact
    return list(
        await session.scalars(
            select(Customer)
            .where(_customer_matches(name, organizations=False), *_listed())
            .order_by(func.lower(Customer.name), Customer.id)
            .limit(MATCH_LIMIT)
        )
    )


async def organizations_named(session: AsyncSession, name: str) -> list[Organization]:
    """The organizations a typed name means: the one so named, else those it partly names."""
    name = name.strip()
    if not name:
        return []
    exact = list(
        await session.scalars(
            select(Organization).where(func.lower(Organization.name) == name.lower()).limit(1)
        )
    )
    if exact:
        return exact
    like = f"%{escape_like(name.lower())}%"
    return list(
        await session.scalars(
            select(Organization)
            .where(func.lower(Organization.name).like(like, escape="\\"))
            .order_by(func.lower(Organization.name), Organization.id)
            .limit(MATCH_LIMIT)
        )
    )


async def name_of(session: AsyncSession, kind: str, record_id: int | None) -> str | None:
    """The name of a customer or organization by id (what a filter shows in its text field)."""
    if record_id is None:
        return None
    model = Customer if kind == "customer" else Organization
    return await session.scalar(select(model.name).where(model.id == record_id))
