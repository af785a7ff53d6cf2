"""The portal channel as the rest of Tresen sees it: one `Channel` value.

Customers signed in to the portal write here (a new request, a reply on one of their
tickets); the portal hands each message to the inbox like any channel does
(`channels.portal.inbound`). Agents' replies go out by e-mail with a link back to the
ticket in the portal (`channels.portal.send`).
"""

from __future__ import annotations

from channels.portal.send import new_external_id, send
from tresen import channel as channel_registry
from tresen.channel import EMAIL, Channel, Threading


async def sending_problem(session) -> dict | None:
    """Replies wait when mail cannot go out (the email channel says why)."""
    email = channel_registry.get("email")
    if email is None or email.send is None:
        return {
            "en": "Portal replies go out by e-mail, and no email channel is set up.",
            "de": "Antworten im Portal gehen per E-Mail hinaus; es ist kein E-Mail-Kanal "
            "eingerichtet.",
        }
    return await email.sending_problem(session) if email.sending_problem else None


channel = Channel(
    name="portal",
    labels={"en": "Customer portal", "de": "Kundenportal"},
    # A signed-in customer writes as their record's e-mail address; replies go there.
    identity_kinds=(EMAIL,),
    # Only the ticket number threads, and only a number the portal put there itself (a
    # reply on a ticket the customer may see): a new request never threads (see
    # inbound.new_request), whatever its subject says.
    threading=Threading(ticket_number=True, references=False, conversation=False),
    # The confirmation of a new ticket (when its queue wants one) is a mail of its own.
    acknowledgement="message",
    send=send,
    new_external_id=new_external_id,
    sending_problem=sending_problem,
)
