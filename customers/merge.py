"""Merging two records of one person: identities, history and tickets move to the one kept.

Rooms that hold rows about customers register a mover (tickets move their tickets and
messages); customers/ never imports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import update

from customers.actions import CustomerError
from customers.events import CustomerMerged, CustomerUpdated
from customers.models import TIERS, Customer, Identity
from tresen.runtime import Transaction

Mover = Callable[[Transaction, int, int], Awaitable[None]]  # (tx, from_id, into_id)
_movers: list[Mover] = []


def register_mover(mover: Mover) -> Mover:
    """Add what a room does when customer `from_id` is merged into `into_id`."""
    if mover not in _movers:
        _movers.append(mover)
    return mover


async def merge_customers(tx: Transaction, source: Customer, target: Customer) -> Customer:
    """Keep `target`: it gains source's identities, tickets and history; source points to it.

    Fields the target lacks are taken from the source; notes are kept from both; consent
    keeps the target's answers and adds the source's others; the higher tier wins.
    """
    if source.id == target.id:
        raise CustomerError("customer", "a record cannot be merged into itself")
    if source.merged_into_id is not None:
        raise CustomerError("customer", f"customer {source.id} is merged already")
    if target.merged_into_id is not None:
        raise CustomerError("customer", f"customer {target.id} is merged into another record")
    connection = await tx.session.connection()
    await connection.execute(
        update(Identity).where(Identity.customer_id == source.id).values(customer_id=target.id)
    )
    for field in ("language", "timezone", "organization_id"):
        if getattr(target, field) is None and getattr(source, field) is not None:
            setattr(target, field, getattr(source, field))
    if source.notes.strip():
        target.notes = "\n\n".join(n for n in (target.notes.strip(), source.notes.strip()) if n)
    target.consent = {**(source.consent or {}), **(target.consent or {})}
    target.tier = max(target.tier, source.tier, key=TIERS.index)
    for mover in _movers:
        await mover(tx, source.id, target.id)
    source.merged_into_id = target.id
    source.updated_at = target.updated_at = tx.now()
    await tx.session.flush()
    tx.session.expire(target, ["identities"])
    tx.emit(CustomerMerged(customer_id=source.id, into_id=target.id))
    tx.emit(CustomerUpdated(customer_id=target.id))
    return target
