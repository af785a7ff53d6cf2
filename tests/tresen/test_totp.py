"""Two-factor sign-in's keys and codes (tresen/totp.py), on a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests.support import ServerProcess
from tresen import secrets, totp
from tresen.accounts import create_user, get_user
from tresen.clock import FrozenClock
from tresen.models import User

START = datetime(2026, 12, 3, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
async def kim(runtime):
    runtime.clock = FrozenClock(START)
    return await create_user(
        runtime, email="kim@example.com", name="Kim", role="agent", password="kim-password"
    )


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


async def enrolled(runtime, user) -> tuple[str, list[str], User]:
    enrolment = await totp.start_enrolment(runtime, user.id)
    codes = await totp.confirm_enrolment(
        runtime, user.id, code_at(enrolment.secret, runtime.clock.now())
    )
    runtime.clock.advance(timedelta(seconds=60))  # past the set-up code's step and the next
    return enrolment.secret, codes, await get_user(runtime, user.id)


async def test_the_key_is_sealed_and_the_same_until_confirmed(runtime, kim):
    first = await totp.start_enrolment(runtime, kim.id)
    again = await totp.start_enrolment(runtime, kim.id)
    assert first.secret == again.secret
    assert len(first.secret) == 32
    assert first.grouped.split(" ")[0] == first.secret[:4]
    assert first.uri.startswith("otpauth://totp/Tresen:kim%40example.com?secret=")
    assert first.qr_svg.startswith("<svg") and first.qr_data_uri.startswith("data:image/svg+xml")
    async with runtime.read() as session:
        stored = await session.scalar(select(User.totp_secret).where(User.id == kim.id))
    assert secrets.is_encrypted(stored) and first.secret not in stored
    assert not totp.is_enrolled(await get_user(runtime, kim.id))


async def test_a_wrong_code_does_not_turn_it_on(runtime, kim):
    enrolment = await totp.start_enrolment(runtime, kim.id)
    wrong = code_at(enrolment.secret, START + timedelta(minutes=5))
    with pytest.raises(totp.TwoFactorError):
        await totp.confirm_enrolment(runtime, kim.id, wrong)
    assert not totp.is_enrolled(await get_user(runtime, kim.id))


async def test_confirming_turns_it_on_and_gives_ten_codes(runtime, kim):
    secret, codes, user = await enrolled(runtime, kim)
    assert totp.is_enrolled(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    async with runtime.read() as session:
        assert await totp.unused_recovery_codes(session, kim.id) == 10
    with pytest.raises(totp.TwoFactorError):
        await totp.start_enrolment(runtime, kim.id)


async def test_a_code_counts_within_one_step_either_way_and_only_once(runtime, kim):
    secret, _codes, user = await enrolled(runtime, kim)
    now = runtime.clock.now()
    assert await totp.verify(runtime, user, code_at(secret, now - timedelta(seconds=30))) == "totp"
    # The same code again, and an older step's: refused (seen over a shoulder, replayed).
    assert await totp.verify(runtime, user, code_at(secret, now - timedelta(seconds=30))) is None
    assert await totp.verify(runtime, user, code_at(secret, now - timedelta(seconds=30))) is None
    # The next step's (a phone a little fast) counts, then nothing older than it.
    assert await totp.verify(runtime, user, code_at(secret, now + timedelta(seconds=30))) == "totp"
    assert await totp.verify(runtime, user, code_at(secret, now)) is None
    # Two steps away is outside the window.
    runtime.clock.advance(timedelta(minutes=2))
    later = runtime.clock.now()
    assert await totp.verify(runtime, user, code_at(secret, later + timedelta(seconds=60))) is None
    assert await totp.verify(runtime, user, code_at(secret, later - timedelta(seconds=60))) is None
    assert await totp.verify(runtime, user, " " + code_at(secret, later)[:3] + " ") is None
    assert await totp.verify(runtime, user, code_at(secret, later)) == "totp"


async def test_the_same_code_sent_twice_at_once_passes_once(runtime, kim):
    secret, _codes, user = await enrolled(runtime, kim)
    code = code_at(secret, runtime.clock.now())
    results = await asyncio.gather(*(totp.verify(runtime, user, code) for _ in range(4)))
    assert sorted(results, key=str) == [None, None, None, "totp"]


async def test_a_recovery_code_works_once(runtime, kim):
    _secret, codes, user = await enrolled(runtime, kim)
    assert await totp.verify(runtime, user, codes[3].upper()) == "recovery"
    assert await totp.verify(runtime, user, codes[3]) is None
    assert await totp.verify(runtime, user, codes[4].replace("-", "")) == "recovery"
    assert await totp.verify(runtime, user, "abcde-fghjk") is None
    async with runtime.read() as session:
        assert await totp.unused_recovery_codes(session, kim.id) == 8


async def test_new_recovery_codes_replace_the_old(runtime, kim):
    _secret, codes, user = await enrolled(runtime, kim)
    fresh = await totp.new_recovery_codes(runtime, kim.id)
    assert set(fresh).isdisjoint(codes)
    assert await totp.verify(runtime, user, codes[0]) is None
    assert await totp.verify(runtime, user, fresh[0]) == "recovery"


async def test_turning_it_off_forgets_key_and_codes(runtime, kim):
    secret, codes, user = await enrolled(runtime, kim)
    await totp.disable(runtime, kim.id)
    after = await get_user(runtime, kim.id)
    assert not totp.is_enrolled(after) and after.totp_secret is None
    assert await totp.verify(runtime, after, code_at(secret, runtime.clock.now())) is None
    assert await totp.verify(runtime, user, codes[0]) is None  # even with the old user row
    fresh = await totp.start_enrolment(runtime, kim.id)
    assert fresh.secret != secret


async def test_a_key_sealed_under_another_secret_key_refuses_codes(runtime, kim):
    """TRESEN_SECRET_KEY changed without `tresen secrets rotate`: codes fail (recovery
    codes still work), never a crash."""
    secret, codes, user = await enrolled(runtime, kim)
    async with runtime.transaction() as tx:
        tx.session.add(user)
        user.totp_secret = secrets.encrypt("another-key", secret)
    assert await totp.verify(runtime, user, code_at(secret, runtime.clock.now())) is None
    assert await totp.verify(runtime, user, codes[0]) == "recovery"


async def test_rotating_the_secret_key_reseals_the_two_factor_keys(runtime, kim):
    """`tresen secrets rotate` carries the keys over: nobody is locked out by a new key."""
    secret, _codes, _user = await enrolled(runtime, kim)
    new_key = "a-brand-new-secret-key-" + "n" * 20
    async with runtime.transaction() as tx:
        changed = await secrets.reseal(tx.session, runtime.settings.secret_key, new_key)
    assert changed == 1
    async with runtime.read() as session:
        stored = await session.scalar(select(User.totp_secret).where(User.id == kim.id))
    assert secrets.decrypt(new_key, stored) == secret


async def test_an_administrator_turns_it_off_from_the_command_line(runtime, kim, tmp_path):
    """A lost phone and lost recovery codes: `tresen two-factor off EMAIL`."""
    await enrolled(runtime, kim)
    url = runtime.settings.database_url.replace("+asyncpg", "")
    cli = ServerProcess(url, tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    off = await asyncio.to_thread(cli.cli, "two-factor", "off", "Kim@example.com")
    assert off.returncode == 0, off.stderr
    assert "two-factor sign-in of kim@example.com is off" in off.stdout
    assert not totp.is_enrolled(await get_user(runtime, kim.id))
    again = await asyncio.to_thread(cli.cli, "two-factor", "off", "kim@example.com")
    assert "was off already" in again.stdout
    nobody = await asyncio.to_thread(cli.cli, "two-factor", "off", "nobody@example.com")
    assert nobody.returncode == 2 and "no user with email" in nobody.stderr
