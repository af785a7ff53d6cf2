"""The app factory: one Starlette app with the API, the console and the live socket."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from tresen import rooms
from tresen.api import build_routes as build_api_routes
from tresen.api import http_error_as_json, openapi_document
from tresen.auth import LoginRequired, LoginThrottle
from tresen.migrate import is_current
from tresen.runtime import Runtime
from tresen.settings import Settings

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


class SecurityHeaders:
    """Headers that make the pages harder to abuse (framing, sniffing, injected scripts)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                present = {name for name, _ in message["headers"]}
                message["headers"] += [h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _report_stopped_worker(task: asyncio.Task) -> None:
    """A background worker ended by an error (e.g. the SMTP port is taken): say so now."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background worker %s stopped", task.get_name(), exc_info=task.exception())


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime.create(settings or Settings.from_env())
    rooms.load_models()
    routers = rooms.api_routers()
    openapi = openapi_document(routers)

    async def healthz(request: Request) -> JSONResponse:
        try:
            async with runtime.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - reported, not raised
            return JSONResponse({"status": "error", "database": str(error)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

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
            Route("/api/v1/openapi.json", openapi_json),
            *build_api_routes(routers),
            *rooms.page_routes(),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=runtime.settings.secret_key,
                session_cookie="tresen_session",
                same_site="lax",
                https_only=runtime.settings.secure_cookies,
                max_age=14 * 24 * 3600,
            ),
        ],
        exception_handlers={LoginRequired: login_redirect, HTTPException: http_error_as_json},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.login_throttle = LoginThrottle()
    return app
