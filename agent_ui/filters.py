"""The console's list filters, read from a query string (pages and live sockets alike)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from tickets.models import STATES
from tickets.queries import TicketFilter
from tresen.models import User

OPEN_STATES = ["new", "open", "pending", "on_hold"]


def list_filter(request: HTTPConnection, user: User) -> TicketFilter:
    """The list's filters from the query string; bad values are a 400, not a crash."""
    params = request.query_params
    state = params.get("state", "open_all")
    if state == "open_all":
        states = OPEN_STATES
    elif state == "all":
        states = None
    elif state in STATES:
        states = [state]
    else:
        raise HTTPException(400, f"state {state!r} is not a ticket state")
    assignee = params.get("assignee", "")
    try:
        queue_id = int(params["queue"]) if params.get("queue") else None
        assignee_id = (
            user.id if assignee == "me" else (int(assignee) if assignee.isdigit() else None)
        )
    except ValueError:
        raise HTTPException(400, "queue must be a queue id") from None
    if assignee not in ("", "me", "none") and not assignee.isdigit():
        raise HTTPException(400, f"assignee {assignee!r} is not me, none or a user id")
    return TicketFilter(
        state=states, queue_id=queue_id, assignee_id=assignee_id, unassigned=assignee == "none"
    )
