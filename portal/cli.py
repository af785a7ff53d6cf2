"""`tresen portal link EMAIL`: a sign-in link to the portal for the customer with this
address, printed alone on the last line (for support on the phone, and for tests)."""

from __future__ import annotations

import asyncio
import sys

from customers.actions import CustomerError
from customers.portal_access import issue_link, mail_link
from tresen.email_address import EmailAddressError

COMMAND = "portal"


def add_commands(commands) -> None:
    portal = commands.add_parser(COMMAND, help="the customer portal: sign-in links")
    actions = portal.add_subparsers(dest="action", required=True, parser_class=portal.__class__)
    link = actions.add_parser(
        "link", help="a single-use sign-in link for the customer with this e-mail address"
    )
    link.add_argument("email")
    link.add_argument(
        "--mail", action="store_true", help="also mail it to the address, as the portal does"
    )


async def _link(runtime, email: str, mail: bool):
    async with runtime.transaction() as tx:
        make = mail_link if mail else issue_link
        return await make(tx, email, source="cli")


def run(args, settings, with_runtime) -> int:
    try:
        link = asyncio.run(with_runtime(settings, lambda rt: _link(rt, args.email, args.mail)))
    except (EmailAddressError, CustomerError) as error:
        print(f"tresen: error: {args.email!r}: {error}", file=sys.stderr)
        return 2
    if link is None:
        print(f"tresen: error: no customer has the e-mail address {args.email!r}", file=sys.stderr)
        return 2
    print(
        f"sign-in link for customer {link.customer_id} ({link.email}), valid until "
        f"{link.expires_at:%Y-%m-%d %H:%M} UTC, once:"
    )
    print(link.url)
    return 0
