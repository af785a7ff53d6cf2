"""The one spelling of an email address Tresen stores and compares."""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email


class EmailAddressError(ValueError):
    pass


@functools.lru_cache(maxsize=8192)
def normalize_email(raw: str) -> str:
    """Validated and lower-cased; intranet and test domains (.test) are allowed."""
    # Cached: customers write again and again, and validation is costly.
    try:
        result = validate_email(
            raw.strip(),
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
        )
    except EmailNotValidError as error:
        raise EmailAddressError(f"{raw!r} is not a valid email address: {error}") from None
    return result.normalized.lower()
