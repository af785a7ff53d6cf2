"""The chat channel as the rest of Tresen sees it: one `Channel` value."""

from __future__ import annotations

from pathlib import Path

from channels.chat import admin, api, cli, personal_data, public, sessions
from channels.chat.send import reply_address, send
from tresen.channel import Channel, IdentityKind, Threading

# A chat visitor: "visitor:<id>" (anonymous, from the widget's token) or
# "user:<channel id>:<user id>" (a site's signed-in user, vouched for by an HMAC).
CHAT = IdentityKind("chat", {"en": "Chat", "de": "Chat"})

channel = Channel(
    name="chat",
    labels={"en": "Chat", "de": "Chat"},
    identity_kinds=(CHAT,),
    # A chat session is one conversation: its id threads it, nothing else does.
    threading=Threading(ticket_number=False, references=False, conversation=True),
    acknowledgement="none",
    send=send,
    live=True,
    bot=True,
    routes=public.routes,
    api_routers=(api.router,),
    admin_page=("/admin/chat", {"en": "Chat settings", "de": "Chat-Einstellungen"}),
    admin_routes=admin.admin_routes,
    templates=str(Path(__file__).parent / "templates"),
    cli=(cli,),
    models=("channels.chat.models",),
    events=("channels.chat.events",),
    sealed=(("chat_channels", ("identity_secret",)),),
    page_snippet=sessions.page_snippet,
    mark_read=sessions.mark_read,
    reply_address=reply_address,
    personal_data=personal_data.holder,
)
