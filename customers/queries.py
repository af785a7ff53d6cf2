"""Reading the central record: one customer, search by name, email or phone."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from customers.models import Customer, Identity, Organization


async def get_customer(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def list_customers(
    session: AsyncSession, *, q: str | None = None, after_id: int | None = None, limit: int = 50
) -> list[Customer]:
    """Customers by id, newest first; q matches name, email or phone (any spelling)."""
    query = select(Customer).order_by(Customer.id.desc()).limit(limit)
    if after_id is not None:
        query = query.where(Customer.id < after_id)
    if q:
        needle = q.strip().lower()
        digits = re.sub(r"\D", "", needle)
        conditions = [
            Customer.name.ilike(f"%{escape_like(needle)}%", escape="\\"),
            Customer.id.in_(
                select(Identity.customer_id).where(
                    Identity.search_value.like(f"%{escape_like(needle)}%", escape="\\")
                )
            ),
        ]
        if len(digits) >= 4:
            # "+49 30 123456", "030 123456" and "4930123456" all find the same number.
            tail = digits.lstrip("0")
            conditions.append(
                Customer.id.in_(
                    select(Identity.customer_id).where(
                        Identity.search_value.like(f"%{tail}", escape="\\")
                    )
                )
            )
        query = query.where(or_(*conditions))
    return list((await session.scalars(query)).unique())


def escape_like(value: str) -> str:
    """The value for LIKE ... ESCAPE '\\': its own %, _ and \\ match themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_organizations(session: AsyncSession) -> list[Organization]:
    return list(await session.scalars(select(Organization).order_by(Organization.name)))


async def identity_owner(session: AsyncSession, kind: str, value: str) -> Customer | None:
    """The customer who has this identity (its value normalized already)."""
    return await session.scalar(
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.kind == kind, Identity.value == value)
    )
