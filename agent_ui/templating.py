"""Jinja2 templates for the console, with the signed-in user and CSRF token in reach."""

from __future__ import annotations

import re
from pathlib import Path

from babel.dates import get_day_names
from babel.numbers import format_decimal
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from agent_ui.filters import channel_names
from routing.status import target_name
from tickets.bot_messages import handoff_note, reason_text
from tresen import channel as channel_registry
from tresen import i18n
from tresen.auth import CSRF_FIELD, csrf_token
from tresen.i18n import _

HERE = Path(__file__).parent


def _context(request: Request) -> dict:
    user = getattr(request.state, "user", None)
    if user is None:  # signed-in users' language is set with the session (tresen.auth)
        i18n.activate(i18n.pick_language(None, request.headers.get("accept-language")))
    return {
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "csrf_field": CSRF_FIELD,
        "current_user": user,
        "ui_language": i18n.language(),
    }


class ChannelTemplates(BaseLoader):
    """The channels' own page templates (their settings pages), found in the folder each
    registered channel names, looked up when asked (a channel may register late)."""

    def get_source(self, environment, template):
        for channel in channel_registry.channels():
            if channel.templates:
                try:
                    return FileSystemLoader(channel.templates).get_source(environment, template)
                except TemplateNotFound:
                    continue
        raise TemplateNotFound(template)


def channel_admin_pages() -> list[tuple[str, str]]:
    """(path, label) of each channel's settings page, for the admin menu."""
    return [
        (channel.admin_page[0], channel.admin_page[1].get(i18n.language(), channel.name))
        for channel in channel_registry.channels()
        if channel.admin_page
    ]


templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader([FileSystemLoader(HERE / "templates"), ChannelTemplates()]),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    ),
    context_processors=[_context],
)
templates.env.install_gettext_callables(i18n.translate, i18n.translate_plural, newstyle=True)
templates.env.filters["when"] = i18n.when

_CID = re.compile(r"""(src=["'])cid:([^"']+)(["'])""", re.IGNORECASE)


def inline_images(message) -> Markup:
    """The message's (sanitized) HTML with cid: images pointing at its attachments."""
    by_cid = {a.content_id: a.id for a in message.attachments if a.content_id}

    def point(match: re.Match) -> str:
        attachment_id = by_cid.get(match.group(2))
        if attachment_id is None:
            return match.group(0)
        return f"{match.group(1)}/messages/{message.id}/attachments/{attachment_id}{match.group(3)}"

    return Markup(_CID.sub(point, message.html or ""))


def filesize(size: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"


templates.env.filters["inline_images"] = inline_images


def duration(value) -> str:
    """Time left as "2 h 5 min left", or "overdue by 10 min" (German: "noch 2 h 5 min")."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    late = seconds < 0
    minutes = abs(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    text = " ".join(parts)
    return _("overdue by %(time)s", time=text) if late else _("%(time)s left", time=text)


templates.env.filters["duration"] = duration
templates.env.filters["filesize"] = filesize


def decimal(value: float) -> str:
    """A number as the reader writes it ("0,5128" in German), up to six decimals."""
    return format_decimal(value, format="0.######", locale=i18n.language())


templates.env.filters["decimal"] = decimal


def render_fragment(name: str, **context) -> str:
    """A template rendered outside a request (live updates over the websocket)."""
    return templates.env.get_template(name).render(**context)


def state_label(state: str) -> str:
    labels = {
        "new": _("new"),
        "open": _("open"),
        "pending": _("pending"),
        "on_hold": _("on hold"),
        "solved": _("solved"),
        "closed": _("closed"),
        "bot": _("With the bot"),
    }
    return labels.get(state, state)


def priority_label(priority: str) -> str:
    labels = {"low": _("low"), "normal": _("normal"), "high": _("high"), "urgent": _("urgent")}
    return labels.get(priority, priority)


def channel_label(channel: str) -> str:
    """The channel's name in the reader's language, as the channel gives it."""
    return channel_registry.describe(channel).label(i18n.language())


def presence_label(presence: str) -> str:
    labels = {"online": _("online"), "away": _("away"), "offline": _("offline")}
    return labels.get(presence, presence)


def sla_state_label(state: str) -> str:
    labels = {
        "running": _("running"),
        "warning": _("due soon"),
        "overdue": _("overdue"),
        "paused": _("paused"),
        "met": _("met"),
        "breached": _("breached"),
    }
    return labels.get(state, state)


def tier_label(tier: str) -> str:
    return {"standard": _("Standard"), "premium": _("Premium"), "vip": _("VIP")}.get(tier, tier)


def identity_label(kind: str) -> str:
    """What an identity kind is called (Email, Phone, WhatsApp) in the reader's language."""
    known = channel_registry.identity_kinds().get(kind)
    return known.label(i18n.language()) if known else kind


def data_request_status(status: str) -> str:
    labels = {
        "pending": _("waiting"),
        "done": _("erased"),
        "rejected": _("declined"),
        "withdrawn": _("withdrawn"),
        "all": _("all"),
    }
    return labels.get(status, status)


def data_request_source(source: str) -> str:
    labels = {
        "portal": _("the customer (portal)"),
        "agent": _("an agent"),
        "api": _("the API"),
        "import": _("an import"),
    }
    return labels.get(source, source)


def consent_label(key: str) -> str:
    labels = {
        "service_mail": _("Service e-mails"),
        "marketing": _("Marketing"),
        "email_marketing": _("Marketing by email"),
        "sms": _("Text messages"),
        "phone_calls": _("Phone calls"),
        "data_processing": _("Data processing"),
    }
    return labels.get(key, key.replace("_", " "))


def macro_action_label(key: str, value) -> str:
    if key == "state":
        return _("state %(state)s", state=state_label(value))
    if key == "priority":
        return _("priority %(priority)s", priority=priority_label(value))
    if key == "add_tags":
        return _("tags +%(tags)s", tags=", +".join(value))
    if key == "remove_tags":
        return _("tags −%(tags)s", tags=", −".join(value))
    return f"{key} {value}"


def age(value) -> str:
    """How long something has waited: "3 d 4 h", "2 h 5 min", "12 min"."""
    minutes = max(0, int(value.total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def visibility_label(visibility: str) -> str:
    labels = {"public": _("public"), "internal": _("internal"), "draft": _("draft")}
    return labels.get(visibility, visibility)


def weekday_label(index: int) -> str:
    """Mon..Sun (0..6) abbreviated in the reader's language."""
    return get_day_names("abbreviated", locale=i18n.language())[index]


templates.env.globals.update(
    weekday_label=weekday_label,
    visibility_label=visibility_label,
    age=age,
    tier_label=tier_label,
    identity_label=identity_label,
    consent_label=consent_label,
    data_request_status=data_request_status,
    data_request_source=data_request_source,
    macro_action_label=macro_action_label,
    sla_target_label=target_name,
    sla_state_label=sla_state_label,
    state_label=state_label,
    priority_label=priority_label,
    channel_label=channel_label,
    channel_admin_pages=channel_admin_pages,
    channel_names=channel_names,
    presence_label=presence_label,
    bot_reason=reason_text,
    handoff_note=handoff_note,
)
