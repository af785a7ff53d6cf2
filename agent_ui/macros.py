"""Managing macros: every agent keeps their own; supervisors keep the shared ones."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tickets import macros
from tickets.actions import TicketError
from tickets.models import PRIORITIES, Macro
from tickets.states import SETTABLE_STATES
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


def _may_edit(macro: Macro, user) -> bool:
    return macro.owner_id == user.id or (macro.owner_id is None and user.has_role("supervisor"))


async def macro_list(request: Request) -> Response:
    user = await auth.require_staff(request)
    error, values = None, {}
    if request.method == "POST":
        form = await auth.verified_form(request)
        values = dict(form)
        shared = form.get("shared") == "on"
        if shared and not user.has_role("supervisor"):
            raise HTTPException(403, "only supervisors make macros for everyone")
        try:
            async with request.app.state.runtime.transaction() as tx:
                await macros.create_macro(
                    tx,
                    name=str(form.get("name") or ""),
                    body=str(form.get("body") or ""),
                    internal=form.get("internal") == "on",
                    actions=_actions(form),
                    owner_id=None if shared else user.id,
                )
            return RedirectResponse("/macros", status_code=303)
        except TicketError as exc:
            error = str(exc)
    async with request.app.state.runtime.read() as session:
        items = await macros.list_macros(session, user.id, active_only=False)
    return templates.TemplateResponse(
        request,
        "macros.html",
        {
            "macros": [(item, _may_edit(item, user)) for item in items],
            "placeholders": macros.PLACEHOLDERS,
            "states": SETTABLE_STATES,
            "priorities": PRIORITIES,
            "error": error,
            "values": values,
        },
        status_code=422 if error else 200,
    )


async def macro_edit(request: Request) -> Response:
    user = await auth.require_staff(request)
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
            if macro is None or not macros.may_use(macro, user.id):
                raise HTTPException(404, "macro not found")
            if not _may_edit(macro, user):
                raise HTTPException(403, "supervisors change the shared macros")
            await macros.update_macro(tx, macro, changes)
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse("/macros", status_code=303)


routes = [
    Route("/macros", macro_list, methods=["GET", "POST"]),
    Route("/macros/{macro_id:int}", macro_edit, methods=["POST"]),
]
