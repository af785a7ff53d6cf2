"""Text from bytes whatever charset a mail claims: declared, mislabelled or unknown."""

from __future__ import annotations

import codecs

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


def codec_for(declared: str | None) -> str | None:
    """A codec Python knows for a declared charset, or None."""
    if not declared:
        return None
    name = declared.strip().strip('"').lower()
    name = ALIASES.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """The text, and a notice when it could not be read as declared."""
    if not data:
        return "", None
    codec = codec_for(declared)
    if codec:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            if codec == "cp1252":  # declared Latin-1, with bytes cp1252 leaves undefined
                return data.decode("latin-1"), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        return text, _mislabelled(declared, codec, "utf-8")
    guess = _guess(data)
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


def repair_header(value: str) -> str:
    """A header value with raw 8-bit bytes (kept as surrogates by the parser) made readable."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    text, _notice = decode_bytes(data, None)
    return text
