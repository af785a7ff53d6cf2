"""`tresen two-factor off EMAIL`: for a lost phone and lost recovery codes."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import select

from tresen.accounts import AccountError, normalize_staff_email

COMMAND = "two-factor"


def add_commands(commands) -> None:
    parser = commands.add_parser(COMMAND, help="staff's two-factor sign-in")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=parser.__class__)
    off = actions.add_parser(
        "off", help="turn off a user's two-factor sign-in (they set it up again after)"
    )
    off.add_argument("email")


async def _off(runtime, email: str) -> str:
    from tresen import totp
    from tresen.models import User

    email = normalize_staff_email(email)
    async with runtime.read() as session:
        user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        raise AccountError(f"no user with email {email!r}")
    if not totp.is_enrolled(user):
        return f"two-factor sign-in of {email} was off already"
    await totp.disable(runtime, user.id)
    return f"two-factor sign-in of {email} is off; they sign in with their password alone"


def run(args, settings, with_runtime) -> int:
    try:
        said = asyncio.run(with_runtime(settings, lambda runtime: _off(runtime, args.email)))
    except AccountError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    print(said)
    return 0
