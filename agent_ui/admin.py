"""The admin part of the console: mail accounts and which queues confirm new tickets."""

from __future__ import annotations

from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from channels.email.accounts import account_json, create_account, update_account
from channels.email.models import MailAccount
from tickets import queries, queues
from tickets.models import Queue
from tresen import auth
from tresen.runtime import ActionError


async def _page(request: Request, *, error: str | None = None, form=None, status: int = 200):
    async with request.app.state.runtime.read() as session:
        accounts = list(await session.scalars(select(MailAccount).order_by(MailAccount.address)))
        queues = await queries.list_queues(session)
    names = {queue.id: queue.name for queue in queues}
    return templates.TemplateResponse(
        request,
        "admin_email.html",
        {
            "accounts": [
                {**account_json(account), "queue": names.get(account.queue_id)}
                for account in accounts
            ],
            "queues": queues,
            "error": error,
            "form": form or {},
            "saved": request.query_params.get("saved"),
        },
        status_code=status,
    )


def optional_int(raw, what: str = "id") -> int | None:
    """A form's whole number, None when left empty; anything else is a 400 naming it."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit():
        raise HTTPException(400, f"{what} {raw!r} is not a whole number")
    return int(raw)


async def email_settings(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _page(request)


async def add_email_account(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    values = {
        "address": str(form.get("address") or ""),
        "display_name": str(form.get("display_name") or ""),
        "imap_url": str(form.get("imap_url") or "").strip() or None,
        "smtp_url": str(form.get("smtp_url") or "").strip() or None,
        "queue_id": optional_int(form.get("queue_id")),
        "processed_folder": str(form.get("processed_folder") or "").strip() or None,
    }
    if not values["imap_url"] and not values["smtp_url"]:
        return await _page(
            request, error="Give an IMAP URL, an SMTP URL or both.", form=values, status=422
        )
    try:
        async with request.app.state.runtime.transaction() as tx:
            await create_account(tx, **values)
    except ActionError as error:
        # The URLs hold passwords: they are not sent back into the form.
        kept = {k: v for k, v in values.items() if k not in ("imap_url", "smtp_url")}
        return await _page(request, error=f"{error.field}: {error}", form=kept, status=422)
    return RedirectResponse("/admin/email?saved=account", status_code=303)


async def change_email_account(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    changes: dict = {}
    if "active" in form:
        changes["active"] = form.get("active") == "on"
    for name in ("imap_url", "smtp_url"):
        if str(form.get(name) or "").strip():  # empty: keep the stored URL (and password)
            changes[name] = str(form[name]).strip()
    if "queue_id" in form:
        changes["queue_id"] = optional_int(form.get("queue_id"))
    try:
        async with request.app.state.runtime.transaction() as tx:
            account = await tx.session.get(MailAccount, request.path_params["account_id"])
            if account is None:
                raise HTTPException(404, "mail account not found")
            await update_account(tx, account, changes)
    except ActionError as error:
        return await _page(request, error=f"{error.field}: {error}", status=422)
    return RedirectResponse("/admin/email?saved=account", status_code=303)


async def change_queue(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    async with request.app.state.runtime.transaction() as tx:
        queue = await tx.session.get(Queue, request.path_params["queue_id"])
        if queue is None:
            raise HTTPException(404, "queue not found")
        await queues.update_queue(tx, queue, {"acknowledge": form.get("acknowledge") == "on"})
    return RedirectResponse("/admin/email?saved=queue", status_code=303)


routes = [
    Route("/admin/email", email_settings, name="admin_email"),
    Route("/admin/email/accounts", add_email_account, methods=["POST"]),
    Route("/admin/email/accounts/{account_id:int}", change_email_account, methods=["POST"]),
    Route("/admin/queues/{queue_id:int}", change_queue, methods=["POST"]),
]
