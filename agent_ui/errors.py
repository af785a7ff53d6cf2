"""Error pages (403, 404, 500, ...) for browsers: the console's layout and a way back."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from agent_ui.templating import templates
from tresen import i18n
from tresen.auth import session_user
from tresen.i18n import _

log = logging.getLogger(__name__)

# What a person reads for each status; the exception's detail follows as the reason.
_TITLES = {
    400: lambda: _("This request cannot be answered"),
    403: lambda: _("You may not open this page"),
    404: lambda: _("Page not found"),
    405: lambda: _("This page cannot be used that way"),
    413: lambda: _("That is too large"),
    422: lambda: _("This cannot be saved as it is"),
    429: lambda: _("Too many requests"),
    500: lambda: _("Something went wrong"),
}
_EXPLANATIONS = {
    403: lambda: _("Your role does not allow this page. An administrator can change your role."),
    404: lambda: _("The address may be mistyped, or what it showed was moved or deleted."),
    500: lambda: _(
        "The error was recorded. Please try again in a minute; if it keeps happening, "
        "tell your administrator."
    ),
}
# Shown when even the error page cannot be rendered: no template, no database, no session.
_BARE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error {status} · Tresen</title><link rel="stylesheet" href="/static/console.css"></head>
<body><main id="main"><section class="error-page"><p class="error-code">{status}</p>
<h1>Something went wrong</h1><p><a href="/">Back to the start page</a></p></section></main>
</body></html>"""


def _phrase(status: int) -> str | None:
    """Starlette's detail when a handler gave none ("Not Found"): nothing to add then."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def wants_page(request: Request) -> bool:
    """A browser opening a page (not htmx swapping a piece, not a script or the API)."""
    if request.headers.get("hx-request") or request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    """The styled page for this status; staff signed in see it with the console's menu."""
    try:
        user = None
        # A 500 reaches us outside the session middleware: no session, a plain page then.
        if "session" in request.scope and status != 500:
            user = await session_user(request)
        else:
            request.state.user = None  # what failed may be the user's own record
        if user is None:
            i18n.activate(i18n.pick_language(None, request.headers.get("accept-language")))
        title = _TITLES.get(status, _TITLES[400] if status < 500 else _TITLES[500])()
        explanation = _EXPLANATIONS.get(status)
        public = request.url.path.startswith(("/help", "/portal"))
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": status,
                "title": title,
                "explanation": explanation() if explanation else "",
                # A 500's detail could say what failed inside: never shown.
                "detail": detail if status < 500 and detail != _phrase(status) else "",
                "public": public,
            },
            status_code=status,
        )
    except Exception:  # noqa: BLE001 - an error page must not fail in turn
        log.exception("the error page for %s could not be rendered", status)
        return HTMLResponse(_BARE.format(status=int(status)), status_code=status)
