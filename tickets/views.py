"""Saved ticket views: an agent's named filters (their own, or shared with everyone)."""

from __future__ import annotations

from tickets.actions import TicketError
from tickets.events import TicketViewChanged
from tickets.models import TicketView
from tresen.runtime import Transaction

MAX_NAME = 100


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TicketError("name", "a view needs a name")
    if len(name) > MAX_NAME:
        raise TicketError("name", f"a view's name has at most {MAX_NAME} characters")
    return name


async def save_view(
    tx: Transaction, *, user_id: int, name: str, query: str, shared: bool = False
) -> TicketView:
    """A new view of the list's filters (`query`: the list's query string)."""
    row = TicketView(
        user_id=user_id, name=_name(name), query=query, shared=shared, created_at=tx.now()
    )
    tx.session.add(row)
    await tx.session.flush()
    tx.emit(TicketViewChanged(view_id=row.id, user_id=user_id))
    return row


async def update_view(tx: Transaction, row: TicketView, *, name: str, query: str) -> TicketView:
    row.name, row.query = _name(name), query
    tx.emit(TicketViewChanged(view_id=row.id, user_id=row.user_id))
    return row


async def delete_view(tx: Transaction, row: TicketView) -> None:
    await tx.session.delete(row)
    tx.emit(TicketViewChanged(view_id=row.id, user_id=row.user_id))
