"""Managing macros (supervisors): canned responses and the changes they make."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tickets import macros
from tickets.actions import TicketError
from tickets.models import PRIORITIES, STATES, Macro
from tresen import auth


def _actions(form) -> dict:
    return {
        "state": str(form.get("state") or ""),
        "priority": str(form.get("priority") or ""),
        "add_tags": [t.strip() for t in str(form.get("add_tags") or "").split(",") if t.strip()],
        "remove_tags": [
            t.strip() for t in str(form.get("remove_tags") or "").split(",") if t.strip()
        ],
    }


async def macro_list(request: Request) -> Response:
    await auth.require_staff(request, "supervisor")
    error, values = None, {}
    if request.method == "POST":
        form = await auth.verified_form(request)
        values = dict(form)
        try:
            async with request.app.state.runtime.transaction() as tx:
                await macros.create_macro(
                    tx,
                    name=str(form.get("name") or ""),
                    body=str(form.get("body") or ""),
                    internal=form.get("internal") == "on",
                    actions=_actions(form),
                )
            return RedirectResponse("/macros", status_code=303)
        except TicketError as exc:
            error = str(exc)
    async with request.app.state.runtime.read() as session:
        items = await macros.list_macros(session, active_only=False)
    return templates.TemplateResponse(
        request,
        "macros.html",
        {
            "macros": items,
            "placeholders": macros.PLACEHOLDERS,
            "states": STATES,
            "priorities": PRIORITIES,
            "error": error,
            "values": values,
        },
        status_code=422 if error else 200,
    )


async def macro_edit(request: Request) -> Response:
    await auth.require_staff(request, "supervisor")
    form = await auth.verified_form(request)
    changes = {
        "name": str(form.get("name") or ""),
        "body": str(form.get("body") or ""),
        "internal": form.get("internal") == "on",
        "active": form.get("active") == "on",
        "actions": _actions(form),
    }
    try:
        async with request.app.state.runtime.transaction() as tx:
            macro = await tx.session.get(Macro, request.path_params["macro_id"])
            if macro is None:
                raise HTTPException(404, "macro not found")
            await macros.update_macro(tx, macro, changes)
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse("/macros", status_code=303)


routes = [
    Route("/macros", macro_list, methods=["GET", "POST"]),
    Route("/macros/{macro_id:int}", macro_edit, methods=["POST"]),
]
