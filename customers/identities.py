"""Normalizing identities: one spelling per email, phone number or handle (pure functions).

Which kinds exist and how each is spelled is the channels' word (tresen.channel): email and
phone always, and whatever kinds the registered channels reach customers by.
"""

from __future__ import annotations

from tresen.channel import IdentityValueError, identity_kinds


class IdentityError(ValueError):
    """An identity value that cannot be normalized; the message says why."""


def kind_names() -> tuple[str, ...]:
    """The identity kinds a customer record may hold."""
    return tuple(identity_kinds())


def normalize_identity(kind: str, raw: str, *, default_region: str = "DE") -> str:
    """The stored form of an identity value of this kind."""
    known = identity_kinds().get(kind)
    if known is None:
        raise IdentityError(f"identity kind {kind!r} is not one of {', '.join(kind_names())}")
    value = (raw or "").strip()
    if not value:
        raise IdentityError(f"{kind} identity value is empty")
    try:
        return known.normalize(value, default_region)
    except (IdentityValueError, ValueError) as error:
        raise IdentityError(str(error)) from None


def search_form(kind: str, value: str) -> str:
    """What a search matches against: digits for phones, the value otherwise."""
    known = identity_kinds().get(kind)
    return known.search_form(value) if known else value.lower()


def name_from_identity(kind: str, value: str) -> str:
    """A display name when the sender gave none: 'anna.schmidt' for anna.schmidt@x.de."""
    if kind == "email":
        return value.split("@", 1)[0]
    return value
