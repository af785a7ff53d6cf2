"""Reading the mail accounts for the console."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.email.models import MailAccount


async def accounts_by_address(session: AsyncSession) -> list[MailAccount]:
    return list(await session.scalars(select(MailAccount).order_by(MailAccount.address)))
