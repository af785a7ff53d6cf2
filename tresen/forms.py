"""Reading what a person typed into a form: one parser per kind of value, errors as 400s."""

from __future__ import annotations

from starlette.exceptions import HTTPException


def optional_int(raw, what: str = "id") -> int | None:
    """A form's whole number, None when left empty; anything else is a 400 naming it."""
    raw = str(raw or "").strip()
    if not raw:
        return None
    if not raw.lstrip("-").isdigit():
        raise HTTPException(400, f"{what} {raw!r} is not a whole number")
    return int(raw)
