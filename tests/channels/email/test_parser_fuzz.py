"""The bad-input campaign as a test: thousands of seeded mutations of the real mails of the
shared corpus through the parser, with no exception and none taking over a second.

The campaign that found the hostile reproducers mutated the same mails the same ways
(6,000 mails: 282 raised, 15 took over 20 s). Each mutation here is a few of: byte flips,
NUL bytes, a header line repeated, truncation, the mail nested in multiparts or enclosed
messages, charset names swapped for odd or broken ones, huge display names, group
markers, dates out of range, and runs of what parsers read ahead for (`<!--`, `=?`, ...).
"""

from __future__ import annotations

import base64
import gc
import random
import time

import pytest

from channels.email.parse import parse_message
from tests.fixtures import corpus_files

SEED = 14
MUTATIONS = 3000
MAX_BYTES = 4_000_000  # a mutated mail is cut here: real mail of any size is not the point
CHARSETS = [
    b"punycode",
    b"idna",
    b"utf8\x00",
    b"base64",
    b"rot13",
    b"zlib",
    b"uu",
    b"utf-16",
    b"utf-32",
    b"utf-7",
    b"unicode_escape",
    b"x-unknown",
    b"\xff\xfe",
    b"gb2312",
    b"iso-2022-jp",
    b"",
]
DATES = [
    b"Fri, 31 Dec 9999 23:59:59 -1200",
    b"Mon, 1 Jan 0001 00:00:00 +1400",
    b"Tue, 31 Feb 2026 25:61:61 +9999",
    b"99999999999999999999",
]
PIECES = [b"<!--", b"=?", b"?=", b"\r\n", b"--", b"(", b'"', b"\\", b"\xe8", b"<a", b"g:", b"\x00"]


def _head_end(raw: bytearray) -> int:
    end = raw.find(b"\n\n")
    return end if end >= 0 else len(raw)


def _flip(raw: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 20)):
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)


def _nul(raw: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 10)):
        at = rng.randrange(len(raw) + 1)
        raw[at:at] = b"\x00"


def _repeat_header(raw: bytearray, rng: random.Random) -> None:
    end = _head_end(raw)
    line = rng.choice(bytes(raw[:end]).split(b"\n"))[:1000]
    raw[end:end] = (b"\n" + line) * rng.choice([2, 50, 1000, 10_000])


def _truncate(raw: bytearray, rng: random.Random) -> None:
    del raw[rng.randrange(len(raw) + 1) :]


def _nest(raw: bytearray, rng: random.Random) -> None:
    depth = rng.choice([5, 30, 400, 1000])
    if rng.random() < 0.5:
        head = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
        levels = b"".join(
            b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1)
            for n in range(depth)
        )
        raw[:] = head + levels + b"--b%d\r\n" % depth + raw
    else:
        raw[:] = b"Content-Type: message/rfc822\r\n\r\n" * depth + raw


def _charset(raw: bytearray, rng: random.Random) -> None:
    charset = rng.choice(CHARSETS)
    at = raw.find(b"charset=")
    if at >= 0:
        raw[at + 8 : at + 8] = charset + b"; x="
    else:
        raw[0:0] = b"Content-Type: text/plain; charset=" + charset + b"\r\n"
    raw[0:0] = b"Subject: =?" + charset + b"?q?Gr=FC=DFe?=\r\n"


def _display_name(raw: bytearray, rng: random.Random) -> None:
    length = rng.choice([199, 201, 1000, 100_000])
    if rng.random() < 0.5:
        raw[0:0] = b'From: "' + b"N" * length + b'" <kim@example.test>\r\n'
    else:
        encoded = base64.b64encode("Ä".encode() * length)
        raw[0:0] = b"From: =?utf-8?b?" + encoded + b"?= <kim@example.test>\r\n"


def _groups(raw: bytearray, rng: random.Random) -> None:
    raw[0:0] = b"From: " + b"g:" * rng.choice([10, 1000, 5000]) + b"kim@example.test\r\n"


def _date(raw: bytearray, rng: random.Random) -> None:
    raw[0:0] = b"Date: " + rng.choice(DATES) + b"\r\n"


def _repeat_bytes(raw: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(raw) + 1)
    raw[at:at] = bytes(raw[at : at + rng.randint(1, 200)]) * rng.choice([2, 100, 1000])


def _run(raw: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(raw) + 1)
    raw[at:at] = rng.choice(PIECES) * rng.choice([1, 100, 10_000])


MUTATORS = [
    _flip,
    _nul,
    _repeat_header,
    _truncate,
    _nest,
    _charset,
    _display_name,
    _groups,
    _date,
    _repeat_bytes,
    _run,
]


def mutated(raw: bytes, rng: random.Random) -> bytes:
    """`raw` after one to four mutations."""
    mail = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        rng.choice(MUTATORS)(mail, rng)
        del mail[MAX_BYTES:]
    return bytes(mail)


def _timed_parse(raw: bytes):
    """The parse and the CPU time this thread spent on it: what the parse costs, not how busy
    the machine is (the test runs beside others on two cores). Mutations here take up to
    ~0.6 s. The garbage collector waits meanwhile: a full collection of the whole suite's
    heap (seen at 1.1 s in CI) is not the parser's cost."""
    gc.disable()
    try:
        started = time.thread_time()
        parsed = parse_message(raw, account="support@tresen.test")
        return parsed, time.thread_time() - started
    finally:
        gc.enable()


@pytest.mark.slow  # 3,000 parses: 1-3 minutes on a shared two-core machine
def test_thousands_of_mutated_real_mails_parse_without_error_each_within_a_second():
    sources = [path.read_bytes() for path in corpus_files() if path.suffix != ".md"]
    assert len(sources) >= 890
    rng = random.Random(SEED)
    slowest = (0.0, -1)
    for number in range(MUTATIONS):
        raw = mutated(rng.choice(sources), rng)
        parsed, elapsed = _timed_parse(raw)
        if elapsed >= 1.0:
            # Once more, twice at most: a full garbage collection of the suite's heap or a
            # neighbour's cache misses can land in one parse; a parse that is slow stays slow.
            elapsed = min([elapsed] + [_timed_parse(raw)[1] for _ in range(2)])
        slowest = max(slowest, (elapsed, number))
        # The parser's safety net (kept as scanned, after an exception) is for the unforeseen.
        assert not any("could not be read" in notice for notice in parsed.notices), number
        assert parsed.sender.value and parsed.external_id
        dumped = parsed.model_dump(mode="json")
        assert base64.b64decode(dumped["raw"]["rfc822_base64"]) == raw
        for text in (parsed.subject, parsed.text, parsed.html, parsed.sender.name):
            assert "\x00" not in (text or ""), number  # PostgreSQL stores no NUL
            (text or "").encode("utf-8")  # and no lone surrogate
    assert slowest[0] < 1.0, f"mutation {slowest[1]} took {slowest[0]:.2f} s"


MAIL = (
    b"From: Kim Meyer <kim@example.test>\r\nTo: support@tresen.test\r\nSubject: Drucker\r\n"
    b"Message-ID: <f1@example.test>\r\n"
)


def timed(raw: bytes):
    parsed, elapsed = _timed_parse(raw)
    if elapsed >= 1.0:  # once more, twice at most (see the campaign above)
        elapsed = min([elapsed] + [_timed_parse(raw)[1] for _ in range(2)])
    assert elapsed < 1.0  # each took seconds before (CPU time)
    assert (parsed.sender.value, parsed.subject) == ("kim@example.test", "Drucker")
    return parsed


def test_a_boundary_of_half_a_megabyte_is_none_and_the_body_text():
    # A folded Content-Type line repeated: the standard parser compiled it into a regex.
    folds = b'\r\n    boundary="report4E747F78@mail22.example.net"' * 10_000
    parsed = timed(MAIL + b"Content-Type: multipart/report;" + folds + b"\r\n\r\nHallo\r\n")
    assert parsed.text.strip() == "Hallo"


def test_header_fields_past_their_limits_are_left_to_the_original():
    received = b"Received: from relay.example.net by mx.example.test\r\n" * 10_000
    parsed = timed(received + MAIL + b"X-Long: " + b"x" * 1_000_000 + b"\r\n\r\nHallo\r\n")
    assert any("header fields" in notice for notice in parsed.notices)
    assert parsed.text.strip() == "Hallo"


def test_codecs_that_are_no_charsets_are_read_as_undeclared():
    for charset in (b"unicode_escape", b"punycode", b"base64", b"rot13"):
        head = b"Content-Type: text/plain; charset=" + charset + b"\r\n\r\n"
        assert timed(MAIL + head + b"Gr\\x41\xc3\xbc\r\n").text.strip() == "Gr\\x41ü", charset


def test_parts_nested_deeper_than_twenty_levels_are_left_to_the_original():
    levels = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1)
        for n in range(50)
    )
    head = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    parsed = timed(MAIL + head + levels + b"--b50\r\n\r\ninnen\r\n")
    assert any("nested deeper than 20 levels" in notice for notice in parsed.notices)
