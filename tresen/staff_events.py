"""What happens to staff accounts and their notifications: the payload of each event."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class UserCreated(Payload, type="user.created"):
    user_id: int


@dataclass(frozen=True)
class UserUpdated(Payload, type="user.updated"):
    user_id: int


@dataclass(frozen=True)
class UserSessionsEnded(Payload, type="user.sessions_ended"):
    """Every session the user had ends (sign-out, deactivation, a new password): open live
    sockets close too."""

    user_id: int


@dataclass(frozen=True)
class UserSocketsRefused(Payload, type="user.sockets_refused"):
    """The user's open live sockets close, their session stays: the desk now requires
    two-factor sign-in and they have not set it up (their pages go to the set-up)."""

    user_id: int


@dataclass(frozen=True)
class NotificationCreated(Payload, type="notification.created"):
    user_id: int
    kind: str
    ticket_id: int | None = None
    notification_id: int | None = None
    email: bool = False  # a copy by mail is wanted

    def key(self) -> str | None:
        return f"notification.created:{self.notification_id}" if self.notification_id else None


@dataclass(frozen=True)
class NotificationsRead(Payload, type="notifications.read"):
    user_id: int
