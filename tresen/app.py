"""The app factory: one Starlette app with the API, the console and the live socket."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tresen import database, i18n, rooms
from tresen.api import PREFIX, http_error_as_json, openapi_document
from tresen.api import build_routes as build_api_routes
from tresen.auth import LoginRequired, LoginThrottle
from tresen.i18n import _
from tresen.limits import RequestLimits
from tresen.migrate import is_current
from tresen.runtime import Runtime
from tresen.settings import Settings
from tresen.text import StripNul

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
]


HSTS = (b"strict-transport-security", b"max-age=31536000")
# The collector's young generation (see the lifespan).
YOUNG_GENERATION = 20_000


class SecurityHeaders:
    """Headers that make the pages harder to abuse (framing, sniffing, injected scripts).

    With an https base URL browsers are also told to use nothing but https (HSTS); on
    plain http that header would be ignored, or wrong behind a proxy that adds TLS later.
    """

    def __init__(self, app, https: bool = False) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + [HSTS] if https else SECURITY_HEADERS

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                present = {name for name, _ in message["headers"]}
                message["headers"] += [h for h in self.headers if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _report_stopped_worker(task: asyncio.Task) -> None:
    """A background worker ended by an error (e.g. the SMTP port is taken): say so now."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background worker %s stopped", task.get_name(), exc_info=task.exception())


# Errors that may say the database cannot serve now; `database.unavailable` tells which do.
DATABASE_ERRORS = (
    sqlite3.Error,
    SQLAlchemyError,
    asyncpg.PostgresError,
    database.DatabaseUnreachable,
)
# Seconds a client is asked to wait: a lock is usually released soon; a full disk needs a person.
RETRY_AFTER = {database.BUSY: 5}
RETRY_AFTER_OTHERWISE = 30


def unavailable_response(request: Request, reason: str) -> Response:
    """503 with Retry-After: JSON under the API, a short page elsewhere; no detail of the error."""
    headers = {"Retry-After": str(RETRY_AFTER.get(reason, RETRY_AFTER_OTHERWISE))}
    if request.url.path.startswith(PREFIX):
        return JSONResponse(
            {"error": "the database cannot take this now; try again later", "reason": reason},
            status_code=503,
            headers=headers,
        )
    if i18n.language() == i18n.DEFAULT_LANGUAGE:  # the request failed before it chose one
        i18n.activate(i18n.pick_language(None, request.headers.get("accept-language")))
    message = _("Tresen cannot save anything at the moment. Please try again in a minute.")
    return PlainTextResponse(message, status_code=503, headers=headers)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A locked, full or unreachable database: 503, the request may be repeated (nothing was
    stored). Any other database error stays what it is (a 500, logged)."""
    reason = database.unavailable(exc)
    if reason is None:
        raise exc
    log.warning(
        "database %s: %s %s answered 503: %s", reason, request.method, request.url.path, exc
    )
    return unavailable_response(request, reason)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """A browser gets a page with a way back; the API, htmx and scripts the short answer."""
    if rooms.wants_error_page(request):
        response = await rooms.error_page(request, exc.status_code, exc.detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    return http_error_as_json(request, exc)


async def server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error (500): logged by the server; a browser gets a page, never a trace."""
    if rooms.wants_error_page(request):
        return await rooms.error_page(request, 500)
    return PlainTextResponse("Internal Server Error", status_code=500)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime.create(settings or Settings.from_env())
    rooms.load_models()
    routers = rooms.api_routers()
    openapi = openapi_document(routers)

    async def healthz(request: Request) -> JSONResponse:
        """Alive and able to read the database (the error's detail goes to the log only)."""
        try:
            async with runtime.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            reason = database.unavailable(error) or "error"
            log.warning("health check: the database cannot be read (%s): %s", reason, error)
            return JSONResponse(
                {"status": "error", "database": reason},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER.get(reason, RETRY_AFTER_OTHERWISE))},
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        """Ready for traffic: the database can be written now (see Runtime.writable)."""
        reason = await runtime.writable()
        if reason is not None:
            return JSONResponse(
                {"status": "not ready", "reason": reason},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_OTHERWISE)},
            )
        return JSONResponse({"status": "ready"})

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(openapi)

    @asynccontextmanager
    async def lifespan(app):
        if not await is_current(runtime.engine):
            raise RuntimeError("the database schema is not current: run `tresen migrate` first")
        await runtime.start()
        # What start-up loaded (modules, templates, the ORM's mappers) lives as long as the
        # process: kept out of the collector's sight, full collections stay short.
        gc.collect()
        gc.freeze()
        # A young generation of 20,000 (not 700): a request's objects mostly die before it is
        # collected, so few are promoted and full collections (100-300 ms with a thousand
        # open sockets, every socket waiting) become rare; a young collection stays ~5-10 ms.
        # bench/chat.py --costs 150: 7 full collections (~1 s) → none after start-up.
        gc.set_threshold(YOUNG_GENERATION, 20, 10)
        tasks = []
        if runtime.settings.background:
            tasks = [
                asyncio.create_task(run(runtime), name=f"tresen-{run.__module__}")
                for run in rooms.workers()
            ]
            for task in tasks:
                task.add_done_callback(_report_stopped_worker)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.close()

    async def login_redirect(request: Request, exc: LoginRequired):
        return RedirectResponse(exc.login_url(), status_code=303)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/v1/openapi.json", openapi_json),
            *build_api_routes(routers),
            *rooms.page_routes(),
        ],
        middleware=[
            Middleware(SecurityHeaders, https=runtime.settings.https),
            Middleware(RequestLimits, settings=runtime.settings, routers=routers),
            Middleware(StripNul),
            Middleware(
                SessionMiddleware,
                secret_key=runtime.settings.secret_key,
                session_cookie="tresen_session",
                same_site="lax",
                https_only=runtime.settings.cookies_secure,
                max_age=14 * 24 * 3600,
            ),
        ],
        exception_handlers={
            LoginRequired: login_redirect,
            HTTPException: http_error,
            500: server_error,
            **dict.fromkeys(DATABASE_ERRORS, database_unavailable),
        },
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.login_throttle = LoginThrottle()
    return app
