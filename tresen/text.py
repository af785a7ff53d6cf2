"""Text from outside, made storable: one rule for API bodies, inbound messages, query strings
and forms.

- NUL (U+0000) is removed. PostgreSQL stores no NUL in text or JSON (a 500 there, while
  SQLite took it), and no person means one; removing it loses nothing anyone could see.
- A lone surrogate (U+D800-U+DFFF alone, which JSON's "\\ud800" can spell) is refused with
  a 422 naming the field: it is no character, neither database can store it as UTF-8, and a
  client that sends one has a bug it should hear about rather than find its text changed.

API body models use `Text` for their strings, `JsonValue` where they take any JSON and
`Moment` for dates (with a timezone, and one UTC can hold);
query strings and form fields pass the middleware `StripNul` (tresen/app.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from starlette.datastructures import FormData
from starlette.responses import PlainTextResponse

NUL = "\x00"


def storable(value: str) -> str:
    """`value` without NUL; ValueError naming the position of a lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"contains a lone surrogate (U+{ord(value[error.start]):04X} at {error.start}), "
            "which is not a character"
        ) from None
    return value.replace(NUL, "") if NUL in value else value


def storable_tree(value: Any) -> Any:
    """Every string (keys too) in a JSON value made storable; ValueError names where."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_at(index, item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {_at(key, key): _at(key, item) for key, item in value.items()}
    return value


def _at(where, value: Any) -> Any:
    try:
        return storable_tree(value)
    except ValueError as error:
        raise ValueError(f"[{where!r}] {error}") from None


def storable_moment(value: datetime) -> datetime:
    """A moment with its timezone, in UTC; ValueError for a naive one or one that does not
    exist in UTC (year 1 or 9999 with an offset overflowed when stored: a 500)."""
    if value.tzinfo is None:
        raise ValueError("needs a timezone (e.g. 2026-11-22T10:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range") from None


Text = Annotated[str, AfterValidator(storable)]
JsonValue = Annotated[Any, AfterValidator(storable_tree)]
Moment = Annotated[datetime, AfterValidator(storable_moment)]


def without_nul(form: FormData) -> FormData:
    """A form with NUL removed from its field names and text values (files stay as sent)."""
    if not any(NUL in name or NUL in value for name, value in _texts(form)):
        return form
    return FormData(
        [
            (name.replace(NUL, ""), value.replace(NUL, "") if isinstance(value, str) else value)
            for name, value in form.multi_items()
        ]
    )


def _texts(form: FormData):
    return ((n, v) for n, v in form.multi_items() if isinstance(v, str))


_NUL_IN_QUERY = re.compile(rb"%00|\x00")


class StripNul:
    """Middleware: NUL (sent as %00) removed from every query string before a route reads it,
    and a path holding one answered 404 (no route's name or file name has one).

    Forms are cleaned where they are read (`auth.verified_form`), JSON bodies by `Text`.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if NUL in scope.get("path", ""):
            response = PlainTextResponse("not found: the path holds a NUL character", 404)
            if scope["type"] == "http":
                return await response(scope, receive, send)
            return await send({"type": "websocket.close", "code": 1008})
        query = scope.get("query_string", b"")
        if _NUL_IN_QUERY.search(query):
            # Until none is left: removing one may join its neighbours into another
            # ("%%0000" → "%00").
            while _NUL_IN_QUERY.search(query):
                query = _NUL_IN_QUERY.sub(b"", query)
            scope = {**scope, "query_string": query}
        await self.app(scope, receive, send)
