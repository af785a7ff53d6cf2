"""The admin part of the console: each channel's settings page (drawn here, owned by the
channel) and which queues confirm new tickets."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tickets import queues
from tickets.models import Queue
from tresen import auth
from tresen import channel as channel_registry


def render(request: Request, name: str, context: dict, status_code: int = 200) -> Response:
    """A channel's page template inside the console's frame."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


async def change_queue(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        queue = await tx.session.get(Queue, request.path_params["queue_id"])
        if queue is None:
            raise HTTPException(404, "queue not found")
        await queues.update_queue(tx, queue, {"acknowledge": form.get("acknowledge") == "on"})
    return RedirectResponse("/admin/email?saved=queue", status_code=303)


def page_routes() -> list[Route]:
    """Made when the app is made, so a channel registered before then has its page."""
    routes = [Route("/admin/queues/{queue_id:int}", change_queue, methods=["POST"])]
    for channel in channel_registry.channels():
        if channel.admin_routes is not None:
            routes.extend(channel.admin_routes(render))
    return routes
