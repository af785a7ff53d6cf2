"""The admin pages' one way with a form: render the page, save in one transaction, or show
it again with what was typed and the reason (422)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agent_ui.templating import templates
from tresen import auth
from tresen.runtime import ActionError, Transaction

# What a page shows again after a refused form: (what was typed, the reason).
Again = Callable[[dict, str], Awaitable[Response]]
# Saves the form in the transaction; the address to go to afterwards.
Save = Callable[[Transaction, object], Awaitable[str]]


def error_text(error: ActionError) -> str:
    return f"{error.field}: {error}"


def posted(form, lists: Iterable[str] = ()) -> dict:
    """The form as typed, to show it again after an error (`lists`: its multi-valued
    fields, kept as lists; the CSRF token is left out, the page brings its own)."""
    values = {key: str(form.get(key) or "") for key in form.keys() if key != auth.CSRF_FIELD}
    for key in lists:
        values[key] = [str(value) for value in form.getlist(key)]
    return values


def render(request: Request, template: str, context: dict, status_code: int = 200) -> Response:
    """An admin page, with the "Saved." its last form's redirect asked for."""
    return templates.TemplateResponse(
        request,
        template,
        {**context, "saved": request.query_params.get("saved")},
        status_code=status_code,
    )


async def submit(request: Request, save: Save, again: Again, lists: Iterable[str] = ()) -> Response:
    """An administrator's form: CSRF checked, `save` in one transaction and then 303 to the
    address it gives; refused (an ActionError) → `again` with what was typed and why."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            target = await save(tx, form)
    except ActionError as error:
        return await again(posted(form, lists), error_text(error))
    return RedirectResponse(target, status_code=303)
