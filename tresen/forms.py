"""Reading what a person typed into a form: one parser per kind of value, errors as 400s."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from tresen.ids import parse_id, parse_whole_number


def _optional(raw, parse, what: str, kind: str) -> int | None:
    raw = str(raw or "").strip()
    if not raw:
        return None
    number = parse(raw)
    if number is None:
        raise HTTPException(400, f"{what} {raw!r} is not {kind}")
    return number


def optional_int(raw, what: str = "id") -> int | None:
    """A form's whole number, None when left empty; anything else is a 400 naming it."""
    return _optional(raw, parse_whole_number, what, "a whole number")


def optional_id(raw, what: str = "id") -> int | None:
    """A form's or query string's id, None when left empty; anything else is a 400 naming it."""
    return _optional(raw, parse_id, what, "an id")
