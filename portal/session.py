"""Who is signed in to the portal: a customer's session, apart from the staff's.

The session is a signed cookie of its own (`tresen_portal`: the customer record's id and
its portal account's session key), so signing in or out of the console never touches it
and a staff session never opens the portal. Forms still carry the CSRF token of the
general session (`tresen.auth.csrf_token`, `verified_form`). Ending a customer's sessions
draws a new key for their portal account, which ends every copy of the cookie; a record
without an account (an erased one whose id came back) opens for no cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from customers.portal_access import session_customer
from tresen import i18n
from tresen.auth import LoginRequired

COOKIE = "tresen_portal"
LANGUAGE_COOKIE = "tresen_portal_language"
SESSION_SECONDS = 14 * 24 * 3600
SIGN_IN_PATH = "/portal/sign-in"
_UNKNOWN = object()


@dataclass(frozen=True)
class PortalViewer:
    """The signed-in customer, as the portal's pages need them."""

    customer_id: int
    name: str
    language: str | None
    organization_id: int | None
    org_role: str | None  # "member" | "manager" | None (no organization)


class PortalSignInRequired(LoginRequired):
    """Raised by portal pages when nobody is signed in: the app redirects (303) to the
    portal's sign-in page, which comes back to `next_url` afterwards."""

    def login_url(self) -> str:
        return SIGN_IN_PATH + "?next=" + quote(self.next_url, safe="/")


def _serializer(connection: HTTPConnection) -> URLSafeTimedSerializer:
    secret = connection.app.state.runtime.settings.secret_key
    return URLSafeTimedSerializer(secret, salt="tresen.portal.session")


def chosen_language(connection: HTTPConnection, viewer: PortalViewer | None = None) -> str:
    """The customer's saved language, else the one picked on the page, else the browser's."""
    wanted = viewer.language if viewer is not None else None
    if wanted not in i18n.LANGUAGES:
        wanted = connection.cookies.get(LANGUAGE_COOKIE)
    return i18n.pick_language(wanted, connection.headers.get("accept-language"))


async def portal_viewer(connection: HTTPConnection) -> PortalViewer | None:
    """The customer signed in to the portal on this request or websocket, or None; sets the
    language of the answer (the customer's, the page's choice or the browser's)."""
    cached = getattr(connection.state, "portal_viewer", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    viewer = None
    raw = connection.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(connection).loads(raw, max_age=SESSION_SECONDS)
        except BadData:  # a wrong signature, an expired one, a payload not ours
            data = None
        if isinstance(data, dict) and type(data.get("c")) is int and type(data.get("k")) is str:
            async with connection.app.state.runtime.read() as session:
                customer = await session_customer(session, data["c"], data["k"])
                if customer is not None:
                    viewer = PortalViewer(
                        customer_id=customer.id,
                        name=customer.name,
                        language=customer.language,
                        organization_id=customer.organization_id,
                        org_role=(getattr(customer, "org_role", None) or "member")
                        if customer.organization_id is not None
                        else None,
                    )
    connection.state.portal_viewer = viewer
    i18n.activate(chosen_language(connection, viewer))
    return viewer


async def require_viewer(request: Request) -> PortalViewer:
    """The signed-in customer; otherwise PortalSignInRequired (a redirect to the sign-in
    page that comes back here)."""
    viewer = await portal_viewer(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PortalSignInRequired(target)
    return viewer


def remember_language(request: Request, response: Response, language: str) -> None:
    """The language the visitor chose, kept for the portal and the help centre."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=SESSION_SECONDS * 26,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.runtime.settings.cookies_secure,
    )


def start_session(request: Request, response: Response, customer_id: int, session_key: str) -> None:
    """Sign the customer in on this browser: the response carries the session cookie
    (`session_key`: their portal account's, from `SignedIn` or `end_sessions`)."""
    settings = request.app.state.runtime.settings
    value = _serializer(request).dumps({"c": customer_id, "k": session_key})
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        secure=settings.cookies_secure,
        samesite="lax",
    )
    request.state.portal_viewer = _UNKNOWN  # read again when asked


def end_session(request: Request, response: Response) -> None:
    """This browser is signed out (the cookie goes; `end_sessions` ends the others)."""
    settings = request.app.state.runtime.settings
    response.delete_cookie(
        COOKIE, path="/", httponly=True, secure=settings.cookies_secure, samesite="lax"
    )
    request.state.portal_viewer = None
