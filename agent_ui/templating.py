"""Jinja2 templates for the console, with the signed-in user and CSRF token in reach."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from tresen.auth import CSRF_FIELD, csrf_token

HERE = Path(__file__).parent


def _context(request: Request) -> dict:
    return {
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "csrf_field": CSRF_FIELD,
        "current_user": getattr(request.state, "user", None),
    }


templates = Jinja2Templates(directory=HERE / "templates", context_processors=[_context])
templates.env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def render_fragment(name: str, **context) -> str:
    """A template rendered outside a request (live updates over the websocket)."""
    return templates.env.get_template(name).render(**context)
