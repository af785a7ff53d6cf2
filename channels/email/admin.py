"""The email channel's settings page in the console: mail accounts, and which queues confirm
new tickets by mail. The console draws it (`render`); the channel owns what it shows."""

from __future__ import annotations

from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels.email import accounts
from channels.email.accounts import account_json, create_account, update_account
from channels.email.models import MailAccount
from channels.email.probe import probe_imap, probe_smtp
from channels.email.queries import accounts_by_address
from tresen import auth, secrets
from tresen.forms import optional_int
from tresen.ids import parse_whole_number
from tresen.runtime import ActionError

# Queues belong to the tickets room, which channels do not import: read as plain rows.
_QUEUES = text("SELECT id, name, acknowledge FROM queues ORDER BY name")


def admin_routes(render) -> list[Route]:
    """The page's routes, drawn by the console's `render`."""

    async def page(
        request: Request,
        *,
        error: str | None = None,
        form=None,
        status: int = 200,
        editing: dict | None = None,
        probe: dict | None = None,
    ):
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
                # The account whose change was refused, with what was typed (no URLs).
                "editing": editing or {},
                "probe": probe,
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
        for name in ("display_name", "processed_folder"):
            if name in form:
                changes[name] = str(form.get(name) or "").strip()
        account_id = request.path_params["account_id"]
        try:
            if "queue_id" in form:
                changes["queue_id"] = _queue_id(form.get("queue_id"))
            async with request.app.state.runtime.transaction() as tx:
                account = await tx.session.get(MailAccount, account_id)
                if account is None:
                    raise HTTPException(404, "mail account not found")
                await update_account(tx, account, changes)
        except ActionError as error:
            # The URLs hold passwords: they are not sent back into the form.
            kept = {
                name: str(form.get(name) or "")
                for name in ("display_name", "processed_folder", "queue_id")
                if name in form
            }
            editing = {"id": account_id, **kept}
            return await page(request, error=f"{error.field}: {error}", editing=editing, status=422)
        return RedirectResponse(f"/admin/email?saved=account#account-{account_id}", status_code=303)

    async def test_email_account(request: Request) -> Response:
        """Sign in to the account's IMAP or SMTP server and show what it answered."""
        await auth.require_staff(request, role="admin")
        form = await auth.verified_form(request)
        which = str(form.get("which") or "")
        if which not in ("imap", "smtp"):
            raise HTTPException(400, f"{which[:20]!r} is not imap or smtp")
        runtime = request.app.state.runtime
        async with runtime.read() as session:
            account = await session.get(MailAccount, request.path_params["account_id"])
            if account is None:
                raise HTTPException(404, "mail account not found")
            try:
                opened = (accounts.imap_url if which == "imap" else accounts.smtp_url)(
                    runtime.settings, account
                )
            except secrets.SecretUnreadable as error:
                opened, unreadable = None, str(error)
            else:
                unreadable = None
        if opened is None:
            result = {"ok": False, "steps": [unreadable or f"no {which.upper()} server is set"]}
        else:
            found = await (probe_imap if which == "imap" else probe_smtp)(opened)
            result = {"ok": found.ok, "steps": list(found.steps)}
        result.update(account_id=account.id, which=which)
        return await page(request, probe=result)

    return [
        Route("/admin/email", email_settings, name="admin_email"),
        Route("/admin/email/accounts", add_email_account, methods=["POST"]),
        Route("/admin/email/accounts/{account_id:int}", change_email_account, methods=["POST"]),
        Route("/admin/email/accounts/{account_id:int}/test", test_email_account, methods=["POST"]),
    ]


def _queue_id(raw) -> int | None:
    """The queue chosen in a form, None for none; a value the form cannot send is named."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    number = parse_whole_number(raw)
    if number is None:
        raise ActionError("queue_id", f"queue {raw[:40]!r} is not a whole number")
    return number
