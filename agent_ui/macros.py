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

FORM_FIELDS = (
    "name",
    "body",
    "internal",
    "state",
    "priority",
    "add_tags",
    "remove_tags",
    "active",
    "shared",
)


def _actions(form) -> dict:
    return {
        "state": str(form.get("state") or ""),
        "priority": str(form.get("priority") or ""),
        "add_tags": [t.strip() for t in str(form.get("add_tags") or "").split(",") if t.strip()],
        "remove_tags": [
            t.strip() for t in str(form.get("remove_tags") or "").split(",") if t.strip()
        ],
    }


def macro_to_form(macro: Macro) -> dict:
    """A stored macro as the values of its edit form."""
    acts = macro.actions or {}
    return {
        "name": macro.name,
        "body": macro.body,
        "internal": "on" if macro.internal else "",
        "state": acts.get("state") or "",
        "priority": acts.get("priority") or "",
        "add_tags": ", ".join(acts.get("add_tags") or []),
        "remove_tags": ", ".join(acts.get("remove_tags") or []),
        "active": "on" if macro.active else "",
        "shared": "on" if macro.owner_id is None else "",
    }


def _typed(form) -> dict:
    """The form as typed, to show it again after an error."""
    return {name: str(form.get(name) or "") for name in FORM_FIELDS}


def _may_edit(macro: Macro, user) -> bool:
    return macro.owner_id == user.id or (macro.owner_id is None and user.has_role("supervisor"))


async def _page(
    request: Request, user, *, error=None, values=None, editing=None, status_code=200
) -> Response:
    """The macros page; `editing` is (macro id, typed values) of an edit that was refused."""
    async with request.app.state.runtime.read() as session:
        items = await macros.list_macros(session, user.id, active_only=False)
    shown = []
    for item in items:
        editable = _may_edit(item, user)
        typed = editing[1] if editing and editing[0] == item.id else None
        shown.append((item, editable, typed or (macro_to_form(item) if editable else {})))
    return templates.TemplateResponse(
        request,
        "macros.html",
        {
            "macros": shown,
            "placeholders": macros.PLACEHOLDERS,
            "states": SETTABLE_STATES,
            "priorities": PRIORITIES,
            "error": error,
            "values": values or {},
            "editing_id": editing[0] if editing else None,
        },
        status_code=status_code,
    )


async def macro_list(request: Request) -> Response:
    user = await auth.require_staff(request)
    if request.method != "POST":
        return await _page(request, user)
    form = await auth.verified_form(request)
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
    except TicketError as error:
        return await _page(request, user, error=str(error), values=_typed(form), status_code=422)
    return RedirectResponse("/macros", status_code=303)


async def macro_edit(request: Request) -> Response:
    """Change every field of a macro; a refused change shows the form again as typed."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    macro_id = request.path_params["macro_id"]
    changes = {
        "name": str(form.get("name") or ""),
        "body": str(form.get("body") or ""),
        "internal": form.get("internal") == "on",
        "active": form.get("active") == "on",
        "actions": _actions(form),
    }
    try:
        async with request.app.state.runtime.transaction() as tx:
            macro = await tx.session.get(Macro, macro_id)
            if macro is None or not macros.may_use(macro, user.id):
                raise HTTPException(404, "macro not found")
            if not _may_edit(macro, user):
                raise HTTPException(403, "supervisors change the shared macros")
            # Only supervisors share a macro or take one back; the page's form says it offers it.
            if user.has_role("supervisor") and "sharing" in form:
                changes["owner_id"] = None if form.get("shared") == "on" else user.id
            await macros.update_macro(tx, macro, changes)
    except TicketError as error:
        return await _page(
            request,
            user,
            error=str(error),
            editing=(macro_id, _typed(form)),
            status_code=422,
        )
    return RedirectResponse(f"/macros#macro-{macro_id}", status_code=303)


routes = [
    Route("/macros", macro_list, methods=["GET", "POST"]),
    Route("/macros/{macro_id:int}", macro_edit, methods=["POST"]),
]
