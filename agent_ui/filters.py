"""The console's ticket views: built-in and saved lists, and their filters from a query string."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from customers import directory
from tickets import queries
from tickets.models import PRIORITIES, STATES
from tickets.queries import SLA_FILTERS, SORTS, TicketFilter
from tickets.states import OPEN_STATES
from tresen import channel as channel_registry
from tresen.forms import optional_id
from tresen.i18n import _
from tresen.ids import is_id, parse_id
from tresen.models import User

# Tickets may come from channels no longer (or not yet) registered: any such name filters.
_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")
# What a list may be filtered by; anything else in a query string is not a filter.
FILTER_NAMES = (
    "state",
    "queue",
    "assignee",
    "priority",
    "channel",
    "tag",
    "customer",
    "organization",
    "sla",
    "q",
    "sort",
)


def channel_names() -> list[str]:
    """The channels a list can be filtered by: every registered one."""
    return [channel.name for channel in channel_registry.channels()]


@dataclass(frozen=True)
class View:
    key: str  # e.g. "mine", "queue-3", "saved-12"
    name: str
    params: dict
    kind: str = "builtin"  # builtin | queue | saved
    shared: bool = False
    owner_id: int | None = None


def builtin_views() -> list[View]:
    """The lists every agent has (names in the reader's language)."""
    return [
        View("mine", _("My open tickets"), {"assignee": "me", "sort": "sla"}),
        View("unassigned", _("Unassigned"), {"assignee": "none", "sort": "sla"}),
        View("open", _("All open"), {}),
        View("sla_risk", _("SLA at risk"), {"sla": "at_risk", "sort": "sla"}),
        View("sla_breached", _("SLA breached"), {"sla": "breached", "sort": "sla"}),
        View("pending", _("Pending"), {"state": "pending"}),
        View("solved", _("Recently solved"), {"state": "solved"}),
    ]


async def all_views(session, user: User) -> list[View]:
    """Built-in views, one per queue, and the saved views this user may see."""
    views = builtin_views()
    for queue in await queries.list_queues(session):
        views.append(View(f"queue-{queue.id}", queue.name, {"queue": str(queue.id)}, "queue"))
    for row in await queries.visible_views(session, user.id):
        views.append(
            View(
                f"saved-{row.id}",
                row.name,
                dict(parse_qsl(row.query)),
                "saved",
                shared=row.shared,
                owner_id=row.user_id,
            )
        )
    return views


def view_params(view_key: str | None, views: list[View], params: QueryParams | dict) -> dict:
    """A view's filters with the query string's own on top (the list as the agent refined it)."""
    merged: dict = {}
    if view_key:
        view = next((v for v in views if v.key == view_key), None)
        if view is None:
            raise HTTPException(404, f"view {view_key!r} does not exist")
        merged.update(view.params)
    merged.update({k: v for k, v in params.items() if k in FILTER_NAMES and v != ""})
    return merged


def filter_query(params: dict) -> str:
    """The filters as a query string, in a stable order (what a saved view stores)."""
    return urlencode([(name, params[name]) for name in FILTER_NAMES if params.get(name)])


def parse_filter(params: dict, user: User) -> TicketFilter:
    """The list's filters; a bad value is a 400 naming it, not a crash."""
    state = params.get("state", "open_all")
    if state == "open_all":
        states = list(OPEN_STATES)
    elif state == "all":
        states = None
    elif state in STATES:
        states = [state]
    else:
        raise HTTPException(400, f"state {state!r} is not a ticket state")
    assignee = params.get("assignee", "")
    if assignee in ("me", "none"):
        params = {**params, "assignee": ""}
    if assignee not in ("", "me", "none") and not is_id(assignee):
        raise HTTPException(400, f"assignee {assignee!r} is not me, none or a user id")
    priorities = [p for p in str(params.get("priority", "")).split(",") if p]
    for priority in priorities:
        if priority not in PRIORITIES:
            raise HTTPException(400, f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    sla = params.get("sla") or None
    if sla is not None and sla not in SLA_FILTERS:
        raise HTTPException(400, f"sla {sla!r} is not one of {', '.join(SLA_FILTERS)}")
    sort = params.get("sort") or "updated"
    if sort not in SORTS:
        raise HTTPException(400, f"sort {sort!r} is not one of {', '.join(SORTS)}")
    channel = params.get("channel") or None
    if channel is not None and not _CHANNEL_NAME.fullmatch(channel):
        raise HTTPException(400, f"channel {channel!r} is not a channel name (e.g. email, sms)")
    return TicketFilter(
        state=states,
        queue_id=_number(params, "queue"),
        assignee_id=user.id if assignee == "me" else parse_id(assignee),
        unassigned=assignee == "none",
        customer_id=_number(params, "customer"),
        organization_id=_number(params, "organization"),
        channel=channel,
        tag=(params.get("tag") or "").strip().lower() or None,
        priority=priorities or None,
        sla=sla,
        text=(params.get("q") or "").strip()[:200] or None,
        sort=sort,
    )


@dataclass(frozen=True)
class NamedFilters:
    """Customer and organization filters typed by name, resolved to ids for the list."""

    # The list's params, with ids.
    params: dict
    # The names the filter fields show (a record's name for an id given).
    names: dict
    # {"customer": [(id, name), ...]}: several records have the name; the agent picks one.
    choices: dict
    # Filters whose name matches no record (the list shows nothing for them).
    unknown: tuple[str, ...] = ()


# A filter no record matches: no customer or organization has id 0.
NOTHING = "0"


async def resolve_names(session, params: dict) -> NamedFilters:
    """Customer and organization filters given by name turned into ids (an id stays one)."""
    # A name several records have, or none, is reported, not guessed.
    resolved, names, choices, unknown = dict(params), {}, {}, []
    for name, named in (
        ("customer", directory.customers_named),
        ("organization", directory.organizations_named),
    ):
        raw = str(params.get(name) or "").strip()
        if not raw:
            continue
        if is_id(raw):
            names[name] = await directory.name_of(session, name, parse_id(raw)) or raw
            continue
        names[name] = raw[:200]
        found = await named(session, raw[:200])
        if len(found) == 1:
            resolved[name] = str(found[0].id)
            continue
        resolved[name] = NOTHING
        if found:
            choices[name] = [(record.id, record.name) for record in found]
        else:
            unknown.append(name)
    return NamedFilters(resolved, names, choices, tuple(unknown))


def _number(params: dict, name: str) -> int | None:
    return optional_id(params.get(name), name)


def list_filter(request: HTTPConnection, user: User) -> TicketFilter:
    """The filters of a list page's query string (without saved views: sockets get the
    resolved filters from the page)."""
    return parse_filter(dict(request.query_params), user)
