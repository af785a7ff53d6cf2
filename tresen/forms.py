"""Reading what a person typed into a form: one parser per kind of value, errors as 400s."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from tresen.ids import parse_id, parse_whole_number


def optional_int(raw, what: str = "id") -> int | None:
    """A form's whole number, None when left empty; anything else is a 400 naming it."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    number = parse_whole_number(raw)
    if number is None:
        raise HTTPException(400, f"{what} {raw!r} is not a whole number")
    return number


def optional_id(raw, what: str = "id") -> int | None:
    """A form's or query string's id, None when left empty; anything else is a 400 naming it."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    ident = parse_id(raw)
    if ident is None:
        raise HTTPException(400, f"{what} {raw!r} is not an id")
    return ident
