"""Console sign-in: signed session cookies, CSRF tokens on every form, role checks."""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import time
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request

from tresen import i18n
from tresen.accounts import get_user
from tresen.models import User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNKNOWN = object()


class LoginRequired(Exception):
    """Raised by page handlers; the app answers with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    def login_url(self) -> str:
        return "/login?next=" + quote(self.next_url, safe="/")


def _fingerprint(user: User) -> str:
    """Changes when the password changes, which ends every other session."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def login(request: Request, user: User) -> None:
    request.session.clear()
    request.session.update(
        {"uid": user.id, "fp": _fingerprint(user), "csrf": secrets.token_urlsafe(32)}
    )


def logout(request: Request) -> None:
    request.session.clear()


async def session_user(connection: HTTPConnection) -> User | None:
    """The signed-in staff user of this request or websocket, or None."""
    cached = getattr(connection.state, "user", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    user = None
    uid = connection.session.get("uid")
    if isinstance(uid, int):
        user = await get_user(connection.app.state.runtime, uid)
        if user is not None and not hmac.compare_digest(
            connection.session.get("fp", ""), _fingerprint(user)
        ):
            user = None
    connection.state.user = user
    if user is not None:
        i18n.activate(user.locale, user.timezone)
    return user


async def require_staff(request: Request, role: str = "agent") -> User:
    """The signed-in user with at least this role; otherwise login redirect or 403."""
    user = await session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if not user.has_role(role):
        raise HTTPException(403, f"this page needs the {role} role")
    return user


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verified_form(request: Request) -> FormData:
    """The submitted form, after checking its CSRF token (field or X-CSRF-Token header)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf") or ""
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    return form


def same_origin(connection: HTTPConnection) -> bool:
    """Browsers send Origin on websockets; refuse other sites (cross-site websocket hijacking)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = connection.headers.get("host", "")
    return urlsplit(origin).netloc == host


def safe_next(url: str | None) -> str:
    """Only local paths after login, never another site."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


class LoginThrottle:
    """Failed sign-ins per account and per client address; too many within the window block.

    Kept in the process: with several workers each counts its own, which still
    caps guessing at a few dozen tries per quarter hour.
    """

    def __init__(self, per_account: int = 10, per_address: int = 50, window: float = 900):
        self.limits = {"account": per_account, "address": per_address}
        self.window = window
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> collections.deque[float]:
        failures = self._failures.setdefault(key, collections.deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def wait_seconds(self, account: str, address: str) -> int:
        """0 when a sign-in may be tried now, else the seconds until it may."""
        now = time.monotonic()
        wait = 0.0
        for kind, value in (("account", account), ("address", address)):
            failures = self._recent((kind, value), now)
            if len(failures) >= self.limits[kind]:
                wait = max(wait, failures[0] + self.window - now)
        return int(wait) + 1 if wait else 0

    def failed(self, account: str, address: str) -> None:
        now = time.monotonic()
        for key in (("account", account), ("address", address)):
            self._recent(key, now).append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account), None)
