"""The UI's languages: gettext catalogues (Babel), dates in the reader's locale and timezone.

The catalogue is `tresen/locale/<language>/LC_MESSAGES/messages.po` (`scripts/messages`
extracts new strings into it); catalogues are compiled in memory when first used, so
there is no build step to forget.
The language and timezone of whoever is being answered live in a context variable, set
per request or websocket, so templates, filters and Python code read the same.
"""

from __future__ import annotations

import contextvars
import io
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEZONE = "Europe/Berlin"

_current: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "tresen_locale", default=(DEFAULT_LANGUAGE, DEFAULT_TIMEZONE)
)
# The UI's catalogue (every room's UI text).
_catalogue_dirs: list[Path] = [Path(__file__).parent / "locale"]


@cache
def _translations(language: str) -> NullTranslations:
    merged: NullTranslations | None = None
    for folder in _catalogue_dirs:
        po = folder / language / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            continue
        with po.open("rb") as handle:
            catalogue = read_po(handle, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalogue)
        compiled.seek(0)
        loaded = Translations(compiled)
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    return merged or NullTranslations()


def pick_language(wanted: str | None, accept_language: str | None = None) -> str:
    """The user's language if we speak it, else the browser's first one we speak."""
    if wanted in LANGUAGES:
        return wanted
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def valid_timezone(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@contextmanager
def using(language: str, timezone: str | None = None):
    """Answer in this language and timezone within the block."""
    zone = timezone if valid_timezone(timezone) else DEFAULT_TIMEZONE
    token = _current.set((language if language in LANGUAGES else DEFAULT_LANGUAGE, zone))
    try:
        yield
    finally:
        _current.reset(token)


def activate(language: str, timezone: str | None = None) -> None:
    """Answer in this language and timezone for the rest of this task (a request, a socket)."""
    zone = timezone if valid_timezone(timezone) else DEFAULT_TIMEZONE
    _current.set((language if language in LANGUAGES else DEFAULT_LANGUAGE, zone))


def language() -> str:
    return _current.get()[0]


def timezone() -> ZoneInfo:
    return ZoneInfo(_current.get()[1])


def translate(message: str) -> str:
    """The message in the current language, unformatted (templates format it)."""
    return _translations(language()).ugettext(message)


def translate_plural(singular: str, plural: str, count: int) -> str:
    return _translations(language()).ungettext(singular, plural, count)


def gettext(message: str, **values) -> str:
    """The message in the current language, with %(name)s placeholders filled."""
    text = translate(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, count: int, **values) -> str:
    values.setdefault("num", count)
    return translate_plural(singular, plural, count) % values


_ = gettext


def when(value: datetime | None, style: str = "medium") -> str:
    """A date and time in the reader's timezone and locale ("24.11.2026, 10:05")."""
    if value is None:
        return ""
    formats = {"medium": "short", "long": "medium"}
    return format_datetime(
        value, formats.get(style, style), tzinfo=timezone(), locale=Locale.parse(language())
    )


def clock_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_time(value, "short", tzinfo=timezone(), locale=Locale.parse(language()))
