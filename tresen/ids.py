"""Ids and whole numbers from outside (paths, query strings, forms): one parser for all.

`str.isdigit()` accepts "²" and "①" (which `int()` then refuses) and any number of digits
(which the database refuses past its column's width): both were 500s. An id here is ASCII
digits naming at most MAX_ID, the largest value an id column holds (INTEGER, 32 bits, on
PostgreSQL); anything else is not an id (a 404 in a path, a 400 or 422 elsewhere).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field
from starlette.convertors import Convertor, register_url_convertor

# What an INTEGER column holds on PostgreSQL (ids, positions, minutes, capacities).
MAX_ID = 2**31 - 1
MAX_INT = 2**31 - 1


def _up_to(limit: int) -> str:
    """A regular expression for the numbers 0..limit in ASCII digits, no longer than limit
    is written: what a route's `{id:int}` matches."""
    digits = str(limit)
    options = [f"[0-9]{{1,{len(digits) - 1}}}"]
    for index, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - index - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            options.append(f"{digits[:index]}[0-{int(digit) - 1}]{tail}")
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


ID_PATTERN = _up_to(MAX_ID)
_ID = re.compile(ID_PATTERN)
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,10}")

# An id in a JSON body (beyond MAX_ID the database raised: a 500).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Any other whole number a body gives for an INTEGER column (a position, a capacity).
Int32 = Annotated[int, Field(ge=-MAX_INT - 1, le=MAX_INT)]


def parse_id(raw: object) -> int | None:
    """The id `raw` spells (ASCII digits, at most MAX_ID), or None when it is not one."""
    text = raw.strip() if isinstance(raw, str) else ""
    return int(text) if _ID.fullmatch(text) else None


def is_id(raw: object) -> bool:
    return parse_id(raw) is not None


def parse_whole_number(raw: object) -> int | None:
    """A whole number an INTEGER column holds (an optional minus, ASCII digits), or None."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _WHOLE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if -MAX_INT - 1 <= number <= MAX_INT else None


class IdConvertor(Convertor[int]):
    """`{name:int}` in a route: only what parse_id takes matches, anything longer is a 404."""

    regex = ID_PATTERN

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        value = int(value)
        assert value >= 0, "Negative integers are not supported"
        return str(value)


def register_path_convertor() -> None:
    """Make `{name:int}` the digit-limited id; routes compile their pattern when made, so
    this runs when the tresen package is imported, before any room builds a route."""
    register_url_convertor("int", IdConvertor())
