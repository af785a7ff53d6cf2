"""Saved ticket views: an agent's named filters (their own, or shared with everyone)."""

from __future__ import annotations

from sqlalchemy import select

from tickets.actions import TicketError
from tickets.events import TicketViewChanged
from tickets.models import TicketView
from tresen.runtime import Transaction

MAX_NAME = 100


class ViewNameTaken(TicketError):
    """The agent has a view of that name already (names are unique per agent)."""


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TicketError("name", "a view needs a name")
    if len(name) > MAX_NAME:
        raise TicketError("name", f"a view's name has at most {MAX_NAME} characters")
    return name


async def _unique(tx: Transaction, user_id: int, name: str, view_id: int | None = None) -> None:
    """Two views of one agent with one name could not be told apart in the list."""
    # Compared here, not in SQL: SQLite's lower() leaves "Ä" as it is.
    names = await tx.session.scalars(
        select(TicketView.name).where(
            TicketView.user_id == user_id, TicketView.id != (view_id or 0)
        )
    )
    if name.casefold() in {other.casefold() for other in names}:
        raise ViewNameTaken("name", f"you have a view named {name!r} already")


async def save_view(
    tx: Transaction, *, user_id: int, name: str, query: str, shared: bool = False
) -> TicketView:
    """A new view of the list's filters (`query`: the list's query string)."""
    name = _name(name)
    await _unique(tx, user_id, name)
    row = TicketView(user_id=user_id, name=name, query=query, shared=shared, created_at=tx.now())
    tx.session.add(row)
    await tx.session.flush()
    tx.emit(TicketViewChanged(view_id=row.id, user_id=user_id))
    return row


async def update_view(tx: Transaction, row: TicketView, *, name: str, query: str) -> TicketView:
    name = _name(name)
    await _unique(tx, row.user_id, name, row.id)
    row.name, row.query = name, query
    tx.emit(TicketViewChanged(view_id=row.id, user_id=row.user_id))
    return row


async def delete_view(tx: Transaction, row: TicketView) -> None:
    await tx.session.delete(row)
    tx.emit(TicketViewChanged(view_id=row.id, user_id=row.user_id))
