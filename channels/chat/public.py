"""The chat's public doors: the widget script, its configuration, files both ways.

Only pages of the channel's allowed origins get an answer they can read (CORS names the
origin, never `*`); the socket itself refuses other origins (channels/chat/socket.py).
"""

from __future__ import annotations

import base64
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from channels.chat import availability as who_answers
from channels.chat import sessions, socket, tokens
from channels.chat.models import ChatSession
from channels.chat.protocol import MAX_TEXT
from tresen import rooms
from tresen.addresses import client_address
from tresen.database import unavailable
from tresen.downloads import file_response
from tresen.i18n import translate, using
from tresen.ids import parse_id
from tresen.inbound import InboundAttachment

WIDGET = Path(__file__).parent / "static" / "widget.js"
MAX_FILE_BYTES = 10 * 1024 * 1024
# What a visitor may send, told by the file's first bytes (not by its name or the browser).
FILE_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}


def _cors(origin: str | None) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin or "", "Vary": "Origin"}


def _error(status: int, message: str, origin: str | None = None) -> JSONResponse:
    headers = _cors(origin) if origin else {"Vary": "Origin"}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def page_origin(request: Request) -> str | None:
    """The origin of the page asking. Browsers leave `Origin` off a GET from the desk's own
    pages (the help centre) and say `Sec-Fetch-Site: same-origin` instead."""
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
        origin = f"{request.url.scheme}://{request.url.netloc}"
    return origin


async def _channel(request: Request):
    """The channel and the page's origin, or the refusal to answer."""
    runtime = request.app.state.runtime
    channel = await sessions.channel_info(runtime, request.path_params["key"])
    if channel is None:
        return None, None, _error(404, "no active chat channel has this key")
    origin = page_origin(request)
    if not channel.allows(origin):
        return None, None, _error(403, f"the chat is not offered on {origin or 'this page'}")
    return channel, origin, None


async def widget_script(request: Request) -> Response:
    return FileResponse(
        WIDGET,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def _language(request: Request) -> str:
    asked = request.query_params.get("lang", "")[:2].lower()
    return asked if asked in ("en", "de") else "en"


async def config(request: Request) -> Response:
    channel, origin, refused = await _channel(request)
    if refused is not None:
        return refused
    runtime = request.app.state.runtime
    language = _language(request)
    greeting = channel.greeting.get(language) or channel.greeting.get("en") or ""
    available = await who_answers.availability(runtime, channel.queue_id)
    with using(language):
        # The widget's header in the page's language: a name the desk's own words hold
        # (the demo's "Help centre") is translated; any other is a name, shown as it is.
        name = translate(channel.name) if channel.name else ""
    body = {
        "name": name,
        "language": language,
        "colors": {"primary": "#0b5cad", "text": "#ffffff", **channel.colors},
        "greeting": greeting,
        "avatar_url": channel.avatar_url,
        "prechat": {"name": channel.prechat_mode("name"), "email": channel.prechat_mode("email")},
        **available,
        # The bot when it is on now: the widget greets with it, and offers no "leave a
        # message" for lack of agents (the bot answers).
        "bot": await who_answers.bot(runtime, channel.queue_id, language),
        "max_file_bytes": MAX_FILE_BYTES,
        "max_text": MAX_TEXT,  # the socket's limit: the widget counts against it
        "file_types": list(FILE_TYPES),
    }
    return JSONResponse(body, headers={**_cors(origin), "Cache-Control": "no-store"})


def _file_type(content: bytes) -> str | None:
    for content_type, openings in FILE_TYPES.items():
        if any(content.startswith(opening) for opening in openings):
            if content_type == "image/webp" and content[8:12] != b"WEBP":
                continue
            return content_type
    return None


async def _visitor_session(runtime, channel, token) -> ChatSession | None:
    visitor = tokens.read_visitor_token(runtime.settings.secret_key, token, channel.id)
    if visitor is None:
        return None
    async with runtime.read() as session:
        return await sessions.visitor_session(session, channel.id, visitor.visitor_id)


async def upload(request: Request) -> Response:
    """A visitor's file: a message of the conversation with the file attached."""
    channel, origin, refused = await _channel(request)
    if refused is not None:
        return refused
    runtime = request.app.state.runtime
    async with request.form(max_files=1, max_fields=5) as form:
        token, client_id, upload = form.get("token"), form.get("client_id"), form.get("file")
        if not isinstance(upload, UploadFile):
            return _error(400, "the form has no file (field 'file')", origin)
        if not isinstance(client_id, str) or not socket.protocol.CLIENT_ID.match(client_id):
            return _error(400, "client_id must be 1 to 64 letters, digits, - or _", origin)
        row = await _visitor_session(runtime, channel, token)
        if row is None or row.status == "ended":
            return _error(403, "no open conversation for this visitor token", origin)
        limiter = socket.rate_limiter(runtime)
        if limiter.take("message", row.visitor_id) or limiter.take(
            "address", client_address(request.scope)
        ):
            return _error(429, "too many messages: try again in a minute", origin)
        content = await upload.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            return _error(413, f"a file may have at most {MAX_FILE_BYTES // 2**20} MB", origin)
        content_type = _file_type(content)
        if content_type is None:
            allowed = "PNG, JPEG, GIF, WebP images and PDF documents"
            return _error(415, f"only {allowed} can be sent", origin)
        filename = Path(upload.filename or "file").name[:200] or "file"
    visit = socket.Visit(
        channel=channel,
        visitor=tokens.Visitor(row.visitor_id, channel.id),
        identity=row.identity,
        language=row.language or "en",
        page=row.page_url,
        name=row.name,
        session_id=row.id,
        session_key=row.key,
    )
    external_id = f"{row.key}:{client_id}"
    attachment = InboundAttachment(
        filename=filename,
        content_type=content_type,
        content_base64=base64.b64encode(content).decode("ascii"),
    )
    try:
        stored, _ticket = await socket.stored_message(runtime, external_id)
        if stored is None:
            received = await rooms.deliver(
                runtime, socket.inbound_message(visit, external_id, "", [attachment])
            )
            stored = received.message_id
            if received.ticket_id and received.ticket_id != row.ticket_id:
                await sessions.update_session(runtime, row.id, ticket_id=received.ticket_id)
    except Exception as error:
        if unavailable(error):
            return _error(503, "the file could not be stored now: send it again", origin)
        raise
    return JSONResponse(
        {"id": stored, "client_id": client_id}, status_code=201, headers=_cors(origin)
    )


async def download(request: Request) -> Response:
    """A file of a visitor's conversation, by the signed link the conversation gave them."""
    runtime = request.app.state.runtime
    attachment_id = parse_id(request.path_params["attachment_id"])
    signed = tokens.read_file_signature(
        runtime.settings.secret_key, request.query_params.get("sig")
    )
    if signed is None or signed[0] != attachment_id:
        return _error(404, "no such file (the link is not valid)")
    async with runtime.read() as session:
        found = await sessions.conversation_file(session, attachment_id, signed[1])
    if found is None:
        return _error(404, "no such file in this conversation")
    return file_response(found.content, found.content_type, found.filename, public=False)


routes = [
    Route("/chat/widget.js", widget_script, methods=["GET"]),
    Route("/chat/{key}/config", config, methods=["GET"]),
    Route("/chat/{key}/files", upload, methods=["POST"]),
    Route("/chat/{key}/files/{attachment_id}", download, methods=["GET"]),
    *socket.routes,
]
