"""The help centre's name, logo and colour: the "Help centre" section of /admin/settings."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from tresen import auth
from tresen.desk_settings import all_settings, put_setting
from tresen.help_brand import MAX_LOGO_BYTES, BrandError, check_color, check_logo_url, save_logo


async def help_settings(request: Request) -> Response:
    """Save the help centre's name, logo (an address, or an uploaded image) and colour; a
    refused value shows the settings page again with what was typed and why (422)."""
    user = await auth.require_staff(request, "admin")
    runtime = request.app.state.runtime
    form = await auth.verified_form(request, max_files=1)
    typed = {
        "help_name": str(form.get("help_name") or "").strip()[:200],
        "help_logo": str(form.get("help_logo") or "").strip(),
        "help_color": str(form.get("help_color") or "").strip(),
    }
    upload = form.get("help_logo_file")
    try:
        color = check_color(typed["help_color"])
        logo = check_logo_url(typed["help_logo"], runtime.settings.base_url)
        if isinstance(upload, UploadFile) and upload.filename:
            logo = save_logo(runtime.settings.data_dir, await upload.read(MAX_LOGO_BYTES + 1))
    except BrandError as error:
        async with runtime.read() as session:
            values = await all_settings(session)
        return templates.TemplateResponse(
            request,
            "admin_settings.html",
            {"values": {**values, **typed}, "help_error": str(error), "saved": False},
            status_code=422,
        )
    async with runtime.transaction() as tx:
        await put_setting(tx, "help_name", typed["help_name"], user.id)
        await put_setting(tx, "help_logo", logo, user.id)
        await put_setting(tx, "help_color", color, user.id)
    return RedirectResponse("/admin/settings?saved=1#help-centre", status_code=303)


routes = [Route("/admin/settings/help", help_settings, methods=["POST"])]
