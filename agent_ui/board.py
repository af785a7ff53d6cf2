"""The supervisors' board: queues, SLA risk and agents, live."""

from __future__ import annotations

import asyncio

from sqlalchemy import and_, case, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from agent_ui import live
from agent_ui.filters import OPEN_STATES
from agent_ui.templating import render_fragment, templates
from routing.models import AgentProfile
from tickets.models import Queue, Ticket
from tresen import auth
from tresen.models import User

BOARD_EVENTS = ("ticket.created", "ticket.updated", "agent.presence", "bus.overflow")
REFRESH_SECONDS = 0.5
AT_RISK_SHOWN = 25


async def board_context(session, now) -> dict:
    open_ticket = Ticket.state.in_(OPEN_STATES)
    rows = await session.execute(
        select(
            Ticket.queue_id,
            func.count(),
            func.sum(case((Ticket.assignee_id.is_(None), 1), else_=0)),
            func.min(Ticket.created_at),
            func.sum(case((and_(Ticket.sla_warn_at <= now, Ticket.sla_due_at > now), 1), else_=0)),
            func.sum(case((Ticket.sla_due_at <= now, 1), else_=0)),
        )
        .where(open_ticket)
        .group_by(Ticket.queue_id)
    )
    by_queue = {row[0]: row[1:] for row in rows}
    queues = []
    for queue in [*await session.scalars(select(Queue).order_by(Queue.name)), None]:
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
    risky = list(
        (
            await session.scalars(
                select(Ticket)
                .where(open_ticket, Ticket.sla_warn_at <= now)
                .order_by(Ticket.sla_due_at, Ticket.id)
                .limit(AT_RISK_SHOWN)
            )
        ).unique()
    )
    loads = dict(
        (
            await session.execute(
                select(Ticket.assignee_id, func.count())
                .where(open_ticket, Ticket.assignee_id.is_not(None))
                .group_by(Ticket.assignee_id)
            )
        ).all()
    )
    agents = []
    for user, presence, changed_at, capacity in await session.execute(
        select(User, AgentProfile.presence, AgentProfile.presence_changed_at, AgentProfile.capacity)
        .outerjoin(AgentProfile, AgentProfile.user_id == User.id)
        .where(User.active)
        .order_by(User.name)
    ):
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
    async with runtime.read() as session:
        context = await board_context(session, runtime.clock.now())
    return templates.TemplateResponse(request, "board.html", context)


async def board_socket(websocket: WebSocket) -> None:
    """The board re-rendered when tickets, SLAs or presence change (bursts coalesced)."""
    user = await live.accept_staff(websocket)
    if user is None:
        return
    if not user.has_role("supervisor"):
        await websocket.close(code=1008)
        return
    runtime = websocket.app.state.runtime
    loop = asyncio.get_running_loop()
    last = 0.0

    async def handle(event, pending: asyncio.Queue):
        nonlocal last
        if event.type not in BOARD_EVENTS:
            return None
        wait = last + REFRESH_SECONDS - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        while not pending.empty():
            pending.get_nowait()
        last = loop.time()
        async with runtime.read() as session:
            context = await board_context(session, runtime.clock.now())
        return render_fragment("_board.html", oob=True, **context)

    await live.pump(websocket, handle)


routes = [
    Route("/board", board),
    WebSocketRoute("/ws/board", board_socket),
]
