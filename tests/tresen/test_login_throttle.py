"""Failed sign-ins: bounded memory whatever is sent, throttled per (account, address), a
hammered account stays open to its owner elsewhere, and hashing never stalls the server."""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
import time
import tracemalloc

import httpx
import pytest

from tests.fixtures import csrf_of
from tresen.accounts import create_user
from tresen.auth import LoginThrottle, ThrottleLimits

MEGABYTE = 1024 * 1024


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_thousand_huge_unique_emails_keep_the_map_small():
    throttle = LoginThrottle()
    huge = "x" * MEGABYTE
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(10_000):
            email = f"{n}@{huge}"  # unique at the start, a megabyte long
            if not throttle.wait_seconds(email, f"10.{n // 250}.{n % 250}.1"):
                throttle.failed(email, f"10.{n // 250}.{n % 250}.1")
        gc.collect()
        retained, peak = (value - before for value in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert len(throttle) <= 10_000
    # Keys are 32-byte hashes with a tuple of timestamps: about 350 bytes each with the
    # map's own entry, 3.4 MB for the 10,000 kept (the emails themselves were 10 GB). The
    # peak adds one email and its truncated copy.
    assert retained < 5 * MEGABYTE, retained
    assert peak < retained + 3 * MEGABYTE, peak


def test_guesses_sent_at_once_are_counted_before_they_are_checked():
    """Each sign-in counts as an attempt before its password is checked: a burst of guesses
    sent together cannot all pass the check made before any of them has failed."""
    throttle = LoginThrottle(ThrottleLimits(per_pair=10))
    passed = 0
    for _ in range(100):  # all arrive before the first password check has finished
        if throttle.wait_seconds("admin@example.com", "198.51.100.7") == 0:
            throttle.attempt("admin@example.com", "198.51.100.7")
            passed += 1
    assert passed == 10


def test_a_slowed_account_takes_its_tries_in_turn():
    """Past the threshold each try of the account waits its turn, one delay after the one
    before: a thousand guesses at once do not all wait four seconds and then pass."""
    clock = FakeClock()
    throttle = LoginThrottle(
        ThrottleLimits(account_delay_after=10, account_delay_max=4.0), clock=clock
    )
    for n in range(20):
        throttle.failed("admin@example.com", f"203.0.113.{n}")
    turns = [throttle.account_turn("admin@example.com") for _ in range(50)]
    assert turns == sorted(turns) and turns[-1] >= 49 * 4.0
    assert throttle.account_turn("someone@example.com") == 0
    clock.now += 1000  # turns in the past are forgotten
    throttle.account_turn("other@example.com")
    assert len(throttle._turns) <= 1


def test_an_office_signing_in_all_day_is_never_blocked():
    """The attempt counted before the check is taken back when the password was right."""
    throttle = LoginThrottle(ThrottleLimits(per_address=50))
    for n in range(200):
        assert throttle.wait_seconds(f"colleague{n}@example.com", "192.0.2.1") == 0
        throttle.attempt(f"colleague{n}@example.com", "192.0.2.1")
        throttle.succeeded(f"colleague{n}@example.com", "192.0.2.1")


def test_checking_never_adds_a_key_and_old_keys_are_forgotten():
    clock = FakeClock()
    throttle = LoginThrottle(ThrottleLimits(window=900), clock=clock)
    for n in range(1000):
        assert throttle.wait_seconds(f"user{n}@example.com", "10.0.0.1") == 0
        assert throttle.account_delay(f"user{n}@example.com") == 0
    assert len(throttle) == 0
    for _ in range(50):
        throttle.failed("victim@example.com", "10.0.0.1")
    assert len(throttle) == 3  # the pair, the address, the account
    for n in range(1000):  # the address is blocked now: still no key per email tried
        assert throttle.wait_seconds(f"user{n}@example.com", "10.0.0.1") > 0
    assert len(throttle) == 3
    clock.now += 901
    assert throttle.wait_seconds("user1@example.com", "10.0.0.1") == 0
    throttle.failed("other@example.com", "10.0.0.2")  # a failure sweeps the expired keys
    assert len(throttle) == 3


def test_the_oldest_keys_make_room():
    clock = FakeClock()
    throttle = LoginThrottle(ThrottleLimits(max_keys=100), clock=clock)
    for _ in range(10):
        throttle.failed("hammered@example.com", "10.0.0.1")
    assert throttle.wait_seconds("hammered@example.com", "10.0.0.1") > 0
    for n in range(200):
        clock.now += 1
        throttle.failed(f"user{n}@example.com", f"10.0.{n}.2")
    assert len(throttle) == 100
    # The first pair's failures are forgotten, the newest kept: nine more block it.
    assert throttle.wait_seconds("hammered@example.com", "10.0.0.1") == 0
    for _ in range(9):
        throttle.failed("user199@example.com", "10.0.199.2")
    assert throttle.wait_seconds("user199@example.com", "10.0.199.2") > 0


def test_a_pair_is_blocked_the_account_only_slowed():
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(10):
        throttle.failed("admin@example.com", "10.0.0.1")
    assert 890 < throttle.wait_seconds("admin@example.com", "10.0.0.1") <= 901
    assert throttle.wait_seconds("admin@example.com", "10.0.0.2") == 0
    assert throttle.wait_seconds("someone@example.com", "10.0.0.1") == 0
    delays = []
    for n in range(2, 12):
        delays.append(throttle.account_delay("admin@example.com"))
        throttle.failed("admin@example.com", f"10.0.0.{n}")
    assert delays == sorted(delays) and delays[0] == 0.25 and max(delays) == 4.0
    for n in range(100):  # hammered from everywhere: never more than a few seconds
        throttle.failed("admin@example.com", f"10.1.0.{n}")
    assert throttle.account_delay("admin@example.com") == 4.0
    assert throttle.wait_seconds("admin@example.com", "10.2.0.1") == 0


async def post_login(app, address: str, email: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/login")
        return await client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        )


async def test_another_address_still_signs_in_to_a_hammered_admin(app, runtime):
    await create_user(
        runtime, email="root@example.com", name="Root", role="admin", password="root-password"
    )
    for _ in range(10):
        answer = await post_login(app, "10.0.0.1", "root@example.com", "guess-guess")
        assert answer.status_code == 401
    blocked = await post_login(app, "10.0.0.1", "root@example.com", "root-password")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    for _ in range(3):  # and a second attacker elsewhere
        await post_login(app, "10.0.0.2", "root@example.com", "guess-guess")
    started = time.monotonic()
    owner = await post_login(app, "192.0.2.7", "root@example.com", "root-password")
    assert owner.status_code == 303 and owner.headers["location"] == "/"
    # Slowed by the per-account delay (13 failures: 2 s), never refused.
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hundreds_of_huge_emails_through_the_login_form_keep_nothing(app, agent):
    """Each form carries a 200 KB email; after the address is blocked, none adds a key."""
    # Blocked after 10 failures instead of 50: each failure costs a hash (a quarter second).
    throttle = app.state.login_throttle = LoginThrottle(ThrottleLimits(per_address=10))
    huge = "y" * (200 * 1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = csrf_of((await client.get("/login")).text)

        async def attempt(n: int) -> int:
            answer = await client.post(
                "/login",
                data={"email": f"{n}{huge}", "password": "nope-nope", "csrf_token": token},
            )
            return answer.status_code

        await attempt(-1)  # warm up what the first request loads
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            codes = []
            for batch in range(30):  # 300 requests, 10 at a time
                codes += await asyncio.gather(*(attempt(batch * 10 + n) for n in range(10)))
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert set(codes) == {401, 429} and codes.count(429) >= 280
    # Only the requests that were let through left a key (pair and account each, plus the
    # address): not one per email sent.
    assert len(throttle) <= 2 * (300 - codes.count(429)) + 3
    # 60 MB of emails sent; what stays is the throttle's few hundred small keys (and
    # whatever caches the first requests warmed): well under one email's worth per request.
    assert retained < 5 * MEGABYTE, retained


def probe_healthz(url: str, stop: threading.Event, latencies: list[float]) -> None:
    """/healthz asked again and again until stop is set; each answer's time in latencies."""
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/healthz")  # the connection, outside the measurement
        while not stop.is_set():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)


def healthz_latencies(url: str, seconds: float) -> list[float]:
    stop, latencies = threading.Event(), []
    probe = threading.Thread(target=probe_healthz, args=(url, stop, latencies))
    probe.start()
    time.sleep(seconds)
    stop.set()
    probe.join()
    return latencies


async def test_healthz_stays_quick_during_concurrent_failed_logins(server):
    """Argon2 (about a quarter second each) runs in two threads, not on the event loop.

    With the hashing on the event loop, /healthz waited for the 20 sign-ins' hashes: 5 s
    here. Now it answers in a few milliseconds. The issue's bound is 100 ms for the
    median; a machine loaded by other work (parallel test runs) slows every answer, with
    or without sign-ins, so the bound is raised to three times what /healthz took just
    before, on the same machine, when that is more. The slowest answer must stay under a
    second: a single hash on the event loop costs a quarter of it, twenty cost five.
    """
    idle = statistics.median(await asyncio.to_thread(healthz_latencies, server.url, 1.0))
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        token = csrf_of((await client.get("/login")).text)
        stop = threading.Event()
        latencies: list[float] = []
        probe = threading.Thread(target=probe_healthz, args=(server.url, stop, latencies))
        probe.start()
        try:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/login",
                        data={
                            "email": f"nobody{n}@example.com",
                            "password": "wrong-password",
                            "csrf_token": token,
                        },
                    )
                    for n in range(20)
                )
            )
            took = time.monotonic() - started
        finally:
            stop.set()
            probe.join()
    assert [answer.status_code for answer in answers] == [401] * 20
    assert took > 1.0  # twenty hashes really ran (two at a time)
    assert len(latencies) >= 10, latencies
    print(
        f"/healthz idle median {idle * 1000:.1f} ms; during 20 failed sign-ins "
        f"({took:.1f} s) median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} answers"
    )
    assert statistics.median(latencies) < max(0.1, 3 * idle), (idle, latencies)
    assert max(latencies) < 1.0, latencies


def test_the_client_address_comes_from_trusted_proxies_only(server):
    """Behind a proxy every client shares its address: X-Forwarded-For tells them apart,
    but only when the proxy is trusted (--forwarded-allow-ips); otherwise anyone could
    pick a fresh address per guess."""
    server.add_user("anna@example.com", "anna-password")

    def login(forwarded_for: str, password: str) -> int:
        with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": forwarded_for}) as c:
            token = csrf_of(c.get("/login").text)
            answer = c.post(
                "/login",
                data={"email": "anna@example.com", "password": password, "csrf_token": token},
            )
            return answer.status_code

    server.stop()
    server.start("--forwarded-allow-ips", "none")
    for _ in range(10):
        assert login("203.0.113.1", "guess-guess") == 401
    # Not trusted: the header is ignored, the peer (127.0.0.1) is blocked for Anna.
    assert login("203.0.113.2", "anna-password") == 429
    server.stop()
    server.start()  # by default a proxy on this machine (127.0.0.1) is believed
    for _ in range(10):
        assert login("198.51.100.1", "guess-guess") == 401
    assert login("198.51.100.1", "anna-password") == 429
    assert login("198.51.100.2", "anna-password") == 303
