"""The portal's templates: the layout (`portal/base.html`), the CSRF token, gettext, the
signed-in customer and the company's name, logo and colour (the help centre's: Desk
settings) in every page's reach."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from portal.session import portal_viewer
from tresen import i18n
from tresen.auth import CSRF_FIELD, csrf_token
from tresen.help_brand import cached_brand, default_brand

HERE = Path(__file__).parent


def _context(request: Request) -> dict:
    # The help centre's name, logo and colour (one site for customers), set by the page.
    shown = getattr(request.state, "portal_brand", None) or default_brand(
        request.app.state.runtime.settings
    )
    return {
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "viewer": getattr(request.state, "portal_viewer", None),
        "ui_language": i18n.language(),
        "languages": i18n.LANGUAGES,
        "company_name": shown.name,
        "company_logo_url": shown.logo,
        "brand": shown,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    ),
    context_processors=[_context],
)
templates.env.install_gettext_callables(i18n.translate, i18n.translate_plural, newstyle=True)
templates.env.filters["when"] = i18n.when


async def render(
    request: Request,
    name: str,
    context: dict | None = None,
    *,
    status_code: int = 200,
    headers: dict | None = None,
) -> Response:
    """A portal page (`portal/<name>` extending `portal/base.html`), in the customer's
    language, with their name and menu when signed in."""
    await portal_viewer(request)  # once per request: the menu and the language
    request.state.portal_brand = await cached_brand(request.app.state.runtime)
    return templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=headers
    )
