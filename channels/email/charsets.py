"""Text from bytes whatever charset a mail claims: declared, mislabelled or unknown."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# Names mail software writes that Python does not know, or knows as a narrower set.
ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "shift_jis",
    "iso-2022-jp": "iso2022_jp_ext",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-1": "cp1252",  # what "Latin-1" mail really is; a superset for printable text
    "latin1": "cp1252",
}


# Python codecs that read bytes into text but are no charset any mail could be in: they
# raise their own errors, warn, or turn "\x41" into "A" ("charset=unicode_escape").
NOT_CHARSETS = {
    "punycode",
    "idna",
    "unicode-escape",
    "raw-unicode-escape",
    "undefined",
    "charmap",
}


def codec_for(declared: str | None) -> str | None:
    """A codec Python knows for a declared charset, or None (read as undeclared then)."""
    if not declared:
        return None
    name = declared.strip().strip('"').lower()
    name = ALIASES.get(name, name)
    if not name:
        return None
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):  # unknown, or not a name at all ("utf8\x00")
        return None
    # base64, zlib, rot13 ... are codecs between bytes and bytes, or str and str
    if not getattr(codec, "_is_text_encoding", True) or codec.name in NOT_CHARSETS:
        return None
    return codec.name


# Raw 8-bit bytes in a header, kept by the parser as lone surrogates.
_RAW_BYTE = re.compile("[\udc80-\udcff]")


def decode_bytes(
    data: bytes, declared: str | None, *, fallback: str | None = None
) -> tuple[str, str | None]:
    """The text, and a notice when it could not be read as declared.

    `fallback` is a charset already detected for text of the same origin (all of a
    message's headers): used instead of detecting again when neither the declared
    charset nor UTF-8 reads the bytes.
    """
    if not data:
        return "", None
    codec = codec_for(declared)
    if codec:
        try:
            return data.decode(codec), None
        # UnicodeError too: a declared "codec" like punycode or idna fails its own way.
        except (UnicodeError, LookupError, ValueError):
            if codec == "cp1252":  # declared Latin-1, with bytes cp1252 leaves undefined
                return data.decode("latin-1"), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        return text, _mislabelled(declared, codec, "utf-8")
    guess = fallback or _guess(data)
    if guess:
        try:
            return data.decode(guess), _mislabelled(declared, codec, guess)
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("cp1252", errors="replace"), _mislabelled(declared, codec, "cp1252")


MULTIBYTE = {"gb18030", "big5", "cp932", "shift_jis", "euc_jp", "cp949", "euc_kr", "iso2022_jp"}


def _guess(data: bytes) -> str | None:
    """The detector's guess when it is a multi-byte (CJK) encoding; else Windows-1252.

    Among single-byte code pages a detector cannot tell short texts apart, and the
    mail Tresen reads is mostly Western European, where Windows-1252 is right.
    """
    best = from_bytes(data[:200_000]).best()
    if best is not None and best.encoding in MULTIBYTE:
        return best.encoding
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return best.encoding if best is not None else None


def _mislabelled(declared: str | None, codec: str | None, used: str) -> str | None:
    if codec in (None, "ascii") and declared in (None, "us-ascii", "ascii"):
        return None  # undeclared or plain ASCII labels on 8-bit text are too common to mention
    return f"text declared as {declared!r} was read as {used}"


def needs_detection(data: bytes, declared: str | None) -> bool:
    """True when neither the declared charset nor UTF-8 reads the bytes."""
    for codec in (codec_for(declared), "utf-8"):
        if codec:
            try:
                data.decode(codec)
                return False
            except (UnicodeError, LookupError, ValueError):
                pass
    return True


def detect(data: bytes) -> str:
    """One charset for a sample of 8-bit text that is not UTF-8 (a multi-byte guess or cp1252)."""
    return _guess(data[:20_000]) or "cp1252"


def has_raw_bytes(value: str) -> bool:
    """Whether a header value holds raw 8-bit bytes."""
    return _RAW_BYTE.search(value) is not None


def raw_bytes(value: str) -> bytes:
    """A header value as the bytes that came (its raw 8-bit bytes restored)."""
    return value.encode("utf-8", "surrogateescape")


def repair_header(value: str, fallback: str | None = None) -> str:
    """A header value with raw 8-bit bytes (kept as surrogates by the parser) made readable.

    `fallback`: the charset detected once for all of a message's headers; without it
    the value is detected on its own (costly: a mail of 10,000 such lines must pass one).
    """
    if not has_raw_bytes(value):
        return value
    try:
        data = raw_bytes(value)
    except UnicodeEncodeError:  # a surrogate that is no byte: nothing to restore
        return value.encode("utf-8", "replace").decode("utf-8")
    text, _notice = decode_bytes(data, None, fallback=fallback)
    return text
