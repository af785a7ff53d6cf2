"""The email channel's settings page in the console: mail accounts, and which queues confirm
new tickets by mail. The console draws it (`render`); the channel owns what it shows."""

from __future__ import annotations

from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels.email.accounts import account_json, create_account, update_account
from channels.email.models import MailAccount
from channels.email.queries import accounts_by_address
from tresen import auth
from tresen.forms import optional_int
from tresen.runtime import ActionError

# Queues belong to the tickets room, which channels do not import: read as plain rows.
_QUEUES = text("SELECT id, name, acknowledge FROM queues ORDER BY name")


def admin_routes(render) -> list[Route]:
    """The page's routes, drawn by the console's `render`."""

    async def page(request: Request, *, error: str | None = None, form=None, status: int = 200):
        runtime = request.app.state.runtime
        async with runtime.read() as session:
            accounts = await accounts_by_address(session)
            queues = (await session.execute(_QUEUES)).all()
        names = {queue.id: queue.name for queue in queues}
        return render(
            request,
            "admin_email.html",
            {
                "accounts": [
                    {
                        **account_json(account, runtime.settings),
                        "queue": names.get(account.queue_id),
                    }
                    for account in accounts
                ],
                "queues": queues,
                "error": error,
                "form": form or {},
                "saved": request.query_params.get("saved"),
            },
            status_code=status,
        )

    async def email_settings(request: Request) -> Response:
        await auth.require_staff(request, role="admin")
        return await page(request)

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
            return await page(
                request, error="Give an IMAP URL, an SMTP URL or both.", form=values, status=422
            )
        try:
            async with request.app.state.runtime.transaction() as tx:
                await create_account(tx, **values)
        except ActionError as error:
            # The URLs hold passwords: they are not sent back into the form.
            kept = {k: v for k, v in values.items() if k not in ("imap_url", "smtp_url")}
            return await page(request, error=f"{error.field}: {error}", form=kept, status=422)
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
            return await page(request, error=f"{error.field}: {error}", status=422)
        return RedirectResponse("/admin/email?saved=account", status_code=303)

    return [
        Route("/admin/email", email_settings, name="admin_email"),
        Route("/admin/email/accounts", add_email_account, methods=["POST"]),
        Route("/admin/email/accounts/{account_id:int}", change_email_account, methods=["POST"]),
    ]
