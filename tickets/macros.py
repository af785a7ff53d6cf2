"""Macros: canned responses with placeholders that may also set state, priority and tags."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from customers.models import Customer
from tickets.fields import TicketError, check_choice, normalize_tags, update_ticket
from tickets.history import Actor
from tickets.models import PRIORITIES, Macro, Ticket
from tickets.states import SETTABLE_STATES
from tresen.models import User
from tresen.runtime import Transaction

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
PLACEHOLDERS = {
    "customer.name": "the customer's name",
    "customer.first_name": "the customer's first name",
    "customer.email": "the customer's email address",
    "ticket.number": "the ticket number, e.g. 1042",
    "ticket.subject": "the ticket's subject",
    "agent.name": "your name",
    "agent.first_name": "your first name",
}
ACTION_KEYS = ("state", "priority", "add_tags", "remove_tags")


def check_macro(name: str, body: str, actions: dict) -> dict:
    """The macro's actions cleaned; a bad name, placeholder or action is a TicketError."""
    if not name.strip():
        raise TicketError("name", "a macro needs a name")
    for match in PLACEHOLDER.finditer(body):
        if match.group(1) not in PLACEHOLDERS:
            raise TicketError(
                "body",
                f"placeholder {{{{{match.group(1)}}}}} is not one of "
                + ", ".join("{{" + key + "}}" for key in PLACEHOLDERS),
            )
    cleaned: dict = {}
    for key, value in (actions or {}).items():
        if key not in ACTION_KEYS:
            raise TicketError("actions", f"a macro cannot set {key!r}")
        if key == "state" and value:
            check_choice("state", value, SETTABLE_STATES)
            cleaned[key] = value
        elif key == "priority" and value:
            check_choice("priority", value, PRIORITIES)
            cleaned[key] = value
        elif key in ("add_tags", "remove_tags") and value:
            cleaned[key] = normalize_tags(value)
    if not body.strip() and not cleaned:
        raise TicketError("body", "a macro needs text or something it changes")
    return cleaned


async def _check_name_free(tx: Transaction, name: str, owner_id: int | None, macro_id=None):
    """A name is taken by a shared macro, or by one of the same owner's."""
    query = select(Macro.id).where(Macro.name == name)
    if owner_id is None:
        query = query.where(Macro.owner_id.is_(None))
    else:
        query = query.where((Macro.owner_id == owner_id) | Macro.owner_id.is_(None))
    if macro_id is not None:
        query = query.where(Macro.id != macro_id)
    if await tx.session.scalar(query.limit(1)):
        raise TicketError("name", f"a macro named {name!r} exists already", conflict=True)


async def create_macro(
    tx: Transaction,
    *,
    name: str,
    body: str = "",
    internal: bool = False,
    actions: dict | None = None,
    owner_id: int | None = None,
) -> Macro:
    """A macro for everyone (owner_id None) or one agent's own."""
    cleaned = check_macro(name, body, actions or {})
    await _check_name_free(tx, name.strip(), owner_id)
    macro = Macro(
        owner_id=owner_id,
        name=name.strip(),
        body=body,
        internal=internal,
        actions=cleaned,
        active=True,
        usage_count=0,
        created_at=tx.now(),
        updated_at=tx.now(),
    )
    tx.session.add(macro)
    await tx.session.flush()
    tx.emit("macro.changed", macro_id=macro.id)
    return macro


async def update_macro(tx: Transaction, macro: Macro, changes: dict) -> Macro:
    name = changes.get("name", macro.name)
    body = changes.get("body", macro.body)
    actions = changes.get("actions", macro.actions)
    cleaned = check_macro(name, body, actions)
    # Shared (None) or one agent's own: the caller decides who may move it (supervisors).
    owner_id = changes.get("owner_id", macro.owner_id)
    await _check_name_free(tx, name.strip(), owner_id, macro.id)
    macro.name, macro.body, macro.actions = name.strip(), body, cleaned
    macro.owner_id = owner_id
    if "internal" in changes:
        macro.internal = bool(changes["internal"])
    if "active" in changes:
        macro.active = bool(changes["active"])
    macro.updated_at = tx.now()
    tx.emit("macro.changed", macro_id=macro.id)
    return macro


def may_use(macro: Macro, user_id: int) -> bool:
    return macro.owner_id is None or macro.owner_id == user_id


def render(body: str, ticket: Ticket, customer: Customer, agent: User) -> str:
    """The macro's text for this ticket: placeholders filled in."""
    email = next((i.value for i in customer.identities if i.kind == "email"), "")
    values = {
        "customer.name": customer.name,
        "customer.first_name": customer.name.split()[0] if customer.name.split() else "",
        "customer.email": email,
        "ticket.number": str(ticket.number),
        "ticket.subject": ticket.subject,
        "agent.name": agent.name,
        "agent.first_name": agent.name.split()[0] if agent.name.split() else "",
    }
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), body)


async def apply_actions(tx: Transaction, macro: Macro, ticket: Ticket, actor: Actor) -> list[str]:
    """What the macro changes on the ticket (after its text was sent); counts the use."""
    changes: dict = {}
    actions = macro.actions or {}
    if actions.get("state"):
        changes["state"] = actions["state"]
    if actions.get("priority"):
        changes["priority"] = actions["priority"]
    if actions.get("add_tags") or actions.get("remove_tags"):
        tags = (set(ticket.tags) | set(actions.get("add_tags", ()))) - set(
            actions.get("remove_tags", ())
        )
        changes["tags"] = sorted(tags)
    changed = await update_ticket(tx, ticket, changes, actor) if changes else []
    await tx.session.execute(
        update(Macro).where(Macro.id == macro.id).values(usage_count=Macro.usage_count + 1)
    )
    return changed


async def list_macros(session, user_id: int, *, active_only: bool = True) -> list[Macro]:
    """The shared macros and the user's own, most used first."""
    query = (
        select(Macro)
        .where(Macro.owner_id.is_(None) | (Macro.owner_id == user_id))
        .order_by(Macro.usage_count.desc(), Macro.name)
    )
    if active_only:
        query = query.where(Macro.active)
    return list(await session.scalars(query))
