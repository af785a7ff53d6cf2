"""Queues: the only places that create and change them (routing adds members and modes)."""

from __future__ import annotations

from sqlalchemy import select

from tickets.actions import TicketError
from tickets.events import QueueCreated, QueueUpdated
from tickets.models import Queue
from tresen.runtime import Transaction


async def create_queue(
    tx: Transaction, *, name: str, description: str = "", acknowledge: bool = False
) -> Queue:
    name = name.strip()
    if not name:
        raise TicketError("name", "queue name must not be empty")
    if await tx.session.scalar(select(Queue.id).where(Queue.name == name)):
        raise TicketError("name", f"queue {name!r} exists already", conflict=True)
    queue = Queue(name=name, description=description, acknowledge=acknowledge)
    tx.session.add(queue)
    await tx.session.flush()
    tx.emit(QueueCreated(queue_id=queue.id))
    return queue


async def update_queue(tx: Transaction, queue: Queue, changes: dict) -> list[str]:
    """Rename a queue, change its description, or whether it confirms new tickets."""
    changed = []
    for field, value in changes.items():
        if field == "name":
            value = (value or "").strip()
            if not value:
                raise TicketError("name", "queue name must not be empty")
            clash = await tx.session.scalar(
                select(Queue.id).where(Queue.name == value, Queue.id != queue.id)
            )
            if clash:
                raise TicketError("name", f"queue {value!r} exists already", conflict=True)
        elif field not in ("description", "acknowledge"):
            raise TicketError(field, f"{field} cannot be changed")
        if value is not None and getattr(queue, field) != value:
            setattr(queue, field, value)
            changed.append(field)
    if changed:
        tx.emit(QueueUpdated(queue_id=queue.id, fields=changed))
    return changed
