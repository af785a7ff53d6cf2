"""The desk's settings an administrator changes: two-factor sign-in, assigning on reply."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tresen import auth
from tresen.desk_settings import all_settings, put_setting

# The switches this page shows (desk_settings keys, each a yes/no).
SWITCHES = ("require_two_factor", "assign_on_reply")


async def admin_settings(request: Request) -> Response:
    """GET: the desk's switches; POST: save them (an unticked box is off)."""
    user = await auth.require_staff(request, "admin")
    runtime = request.app.state.runtime
    if request.method == "POST":
        form = await auth.verified_form(request)
        async with runtime.transaction() as tx:
            for key in SWITCHES:
                await put_setting(tx, key, form.get(key) == "on", user.id)
            await auth.refuse_live_without_two_factor(tx)
        return RedirectResponse("/admin/settings?saved=1", status_code=303)
    async with runtime.read() as session:
        values = await all_settings(session)
    return templates.TemplateResponse(
        request,
        "admin_settings.html",
        {"values": values, "saved": request.query_params.get("saved") == "1"},
    )


routes = [Route("/admin/settings", admin_settings, methods=["GET", "POST"])]
