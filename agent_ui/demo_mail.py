"""The demo's mail page: what Tresen sent while the demo runs (tresen/demo_mail.py keeps it)."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_ui.templating import templates
from tresen import auth
from tresen.demo_mail import MailSink

# Links in a mail's text (a portal sign-in link, a ticket's address): followed with a click.
_URL = re.compile(r"(https?://[^\s<>\"']+)")


async def _sink(request: Request) -> MailSink:
    """Staff only; and only while `tresen demo` runs (it sets the app's sink)."""
    await auth.require_staff(request)
    sink = getattr(request.app.state, "demo_mail", None)
    if sink is None:
        raise HTTPException(404, "the demo mail page exists only while `tresen demo` runs")
    return sink


async def mail_list(request: Request) -> Response:
    sink = await _sink(request)
    return templates.TemplateResponse(
        request, "demo_mail.html", {"mails": sink.summaries(), "smtp_url": sink.smtp_url}
    )


async def mail_page(request: Request) -> Response:
    sink = await _sink(request)
    mail = sink.read(request.path_params["number"])
    if mail is None:
        raise HTTPException(404, "no such mail")
    # Text and links by turns: the odd parts are http(s) URLs, shown as links.
    parts = _URL.split(mail.text)
    return templates.TemplateResponse(
        request, "demo_mail_message.html", {"mail": mail, "parts": parts}
    )


async def mail_source(request: Request) -> Response:
    sink = await _sink(request)
    mail = sink.read(request.path_params["number"])
    if mail is None:
        raise HTTPException(404, "no such mail")
    return Response(mail.source, media_type="text/plain; charset=utf-8")


routes = [
    Route("/demo/mail", mail_list),
    Route("/demo/mail/{number:int}", mail_page),
    Route("/demo/mail/{number:int}/source", mail_source),
]
