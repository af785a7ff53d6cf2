"""Reading MIME parts defensively: a broken part yields what can be read, never an exception."""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import itertools
import re
from email.message import Message

_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")
_CONTENT_TYPE = re.compile(
    rb"^content-type[ \t]*:[ \t]*([a-z0-9!#$&^_.+-]+)/([a-z0-9!#$&^_.+-]*)(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNDARY = re.compile(rb'boundary[ \t]*=[ \t]*(?:"([^"]*)"|([^\s;]+))', re.IGNORECASE)
_NESTING_MARKER = re.compile(rb"(?i)boundary|message/")
_MAX_HEADER_BLOCK = 64 * 1024
MAX_PARAMETERS = 1000  # a long file name in RFC 2231 pieces has dozens; more is no letter
MAX_BOUNDARY_CHARS = 200  # RFC 2046 allows 70


class MimePart(Message):
    """A compat32 message part whose parameter lists are read in linear time.

    The standard library splits "type/sub; a=1; b=2" by copying the rest of the value
    for each parameter and counting quotes from its start for each ";" (quadratic): a
    Content-Type of 100,000 parameters takes seconds on every read, and each part is
    read several times. The split below gives the same list in one pass, and stops
    after MAX_PARAMETERS.
    """

    def _get_params_preserve(self, failobj, header):
        value = self.get(header)
        if value is None:
            return failobj
        params = []
        for parameter in split_parameters(str(value)):
            name, equals, rest = parameter.partition("=")
            params.append((name.strip(), rest.strip()) if equals else (parameter.strip(), ""))
        return email.utils.decode_params(params)

    def get_boundary(self, failobj=None):
        """The boundary; one longer than MAX_BOUNDARY_CHARS is none (the part reads as text).

        The parser compiles a regular expression of it: one of half a megabyte (a folded
        Content-Type repeated) took seconds.
        """
        boundary = super().get_boundary(failobj)
        if isinstance(boundary, str) and len(boundary) > MAX_BOUNDARY_CHARS:
            return failobj
        return boundary


def split_parameters(value: str, limit: int = MAX_PARAMETERS) -> list[str]:
    """A header value split at the semicolons outside quotes, as email.message does it."""
    found = []
    start = 0
    while True:
        end = value.find(";", start)
        quotes, counted = 0, start
        while end > start:
            quotes += value.count('"', counted, end) - value.count('\\"', counted, end)
            counted = end
            if quotes % 2 == 0:
                break
            end = value.find(";", end + 1)
        if end < 0:
            end = len(value)
        parameter = value[start:end]
        if "=" in parameter:
            name, _, rest = parameter.partition("=")
            parameter = name.strip().lower() + "=" + rest.strip()
        found.append(parameter.strip())
        if end >= len(value) or len(found) >= limit:
            return found
        start = end + 1


def parse_bytes(raw: bytes, *, headers_only: bool = False) -> Message:
    """A raw mail parsed (compat32: plain strings) into MimeParts."""
    parser = email.parser.BytesParser(_class=MimePart, policy=email.policy.compat32)
    return parser.parsebytes(raw, headersonly=headers_only)


def payload_bytes(part: Message) -> bytes:
    """The part's decoded content (base64 / quoted-printable undone) as bytes."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is not None:
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    if isinstance(raw, list):  # an enclosed message or delivery-status blocks
        return b"".join(message_bytes(item) for item in raw)
    return b""


def message_bytes(message: Message) -> bytes:
    """An enclosed message as bytes again, its headers as they came (no re-folding)."""
    try:
        return _serialize(message).encode("utf-8", "surrogateescape")
    except Exception:
        try:  # the standard generator recurses: a RecursionError on deep nesting is caught
            return message.as_bytes(policy=email.policy.compat32)
        except Exception:
            return b""


def _serialize(message: Message) -> str:
    """The message as text, walked with a stack of its own: nesting depth costs no recursion."""
    out: list[str] = []
    pending: list[Message | str] = [message]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        out.append("".join(f"{name}: {value}\r\n" for name, value in item.raw_items()) + "\r\n")
        payload = item.get_payload()
        if isinstance(payload, Message):
            payload = [payload]
        if not isinstance(payload, list):
            out.append(str(payload or ""))
            continue
        boundary = item.get_boundary()
        if boundary is None:  # message/rfc822 holding one message
            pieces: list[Message | str] = list(payload)
        else:
            pieces = [item.preamble + "\r\n"] if item.preamble else []
            for part in payload:
                pieces += [f"--{boundary}\r\n", part, "\r\n"]
            pieces.append(f"--{boundary}--\r\n{item.epilogue or ''}")
        pending.extend(reversed(pieces))
    return "".join(out)


def nesting_cut(raw: bytes, limit: int) -> int | None:
    """Where the parts of a raw mail first nest deeper than `limit`, or None if they never do.

    The standard library's parser recurses once per level and checks every open boundary
    on every line (quadratic): a mail nested a thousand deep stalls it, then raises
    RecursionError. This reads the same structure in one pass (a boundary line closes
    every part opened inside it), so the mail can be cut before that level.
    """
    markers = _NESTING_MARKER.finditer(raw)
    if sum(1 for _marker in itertools.islice(markers, limit + 1)) <= limit:
        return None  # too few multiparts or enclosed messages to nest that deep
    levels: list[bytes | None] = []  # a multipart's boundary, or None for an enclosed message
    open_at: dict[bytes, int] = {}  # boundary -> its level
    in_headers, header_start, header_lines = True, 0, []
    offset = 0
    for line in raw.splitlines(keepends=True):
        offset += len(line)
        if line.startswith(b"--") and open_at:
            token = line[2:].rstrip()
            closing = token.endswith(b"--") and token[:-2] in open_at
            name = token[:-2] if closing else token
            if name in open_at:
                del levels[open_at[name] + (0 if closing else 1) :]
                depth = len(levels)
                open_at = {key: level for key, level in open_at.items() if level < depth}
                in_headers, header_start, header_lines = not closing, offset, []
                continue
        if not in_headers:
            continue
        if line not in (b"\n", b"\r\n", b"\r"):
            if offset - header_start <= _MAX_HEADER_BLOCK:
                header_lines.append(line)
            continue
        kind, boundary = _structure(b"".join(header_lines))
        header_lines = []
        if kind == b"multipart" and boundary:
            open_at[boundary] = len(levels)
            levels.append(boundary)
            in_headers = False
        elif kind == b"message":  # an enclosed mail: its headers follow
            levels.append(None)
        else:
            in_headers = False
        if len(levels) > limit:
            return header_start
        header_start = offset
    return None


def _structure(block: bytes) -> tuple[bytes | None, bytes | None]:
    """The main type of a header block's Content-Type and its boundary, roughly as parsed."""
    match = _CONTENT_TYPE.search(_UNFOLD.sub(b" ", block))
    if match is None:
        return None, None
    kind, subtype, parameters = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if kind == b"message" and subtype == b"delivery-status":
        return None, None  # read as header blocks, not as an enclosed mail
    found = _BOUNDARY.search(parameters)
    if found is None:
        return kind, None
    boundary = found.group(1) if found.group(1) is not None else found.group(2)
    return kind, boundary.rstrip()


def children(part: Message) -> list[Message] | None:
    """A multipart's parts; a lost boundary parameter on its own line is put back first."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, str):
        return None
    first_line, _, rest = payload.lstrip("\r\n").partition("\n")
    if not first_line.strip().lower().startswith("boundary="):
        return None
    # "Content-Type: multipart/alternative;\nboundary=..." without indentation: the
    # boundary became the first body line. Parse the part again with it in place.
    repaired = email.message_from_string(
        f"Content-Type: {part.get_content_type()}; {first_line.strip()}\n\n{rest}",
        _class=MimePart,
        policy=email.policy.compat32,
    )
    parts = repaired.get_payload()
    return parts if isinstance(parts, list) and parts else None
