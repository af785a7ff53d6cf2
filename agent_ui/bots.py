"""The bot in the console: each conversational channel's bot settings (admins), the bot's
part of a ticket page (its banner and "Take over from the bot"), and the supervisors'
weekly bot report with the questions it could not answer."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.templating import templates
from bots import queries as bot_queries
from bots import rasa_rest, report
from bots.reasons import handoff_reasons
from bots.settings import (
    DEFAULT_TIMEOUT,
    all_settings,
    bot_channels,
    calibrated_threshold,
    handed_over_notice,
    is_bot_channel,
    save_settings,
    settings_of,
    validate,
)
from bots.takeover import take_over
from bots.trial import trial
from knowledge_base.feedback import gaps
from tickets.actions import Actor
from tickets.bot_messages import BOT, reason_text
from tresen import auth, i18n
from tresen.i18n import _
from tresen.runtime import ActionError

PAGE = "/admin/bots"
REPORT_WEEKS = 8
GAPS_SHOWN = 20
TEST_MESSAGE = "hello"  # what "Test connection" sends the assistant
TEST_SENDER = "tresen-connection-test"
TRY_CHARS = 2000  # a question to try, as a customer's message is cut (bots.decision)


def _shown(row) -> dict:
    """A saved bot's settings as the form shows them (numbers as text)."""
    return {
        "enabled": bool(row.enabled),
        "engine": row.engine,
        "name": row.name,
        "greeting_en": row.greeting_en or "",
        "greeting_de": row.greeting_de or "",
        "languages": list(row.languages or []),
        "threshold": "" if row.threshold is None else f"{row.threshold:g}",
        "hours": row.hours,
        "rasa_url": row.rasa_url or "",
        "rasa_timeout": f"{row.rasa_timeout:g}",
    }


def _typed(form) -> dict:
    """What the administrator typed, as typed (shown again when it cannot be saved)."""
    return {
        "enabled": form.get("enabled") == "on",
        "engine": str(form.get("engine") or ""),
        "name": str(form.get("name") or ""),
        "greeting_en": str(form.get("greeting_en") or ""),
        "greeting_de": str(form.get("greeting_de") or ""),
        "languages": [str(item) for item in form.getlist("languages")],
        "threshold": str(form.get("threshold") or ""),
        "hours": str(form.get("hours") or ""),
        "rasa_url": str(form.get("rasa_url") or ""),
        "rasa_timeout": str(form.get("rasa_timeout") or ""),
    }


def _number(field: str, raw: str, empty):
    """A typed number ("0.7" or the German "0,7"); `empty` when left blank."""
    raw = raw.strip().replace(",", ".")
    if not raw:
        return empty
    try:
        return float(raw)
    except ValueError:
        raise ActionError(field, _("%(value)s is not a number", value=repr(raw[:40]))) from None


def values_from(typed: dict) -> dict:
    """The typed form as save_settings takes it (the form holds every field)."""
    return {
        "enabled": typed["enabled"],
        "engine": typed["engine"],
        "name": typed["name"],
        "greeting_en": typed["greeting_en"],
        "greeting_de": typed["greeting_de"],
        "languages": typed["languages"],
        "threshold": _number("threshold", typed["threshold"], None),
        "hours": typed["hours"],
        "rasa_url": typed["rasa_url"].strip() or None,
        "rasa_timeout": _number("rasa_timeout", typed["rasa_timeout"], DEFAULT_TIMEOUT),
    }


async def _admin_page(
    request: Request,
    *,
    typed: dict | None = None,
    error: dict | None = None,
    tested: dict | None = None,
    tried: dict | None = None,
    status_code: int = 200,
) -> Response:
    async with request.app.state.runtime.read() as session:
        saved = await all_settings(session)
    language = i18n.language()
    forms = []
    for channel in bot_channels():
        row = saved[channel.name]
        forms.append(
            {
                "channel": channel.name,
                "label": channel.label(language),
                "on": bool(row.enabled),
                # The bot writes back on the channel: one that cannot send yet waits for it.
                "cannot_send": channel.send is None,
                "values": (typed or {}).get(channel.name) or _shown(row),
                "error": error if error and error["channel"] == channel.name else None,
                "tested": tested if tested and tested["channel"] == channel.name else None,
            }
        )
    return templates.TemplateResponse(
        request,
        "bots_admin.html",
        {
            "forms": forms,
            "languages": i18n.LANGUAGES,
            "calibrated": calibrated_threshold(),
            "notice": request.session.pop("flash", None),
            "tried": tried,
        },
        status_code=status_code,
    )


def _bot_channel(request: Request) -> str:
    channel = request.path_params["channel"]
    if not is_bot_channel(channel):
        raise HTTPException(404, f"{channel[:30]!r} is not a channel a bot answers on")
    return channel


async def bots_admin(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _admin_page(request)


async def save_bot(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    channel = _bot_channel(request)
    typed = _typed(form)
    try:
        values = values_from(typed)
        async with request.app.state.runtime.transaction() as tx:
            saved = await save_settings(tx, channel, values)
    except ActionError as error:
        return await _admin_page(
            request,
            typed={channel: typed},
            error={"channel": channel, "field": error.field, "text": str(error)},
            status_code=422,
        )
    label = next(item.label(i18n.language()) for item in bot_channels() if item.name == channel)
    request.session["flash"] = " ".join(
        part
        for part in (
            _("The bot for %(channel)s was saved.", channel=label),
            handed_over_notice(getattr(saved, "handed_over", 0) or 0),
        )
        if part
    )
    return RedirectResponse(f"{PAGE}#bot-{channel}", status_code=303)


async def test_connection(request: Request) -> Response:
    """Send the assistant a test message with the URL and timeout as typed (not saved)."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    channel = _bot_channel(request)
    typed = _typed(form)
    try:
        url = typed["rasa_url"].strip()
        if not url:
            raise ActionError("rasa_url", _("A Rasa assistant needs its URL"))
        # The URL and timeout checked as a save would check them (the rest is not sent).
        timeout = _number("rasa_timeout", typed["rasa_timeout"], DEFAULT_TIMEOUT)
        checked = validate({"rasa_url": url, "rasa_timeout": timeout})
    except ActionError as error:
        return await _admin_page(
            request,
            typed={channel: typed},
            error={"channel": channel, "field": error.field, "text": str(error)},
            status_code=422,
        )
    try:
        replies = await rasa_rest.ask(
            checked["rasa_url"],
            sender=TEST_SENDER,
            message=TEST_MESSAGE,
            timeout=checked["rasa_timeout"],
        )
    except rasa_rest.AssistantUnavailable as failure:
        tested = {"channel": channel, "ok": False, "text": str(failure)[:300]}
    else:
        texts = [reply.text for reply in replies if reply.text]
        tested = {"channel": channel, "ok": True, "text": " ".join(texts)}
    return await _admin_page(request, typed={channel: typed}, tested=tested)


def _percent(value: float | None) -> int | None:
    return None if value is None else round(100 * value)


async def try_bot(request: Request) -> Response:
    """What the FAQ bot would answer to a question under a channel's settings, how sure it
    is and which articles it weighed: for tuning the threshold. Nothing is written."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    asked = {
        "question": str(form.get("question") or "").strip(),
        "lang": str(form.get("lang") or ""),
        "channel": str(form.get("channel") or ""),
    }
    if not asked["question"]:
        problem = _("Type a question as a customer would ask it.")
    elif len(asked["question"]) > TRY_CHARS:
        problem = _("A question has at most %(num)d characters.", num=TRY_CHARS)
    elif asked["lang"] not in ("", *i18n.LANGUAGES):
        problem = _("%(value)s is not a language the bot speaks.", value=repr(asked["lang"][:20]))
    elif not is_bot_channel(asked["channel"]):
        problem = _(
            "%(value)s is not a channel a bot answers on.", value=repr(asked["channel"][:30])
        )
    else:
        problem = None
    if problem is not None:
        return await _admin_page(
            request, tried={"asked": asked, "problem": problem}, status_code=400
        )
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        settings = await settings_of(session, asked["channel"])
    result = await trial(runtime, asked["question"], asked["lang"] or None, settings)
    decision = result.decision
    return await _admin_page(
        request,
        tried={
            "asked": asked,
            "decision": decision,
            "reason": reason_text(decision.reason) if decision.reason else None,
            "mode": result.mode,
            "sure": _percent(result.sure),
            "threshold": _percent(result.threshold),
            "candidates": result.candidates,
            "engine": settings.engine,
        },
    )


async def bot_name(session, channel: str) -> str:
    """The name a channel's bot shows customers (its messages on a ticket page)."""
    return (await settings_of(session, channel)).name


async def ticket_context(session, ticket) -> dict:
    """What the ticket page shows of the bot: its name, and its conversation (the banner)."""
    conversation = await bot_queries.conversation_of(session, ticket.id)
    if conversation is None and ticket.state != BOT:
        return {"bot_name": None, "bot": None}
    return {
        "bot_name": await bot_name(session, ticket.channel),
        "bot": {
            "answering": ticket.state == BOT,
            "outcome": conversation.outcome if conversation else None,
            "reason": reason_text(conversation.handoff_reason) if conversation else None,
            "answers": conversation.answers if conversation else 0,
        },
    }


async def take_over_ticket(request: Request) -> Response:
    """An agent takes the conversation from the bot (it becomes theirs)."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    ticket_id = request.path_params["ticket_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            await take_over(tx, ticket_id, Actor(user_id=user.id))
    except ActionError as error:
        if error.field == "ticket_id":
            raise HTTPException(404, "ticket not found") from None
        request.session["flash"] = (
            _("The bot had already handed this conversation off.") if error.conflict else str(error)
        )
    else:
        request.session["flash"] = _("You took over the conversation from the bot.")
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


def _share(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


def _weeks(now) -> list[str]:
    """The report's ISO weeks, this one first."""
    return [report.iso_week(now - timedelta(weeks=back)) for back in range(REPORT_WEEKS)]


def report_tables(rows: list[dict], reasons: list, shown: list[str], now) -> list[dict]:
    """Per channel: every week of the span (weeks without conversations as zeros), the
    totals with their shares, and the most frequent handoff reasons."""
    language = i18n.language()
    labels = {item.name: item.label(language) for item in bot_channels()}
    # Conversations other bot platforms keep through POST /api/v1/bot/reply.
    labels["api"] = _("Other bot platforms (API)")
    found = {(row["channel"], row["week"]): row for row in rows}
    names = list(dict.fromkeys([*shown, *(row["channel"] for row in rows)]))
    top: dict[str, Counter] = {}
    for channel, reason, count in reasons:
        top.setdefault(channel, Counter())[reason] += count
    tables = []
    for name in names:
        weeks = []
        for week in _weeks(now):
            row = found.get((name, week)) or {
                "week": week,
                "conversations": 0,
                "answered": 0,
                "deflected": 0,
                "handed_off": 0,
                "abandoned": 0,
                "csat": None,
                "csat_count": 0,
            }
            weeks.append(
                {**row, "handed_off_share": _share(row["handed_off"], row["conversations"])}
            )
        totals = {
            key: sum(week[key] for week in weeks)
            for key in (
                "conversations",
                "answered",
                "deflected",
                "handed_off",
                "abandoned",
                "csat_count",
            )
        }
        rated = [week for week in weeks if week["csat"] is not None]
        totals["csat"] = (
            round(sum(w["csat"] * w["csat_count"] for w in rated) / totals["csat_count"], 2)
            if totals["csat_count"]
            else None
        )
        totals["handed_off_share"] = _share(totals["handed_off"], totals["conversations"])
        totals["deflected_share"] = _share(totals["deflected"], totals["conversations"])
        reasons_here = top.get(name, Counter()).most_common()  # every one: they add up
        tables.append(
            {
                "channel": name,
                "label": labels.get(name, name),
                "weeks": weeks,
                "totals": totals,
                "reasons": [
                    (reason_text(reason), count, _share(count, totals["handed_off"]))
                    for reason, count in reasons_here
                ],
            }
        )
    return tables


async def bots_report(request: Request) -> Response:
    await auth.require_staff(request, "supervisor")
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    async with runtime.read() as session:
        rows = await report.weekly(session, weeks=REPORT_WEEKS, now=now)
        reasons = await handoff_reasons(session, weeks=REPORT_WEEKS, now=now)
        switched_on = [name for name, row in (await all_settings(session)).items() if row.enabled]
        unanswered = await gaps(
            session, since_days=7 * REPORT_WEEKS, now=now, audience="bot", limit=GAPS_SHOWN
        )
    return templates.TemplateResponse(
        request,
        "bots_report.html",
        {
            "channels": report_tables(rows, reasons, switched_on, now),
            "weeks": REPORT_WEEKS,
            "gaps": unanswered,
        },
    )


routes = [
    Route(PAGE, bots_admin, name="admin_bots"),
    Route(f"{PAGE}/try", try_bot, methods=["POST"]),  # before {channel}: "try" is none
    Route(f"{PAGE}/{{channel}}", save_bot, methods=["POST"]),
    Route(f"{PAGE}/{{channel}}/test", test_connection, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/take-over", take_over_ticket, methods=["POST"]),
    Route("/reports/bots", bots_report, name="bots_report"),
]
