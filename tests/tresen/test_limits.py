"""Request limits at the door: bodies refused by their declared length before a byte is read,
streamed bodies cut off at the limit (the server's memory does not grow with what is sent),
and rate limits per client address on the public doors, answered 429 with Retry-After."""

from __future__ import annotations

import json
import re
import select
import socket
from dataclasses import replace

import httpx
import pytest

from tests.fixtures import csrf_of, lexical_only, load_kb_samples, sign_in
from tests.support import sign_in as sign_in_server
from tresen import rooms
from tresen.app import create_app
from tresen.limits import (
    FORM_BYTES,
    PUBLIC_JSON_BYTES,
    UPLOAD_BYTES,
    RateLimiter,
    RequestLimits,
    client_address,
)
from tresen.settings import Settings

MB = 1024 * 1024
CHUNK = 64 * 1024


# --- The door table and the rate limiter, by themselves ---


def test_each_kind_of_route_has_its_limit_and_new_public_operations_are_small():
    limits = RequestLimits(None, settings=Settings(), routers=rooms.api_routers())
    assert limits.door_for("POST", "/api/v1/kb/suggest").body_bytes == PUBLIC_JSON_BYTES
    assert limits.door_for("POST", "/api/v1/kb/suggest").rate == "search"
    assert limits.door_for("GET", "/api/v1/kb/search").rate == "search"
    assert limits.door_for("POST", "/api/v1/kb/articles/7/feedback").rate == "vote"
    assert limits.door_for("POST", "/api/v1/inbound").body_bytes == 40 * MB
    assert limits.door_for("POST", "/api/v1/inbound").rate is None
    assert limits.door_for("POST", "/login").body_bytes == FORM_BYTES
    assert limits.door_for("POST", "/login").rate == "sign-in"
    assert limits.door_for("GET", "/help").rate == "search"
    assert limits.door_for("POST", "/help/refund-de").rate == "vote"
    assert limits.door_for("GET", "/help/refund-de/files/a.png").rate == "page"
    assert limits.door_for("POST", "/tickets/12/messages").body_bytes == UPLOAD_BYTES
    assert limits.door_for("POST", "/kb/3/files").body_bytes == UPLOAD_BYTES
    assert limits.door_for("POST", "/webhooks/anything").body_bytes == MB
    # A route nobody named takes a form's size and is not rate limited (it needs a session).
    assert limits.door_for("POST", "/admin/new-page").body_bytes == FORM_BYTES
    assert limits.door_for("POST", "/admin/new-page").rate is None
    # Every public API operation is a small door, whoever declares it next.
    from tresen.api import PUBLIC, ApiRouter

    router = ApiRouter("chat")

    @router.route("POST", "/chat/start", summary="start a chat", role=PUBLIC)
    async def start(request, user):  # pragma: no cover - never called
        return {}

    later = RequestLimits(None, settings=Settings(), routers=[router])
    assert later.door_for("POST", "/api/v1/chat/start").body_bytes == PUBLIC_JSON_BYTES
    assert later.door_for("POST", "/api/v1/chat/start").rate == "search"


def test_a_bucket_refills_and_says_how_long_to_wait():
    now = [1000.0]
    limiter = RateLimiter({"vote": 10}, clock=lambda: now[0])
    assert [limiter.take("vote", "203.0.113.5") for _ in range(10)] == [0.0] * 10
    assert limiter.take("vote", "203.0.113.5") == pytest.approx(6.0)  # one every 6 s
    assert limiter.take("vote", "198.51.100.7") == 0.0  # another address has its own
    now[0] += 6
    assert limiter.take("vote", "203.0.113.5") == 0.0
    assert limiter.take("search", "203.0.113.5") == 0.0  # a kind with no limit


def test_the_buckets_stay_bounded_in_number_and_time():
    now = [0.0]
    limiter = RateLimiter({"search": 60}, max_keys=1000, clock=lambda: now[0])
    for n in range(50_000):
        limiter.take("search", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(limiter) == 1000
    now[0] += 61  # every bucket is full again: the same as none, all forgotten
    limiter.take("search", "192.0.2.1")
    assert len(limiter) == 1


def test_an_ipv6_client_is_counted_by_its_64_network():
    def scope(host):
        return {"client": (host, 1234)}

    assert client_address(scope("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert client_address(scope("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert client_address(scope("::ffff:203.0.113.5")) == "203.0.113.5"
    assert client_address(scope("203.0.113.5")) == "203.0.113.5"
    assert client_address({"client": None}) == "unknown"


# --- In the app: refused before reading, cut off while reading ---


async def _call(app, path: str, headers: dict, chunks, method: str = "POST"):
    """Call the ASGI app directly with a body of `chunks`; what it pulled and answered."""
    pulled = []
    answer = {}
    body = iter(chunks)

    async def receive():
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.5", 5000),
        "server": ("testserver", 80),
        "app": app,
    }
    await app(scope, receive, send)
    return sum(pulled), answer


def _endless(piece: bytes = b"x" * CHUNK):
    while True:
        yield piece


async def test_a_declared_length_over_the_limit_is_refused_before_reading(app):
    fifty_mb = {"content-type": "application/json", "content-length": str(50 * MB)}
    pulled, answer = await _call(app, "/api/v1/kb/suggest", fifty_mb, _endless())
    assert pulled == 0
    assert answer["status"] == 413
    assert json.loads(answer["body"]) == {
        "error": f"Content-Length {50 * MB} is more than the 64 KB taken here."
    }
    form = {"content-type": "application/x-www-form-urlencoded", "content-length": str(2 * MB)}
    pulled, answer = await _call(app, "/login", form, _endless())
    assert pulled == 0 and answer["status"] == 413
    assert answer["headers"]["content-type"].startswith("text/plain")
    assert answer["body"].decode() == f"Content-Length {2 * MB} is more than the 1 MB taken here."


async def test_a_streamed_body_is_cut_off_at_the_limit(app):
    """Without Content-Length (chunked), the bytes are counted as they come: the app is
    stopped one chunk past the limit, whatever follows."""
    json_headers = {"content-type": "application/json"}
    pulled, answer = await _call(app, "/api/v1/kb/suggest", json_headers, _endless())
    assert PUBLIC_JSON_BYTES < pulled <= PUBLIC_JSON_BYTES + CHUNK
    assert answer["status"] == 413
    assert json.loads(answer["body"])["error"] == (
        "The request's body is larger than the 64 KB taken here."
    )
    form = {"content-type": "application/x-www-form-urlencoded", "accept-language": "de"}
    pulled, answer = await _call(app, "/login", form, _endless(b"email=" + b"a" * CHUNK))
    assert FORM_BYTES < pulled <= FORM_BYTES + CHUNK + 6
    assert answer["status"] == 413
    assert answer["body"].decode() == (
        "Der Inhalt der Anfrage ist größer als die hier angenommenen 1 MB."
    )


async def test_a_help_centre_form_takes_no_files(runtime, client):
    await load_kb_samples(lexical_only(runtime))
    page = await client.get("/help/refund-de")
    answer = await client.post(
        "/help/refund-de",
        data={"helpful": "yes", "csrf_token": csrf_of(page.text)},
        files={"file": ("big.bin", b"x" * 1000, "application/octet-stream")},
    )
    assert answer.status_code == 400
    assert "Maximum number of files is 0" in answer.text


# --- Rate limits ---


def _client(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_public_searches_are_limited_per_address_with_retry_after(runtime):
    app = create_app(runtime=runtime)  # the defaults: 60 searches a minute
    async with _client(app, "203.0.113.5") as flooder, _client(app, "198.51.100.7") as other:
        # 60 at once go through; then one a second (so a few more while these run).
        accepted, refused = 0, None
        while refused is None and accepted < 200:
            answer = await flooder.post("/api/v1/kb/suggest", json={"text": f"Frage {accepted}"})
            if answer.status_code == 429:
                refused = answer
            else:
                assert answer.status_code == 200
                accepted += 1
        assert refused is not None and accepted >= 60
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        assert refused.json()["error"] == (
            "Too many requests from 203.0.113.5: at most 60 a minute here; try again in "
            f"{refused.headers['retry-after']} s."
        )
        # The help centre's search is the same kind of door: refused too, in plain text.
        page = await flooder.get("/help", params={"q": "Rechnung"})
        assert page.status_code == 429 and "retry-after" in page.headers
        assert page.text.startswith("Too many requests from 203.0.113.5")
        # Someone else is not affected, and neither are other kinds of door.
        assert (await other.get("/api/v1/kb/search", params={"q": "Rechnung"})).status_code == 200
        assert (await flooder.get("/login")).status_code == 200


async def _until_refused(send, at_least: int) -> tuple[int, httpx.Response]:
    """Send until a 429 comes; how many went through before it (the bucket refills while
    these run, so a few more than its size may), and the 429."""
    accepted = 0
    while accepted < 3 * at_least:
        answer = await send(accepted)
        if answer.status_code == 429:
            return accepted, answer
        accepted += 1
    raise AssertionError(f"no 429 after {accepted} requests")


async def test_votes_and_sign_ins_have_their_own_smaller_limits(runtime):
    app = create_app(runtime=runtime)
    async with _client(app, "203.0.113.5") as reader:

        async def vote(n):
            answer = await reader.post("/api/v1/kb/articles/1/feedback", json={"helpful": True})
            assert answer.status_code in (404, 429)  # no such article: answered, not limited
            return answer

        accepted, refused = await _until_refused(vote, 10)
        assert accepted >= 10 and refused.headers["retry-after"]
        token = csrf_of((await reader.get("/login")).text)

        async def sign_in_as(n):
            return await reader.post(
                "/login", data={"email": f"x{n}@example.com", "password": "no", "csrf_token": token}
            )

        accepted, refused = await _until_refused(sign_in_as, 20)
        assert accepted >= 20 and "a minute" in refused.text


async def test_a_token_holder_is_not_counted_as_the_public(runtime, agent_headers):
    app = create_app(runtime=replace_settings(runtime, public_searches_per_minute=2))
    async with _client(app, "203.0.113.5") as bot:
        for _ in range(5):
            answer = await bot.get(
                "/api/v1/kb/search", params={"q": "Rechnung"}, headers=agent_headers
            )
            assert answer.status_code == 200


async def test_an_authorization_header_is_no_free_pass_outside_the_api(runtime):
    """Only the API reads a token: on the sign-in page and the help centre the header meant
    nothing but skipped the limits (unlimited guessing, gap rows and votes)."""
    app = create_app(
        runtime=replace_settings(runtime, sign_ins_per_minute=3, public_searches_per_minute=3)
    )
    async with _client(app, "203.0.113.9") as guesser:
        token = csrf_of((await guesser.get("/login")).text)
        pretend = {"Authorization": "Bearer anything"}
        answers = [
            await guesser.post(
                "/login",
                data={"email": "admin@example.com", "password": "no", "csrf_token": token},
                headers=pretend,
            )
            for _ in range(5)
        ]
        assert [a.status_code for a in answers][-1] == 429
        searches = [await guesser.get("/help?q=x", headers=pretend) for _ in range(5)]
        assert searches[-1].status_code == 429


def replace_settings(runtime, **values):
    runtime.settings = replace(runtime.settings, **values)
    return runtime


# --- Against a real server: what a flood costs the process ---


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak since clear_refs was written) in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _sep, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM starts again from the current RSS


def _send_chunked(port: int, head: str, total: int, *, stop_at: int | None = None) -> tuple:
    """POST `total` bytes chunked, stopping when the server answers (or after `stop_at` bytes,
    then waiting for the answer without sending more); returns (status, body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
    sent, piece = 0, b"x" * CHUNK
    try:
        while sent < min(total, stop_at or total):
            if select.select([sock], [], [], 0)[0]:
                break  # answered: nothing more is wanted
            sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, piece))
            sent += CHUNK
        else:
            if stop_at is None:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while we were sending
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    sock.close()
    head_part, _sep, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split()[1])
    return status, body.decode(), sent


def _send_declared(port: int, head: str) -> int:
    """Send only the head (its Content-Length promises a body) and wait for the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode() + b"\r\n")
        return int(sock.recv(65536).split()[1])


def _expected_length(answer: bytes) -> int:
    head, _sep, _body = answer.partition(b"\r\n\r\n")
    found = re.search(rb"content-length: (\d+)", head, re.I)
    return len(head) + 4 + int(found.group(1)) if found else 0


def test_a_50_mb_public_json_body_and_a_2_mb_login_form_are_refused_unread(server):
    pid = server.process.pid
    before = _memory(pid)["VmRSS"]
    _reset_peak(pid)
    head = (
        "POST /api/v1/kb/suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    )
    status, body, sent = _send_chunked(server.port, head, 50 * MB)
    assert status == 413, body
    assert json.loads(body)["error"] == "The request's body is larger than the 64 KB taken here."
    # Declared: refused before one byte of the body is sent.
    head = head.replace("Content-Type", f"Content-Length: {50 * MB}\r\nContent-Type")
    assert _send_declared(server.port, head) == 413
    # The login form: refused past 1 MB; the second MB is never sent, and the answer comes.
    head = (
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    status, body, sent = _send_chunked(server.port, head, 2 * MB, stop_at=FORM_BYTES + 2 * CHUNK)
    assert status == 413 and sent < 2 * MB, body
    head = head.replace("Content-Type", f"Content-Length: {2 * MB}\r\nContent-Type")
    assert _send_declared(server.port, head) == 413
    # Reading 50 MB whole (as before) took the process up by 100 MB and more.
    grew = _memory(pid)["VmHWM"] - before
    assert grew < 20 * MB, f"the server's peak memory grew by {grew // 1024} KB"
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_console_attachment_over_the_limit_is_refused_while_streaming(server):
    server.add_user("agent@example.com", "agent-password")
    console = sign_in_server(server.url, "agent@example.com", "agent-password")
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', console.get("/").text).group(1)
    cookie = "; ".join(f"{name}={value}" for name, value in console.cookies.items())
    boundary = "tresenboundary"
    head = (
        "POST /tickets/1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Cookie: {cookie}\r\nX-CSRF-Token: {token}\r\n"
    )
    pid = server.process.pid
    before = _memory(pid)["VmRSS"]
    _reset_peak(pid)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    sock.sendall(b"%x\r\n%s\r\n" % (len(preamble), preamble))
    sent, piece = 0, b"x" * CHUNK
    # 30 MB of file: the answer must come after 25 MB, before we send the rest.
    while sent < UPLOAD_BYTES + 2 * CHUNK:
        sock.sendall(b"%x\r\n%s\r\n" % (CHUNK, piece))
        sent += CHUNK
    answer = b""
    while len(answer) < 20 or b"\r\n\r\n" not in answer:
        data = sock.recv(65536)
        if not data:
            break
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"text/plain" in answer
    grew = _memory(pid)["VmHWM"] - before
    assert grew < 20 * MB, f"the server's peak memory grew by {grew // 1024} KB"
    console.close()


async def test_the_console_still_takes_a_form_and_a_file_within_the_limits(runtime, client, agent):
    """Not every body is refused: the limits are wide enough for what people send."""
    await sign_in(client)
    page = await client.get("/")
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text).group(1)
    answer = await client.post(
        "/tickets/999/messages",
        data={"text": "x" * (FORM_BYTES // 2)},
        files={"files": ("a.bin", b"y" * (3 * MB), "application/octet-stream")},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status_code == 404  # read in full, then: no such ticket
