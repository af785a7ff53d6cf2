"""Jinja2 templates for the console, with the signed-in user and CSRF token in reach."""

from __future__ import annotations

import re
from pathlib import Path

from markupsafe import Markup
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

_CID = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.IGNORECASE)


def inline_images(message) -> Markup:
    """The message's (sanitized) HTML with cid: images pointing at its attachments."""
    by_cid = {a.content_id: a.id for a in message.attachments if a.content_id}

    def point(match: re.Match) -> str:
        attachment_id = by_cid.get(match.group(2))
        if attachment_id is None:
            return match.group(0)
        return f"{match.group(1)}/messages/{message.id}/attachments/{attachment_id}{match.group(3)}"

    return Markup(_CID.sub(point, message.html or ""))


def filesize(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


templates.env.filters["inline_images"] = inline_images


def duration(value) -> str:
    """Time left as "2 h 5 min left", or "overdue by 10 min"."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    late = seconds < 0
    minutes = abs(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    text = " ".join(parts)
    return f"overdue by {text}" if late else f"{text} left"


templates.env.filters["duration"] = duration
templates.env.filters["filesize"] = filesize


def render_fragment(name: str, **context) -> str:
    """A template rendered outside a request (live updates over the websocket)."""
    return templates.env.get_template(name).render(**context)
