"""The supervisors' board: queues, SLA risk and agents, live."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from agent_ui.templating import render_fragment, templates
from routing import queries as routing_queries
from tickets import csat, queries
from tresen import auth
from tresen.events import Event
from tresen.live import Feed, Hub, Socket, accept_staff

BOARD_EVENTS = ("ticket.created", "ticket.updated", "agent.presence")
REFRESH_SECONDS = 0.5
AT_RISK_SHOWN = 25
CSAT_WEEKS = 12


async def board_context(session, now) -> dict:
    by_queue = await queries.open_by_queue(session, now)
    queues = []
    for queue in [*await queries.list_queues(session), None]:
        backlog, unassigned, oldest, at_risk, breached = by_queue.get(
            queue.id if queue else None, (0, 0, None, 0, 0)
        )
        if queue is None and not backlog:
            continue
        queues.append(
            {
                "queue": queue,
                "backlog": backlog,
                "unassigned": unassigned or 0,
                "oldest": oldest,
                "waiting": (now - oldest) if oldest else None,
                "at_risk": at_risk or 0,
                "breached": breached or 0,
            }
        )
    risky = await queries.at_risk(session, now, AT_RISK_SHOWN)
    loads = await queries.open_load_by_assignee(session)
    agents = []
    for user, presence, changed_at, capacity in await routing_queries.agents_at_work(session):
        agents.append(
            {
                "user": user,
                "presence": presence or "offline",
                "since": changed_at,
                "load": loads.get(user.id, 0),
                "capacity": capacity,
            }
        )
    return {
        "queues": queues,
        "risky": risky,
        "agents": agents,
        "now": now,
        "totals": {
            "backlog": sum(q["backlog"] for q in queues),
            "at_risk": sum(q["at_risk"] for q in queues),
            "breached": sum(q["breached"] for q in queues),
            "online": sum(1 for a in agents if a["presence"] == "online"),
        },
    }


async def board(request: Request) -> Response:
    await auth.require_staff(request, "supervisor")
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    async with runtime.read() as session:
        context = await board_context(session, now)
        context["csat"] = await csat_context(session, now)
    return templates.TemplateResponse(request, "board.html", context)


async def csat_context(session, now) -> dict:
    """Satisfaction of the last CSAT_WEEKS weeks by queue, agent and week (read when the board
    opens; ratings trickle in, unlike the queues' work)."""
    since = now - timedelta(weeks=CSAT_WEEKS)
    [total] = await csat.csat_report(session, "total", since)
    return {
        "weeks": CSAT_WEEKS,
        "total": total,
        "by": {by: await csat.csat_report(session, by, since) for by in csat.GROUPS},
    }


class BoardFeed(Feed):
    """Every open board: one load per tick for all supervisors watching."""

    tick = REFRESH_SECONDS

    def topics(self, event: Event):
        return ("board",) if event.type in BOARD_EVENTS else ()

    async def load(self, batch, sockets) -> None:
        async with self.runtime.read() as session:
            context = await board_context(session, self.runtime.clock.now())
        for socket in sockets["board"]:
            socket.push(context)


def render_board(socket: Socket, context: dict) -> str:
    return render_fragment("_board.html", oob=True, **context)


async def board_socket(websocket: WebSocket) -> None:
    """The board re-rendered when tickets, SLAs or presence change (bursts coalesced)."""
    user = await accept_staff(websocket, "supervisor")
    if user is None:
        return
    hub = Hub.of(websocket.app.state.runtime)
    await hub.serve(websocket, user, BoardFeed, ["board"], render_board)


routes = [
    Route("/board", board),
    WebSocketRoute("/ws/board", board_socket),
]
