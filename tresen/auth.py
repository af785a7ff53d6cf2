"""Console sign-in: signed session cookies, CSRF tokens on every form, role checks."""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from sqlalchemy import select, update
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request

from tresen import i18n
from tresen.accounts import get_user, sign_out_everywhere
from tresen.desk_settings import cached_setting, get_setting
from tresen.models import User
from tresen.text import without_nul

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


# Where staff set up two-factor sign-in (agent_ui/account.py).
TWO_FACTOR_SETUP = "/account/two-factor"
# What a user who must set up two-factor sign-in may still open: the set-up page, and the
# presence switch every page's header fetches (the sign-out form reads no page).
_BEFORE_TWO_FACTOR = {("GET", TWO_FACTOR_SETUP), ("POST", TWO_FACTOR_SETUP), ("GET", "/presence")}


# Why an API token (or a live socket) of such a user is refused until they set it up.
TWO_FACTOR_REQUIRED = "two-factor sign-in required"


class TwoFactorSetupRequired(LoginRequired):
    """The desk requires two-factor sign-in and this user has not set it up yet."""

    def login_url(self) -> str:
        return TWO_FACTOR_SETUP


def login(request: Request, user: User) -> None:
    request.session.clear()
    request.session.update(
        {"uid": user.id, "gen": user.session_generation, "csrf": secrets.token_urlsafe(32)}
    )


async def signed_in(request: Request, user: User) -> None:
    """`login`, and the time noted on the user (the people page's "last sign-in")."""
    login(request, user)
    runtime = request.app.state.runtime
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.id == user.id).values(last_sign_in_at=tx.now())
        )


async def logout(request: Request) -> None:
    """End the session, for good: a copy of its cookie kept elsewhere stops working too.

    Sessions are signed cookies, not stored rows, so the only way to end one for good is
    to raise the user's session generation, which ends their other sessions as well.
    """
    user = await session_user(request)
    request.session.clear()
    if user is not None:
        await sign_out_everywhere(request.app.state.runtime, user.email)


async def session_user(connection: HTTPConnection) -> User | None:
    """The signed-in staff user of this request or websocket, or None."""
    cached = getattr(connection.state, "user", _UNKNOWN)
    if cached is not _UNKNOWN:
        return cached
    user = None
    uid = connection.session.get("uid")
    if isinstance(uid, int):
        user = await get_user(connection.app.state.runtime, uid)
        # A session from before the last sign-out, deactivation or password change.
        if user is not None and connection.session.get("gen") != user.session_generation:
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
    if (request.method, request.url.path) not in _BEFORE_TWO_FACTOR and (
        await two_factor_missing(request.app.state.runtime, user)
    ):
        raise TwoFactorSetupRequired(TWO_FACTOR_SETUP)
    return user


async def two_factor_missing(runtime, user: User) -> bool:
    """Whether the desk requires two-factor sign-in and this user has not set it up: then
    only the set-up page is theirs (no other page, live socket or API token)."""
    if user.totp_enabled_at is not None:
        return False
    return bool(await cached_setting(runtime, "require_two_factor"))


async def refuse_live_without_two_factor(tx) -> None:
    """When the desk requires two-factor sign-in, the open live sockets of active users
    without it close now (their pages reload into the set-up), not when they next connect."""
    if not await get_setting(tx.session, "require_two_factor"):
        return
    missing = select(User.id).where(User.active.is_(True), User.totp_enabled_at.is_(None))
    for user_id in await tx.session.scalars(missing):
        tx.emit("user.sockets_refused", user_id=user_id)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verified_form(request: Request, *, max_files: int = 0) -> FormData:
    """The submitted form, after checking its CSRF token (field or X-CSRF-Token header)."""
    form = await request.form(max_files=max_files)  # file parts only where a page takes files
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf") or ""
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    return without_nul(form)


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


def _key(kind: str, *values: str) -> bytes:
    """A fixed-size key, whatever was sent as the email (up to a megabyte of it)."""
    text = "\0".join([kind, *(value[:320] for value in values)])
    return hashlib.sha256(text.encode("utf-8", "replace")).digest()


@dataclass(frozen=True)
class ThrottleLimits:
    # Failed sign-ins within the window that block one account from one client address.
    per_pair: int = 10
    # ... that block a client address for every account.
    per_address: int = 50
    window: float = 900
    # Failures of one account from everywhere after which each sign-in to it is slowed
    # (not refused: nobody can lock an account, an administrator's included, from afar).
    account_delay_after: int = 10
    # The slowdown doubles with each further failure up to this many seconds.
    account_delay_max: float = 4.0
    # Keys remembered at most; the oldest are forgotten first.
    max_keys: int = 10_000


class LoginThrottle:
    """Failed sign-ins per (account, client address), per address and per account.

    A pair or an address with too many failures within the window is refused until they
    age out; an account hammered from many addresses only gets slower to try. Keys are
    hashes (32 bytes however long the email sent), at most `max_keys` of them, forgotten
    when their failures are older than the window or when newer keys need the room; a
    sign-in that is only checked never adds one. Kept in the process: with several workers
    each counts its own, which still caps guessing at a few dozen tries per quarter hour.
    """

    def __init__(
        self, limits: ThrottleLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or ThrottleLimits()
        self.clock = clock
        self._sizes = {
            "pair": self.limits.per_pair,
            "address": self.limits.per_address,
            # Enough failures to reach the longest delay.
            "account": self.limits.account_delay_after + 8,
        }
        # Least recently failed first, so the oldest keys are forgotten first. Tuples, not
        # deques: a deque takes half a kilobyte even for one failure.
        self._failures: collections.OrderedDict[bytes, tuple[float, ...]] = (
            collections.OrderedDict()
        )
        # When a slowed account may next be tried: its tries take turns, so guesses sent at
        # once still pass one delay apart (bounded like the failures).
        self._turns: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _keys(self, account: str, address: str) -> dict[str, bytes]:
        return {
            "pair": _key("pair", account, address),
            "address": _key("address", address),
            "account": _key("account", account),
        }

    def _recent(self, key: bytes, now: float) -> list[float]:
        """The failures of a key within the window; reading never adds a key."""
        failures = self._failures.get(key, ())
        return [at for at in failures if at > now - self.limits.window]

    def wait_seconds(self, account: str, address: str) -> int:
        """0 when this address may try this account now, else the seconds until it may."""
        now = self.clock()
        keys = self._keys(account, address)
        wait = 0.0
        for kind in ("pair", "address"):
            failures = self._recent(keys[kind], now)
            if len(failures) >= self._sizes[kind]:
                wait = max(wait, failures[-self._sizes[kind]] + self.limits.window - now)
        return int(wait) + 1 if wait else 0

    def account_delay(self, account: str) -> float:
        """Seconds to hold a sign-in to this account before checking its password."""
        failures = len(self._recent(_key("account", account), self.clock()))
        beyond = failures - self.limits.account_delay_after
        if beyond < 0:
            return 0.0
        return min(self.limits.account_delay_max, 0.25 * 2**beyond)

    def account_turn(self, account: str) -> float:
        """Seconds this sign-in waits for its turn: each try of a slowed account comes one
        `account_delay` after the one before, however many arrive at once."""
        delay = self.account_delay(account)
        if not delay:
            return 0.0
        now = self.clock()
        key = _key("account", account)
        turn = max(now, self._turns.pop(key, now)) + delay
        self._turns[key] = turn
        while self._turns and (
            next(iter(self._turns.values())) <= now or len(self._turns) > self.limits.max_keys
        ):
            self._turns.popitem(last=False)
        return turn - now

    def attempt(self, account: str, address: str) -> None:
        """Count a sign-in as failed before its password is checked, so guesses sent at
        once are counted before they are checked; `succeeded` takes it back."""
        self.failed(account, address)

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for kind, key in self._keys(account, address).items():
            # Popped and put back: the key moves to the end, the most recently failed.
            self._failures[key] = (*self._failures.pop(key, ()), now)[-self._sizes[kind] :]
        self._forget(now)

    def succeeded(self, account: str, address: str) -> None:
        """The password was right: the pair and the account start afresh, and the address
        loses the attempt counted for it (an office signing in all day is never blocked)."""
        keys = self._keys(account, address)
        self._failures.pop(keys["pair"], None)
        self._failures.pop(keys["account"], None)
        self._turns.pop(keys["account"], None)
        failures = self._failures.get(keys["address"])
        if failures:
            self._failures[keys["address"]] = failures[:-1]

    def _forget(self, now: float) -> None:
        """Drop keys whose last failure is older than the window, then the oldest over size."""
        while self._failures:
            key, failures = next(iter(self._failures.items()))
            if failures[-1] > now - self.limits.window and len(self._failures) <= (
                self.limits.max_keys
            ):
                break
            del self._failures[key]
