"""REST API v1: a ticket's satisfaction rating, and CSAT by queue, agent and week."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request

from tickets.csat import GROUPS, csat_report, rating_json, ticket_rating
from tickets.models import Ticket
from tresen.api import ApiError, ApiRouter, not_found, query_int

router = ApiRouter("satisfaction")

MAX_WEEKS = 520
DEFAULT_WEEKS = 12


@router.route(
    "GET",
    "/tickets/{ticket_id:int}/rating",
    summary="The customer's satisfaction rating of a ticket (null when not rated)",
)
async def get_rating(request: Request, user):
    ticket_id = request.path_params["ticket_id"]
    async with request.app.state.runtime.read() as session:
        if await session.get(Ticket, ticket_id) is None:
            raise not_found("ticket", ticket_id)
        return {"rating": rating_json(await ticket_rating(session, ticket_id))}


@router.route(
    "GET",
    "/csat/report",
    summary="CSAT (ratings, average, % satisfied with 4-5) by queue, agent or week",
    role="supervisor",
    query={
        "by": f"one of {', '.join(GROUPS)} (default week)",
        "weeks": f"the ratings of this many weeks back (default {DEFAULT_WEEKS})",
    },
)
async def report(request: Request, user):
    by = request.query_params.get("by") or "week"
    if by not in GROUPS:
        raise ApiError(400, f"by {by[:20]!r} is not one of {', '.join(GROUPS)}", "by")
    weeks = query_int(request, "weeks") or DEFAULT_WEEKS
    if weeks > MAX_WEEKS:
        raise ApiError(400, f"weeks {weeks} is more than {MAX_WEEKS}", "weeks")
    runtime = request.app.state.runtime
    since = runtime.clock.now() - timedelta(weeks=weeks)
    async with runtime.read() as session:
        [total] = await csat_report(session, "total", since)
        rows = await csat_report(session, by, since)
    return {
        "by": by,
        "since": since.isoformat(),
        "total": {"count": total.count, "average": total.average, "satisfied": total.satisfied},
        "items": [
            {
                "key": row.key,
                "name": row.label,
                "count": row.count,
                "average": row.average,
                "satisfied": row.satisfied,
            }
            for row in rows
        ],
    }
