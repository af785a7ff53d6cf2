"""SLA policies and business calendars in the routing admin: list, add, edit."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_ui import admin_forms
from agent_ui.admin_routing import number
from routing import actions
from routing import queries as routing_queries
from routing.models import BusinessCalendarRow, SlaPolicyRow
from tickets.models import PRIORITIES
from tresen import auth
from tresen.i18n import _
from tresen.ids import parse_whole_number
from tresen.runtime import ActionError

TARGETS = ("first_response", "next_response", "resolution")
LEVELS = ("warning", "breach")
STEP_ACTIONS = ("notify", "raise_priority")  # what the form ticks; other steps are kept
DAYS = range(7)
PAUSE_STATES = ("pending", "on_hold")  # the states a clock may pause in that the form offers


def escalation_labels() -> dict[str, str]:
    return {"notify": _("notify"), "raise_priority": _("raise the priority")}


def _minutes(value) -> str:
    return f"{float(value):g}"


def policy_to_form(row: SlaPolicyRow) -> dict:
    """A stored policy as the values of its edit form."""
    form = {
        "name": row.name,
        "calendar_id": str(row.calendar_id) if row.calendar_id else "",
        "warn_before_minutes": (
            str(row.warn_before_minutes) if row.warn_before_minutes is not None else ""
        ),
    }
    for priority, targets in (row.targets or {}).items():
        for target, minutes in targets.items():
            form[f"{priority}_{target}"] = _minutes(minutes)
    for level in LEVELS:
        form[f"{level}_actions"] = [
            step.get("action") for step in (row.escalation or {}).get(level, [])
        ]
    form["pause_states"] = list(row.pause_states or [])
    return form


def policy_from_form(form, kept: dict | None = None) -> dict:
    """A policy's fields from the form; escalation steps the form cannot show are `kept`."""
    targets: dict = {}
    for priority in PRIORITIES:
        for target in TARGETS:
            minutes = number(form, f"{priority}_{target}", f"{priority} {target}")
            if minutes is not None:
                targets.setdefault(priority, {})[target] = minutes
    escalation = {}
    for level in LEVELS:
        ticked = [str(step) for step in form.getlist(f"{level}_actions")]
        others = [
            step for step in (kept or {}).get(level, []) if step.get("action") not in STEP_ACTIONS
        ]
        escalation[level] = [{"action": step} for step in ticked] + others
    # The form says it offers the pause states; a post without them keeps the default.
    pause = [str(state) for state in form.getlist("pause_states")] if "pausing" in form else None
    return {
        "name": str(form.get("name") or "").strip(),
        "pause_states": pause,
        "targets": targets,
        "calendar_id": number(form, "calendar_id", "calendar"),
        "warn_before_minutes": number(form, "warn_before_minutes", "warning"),
        "escalation": escalation,
    }


async def _context(session) -> dict:
    found = await routing_queries.routing_settings(session)
    return {
        "policies": found.policies,
        "calendars": found.calendars,
        "priorities": PRIORITIES,
        "targets": TARGETS,
        "levels": LEVELS,
        "step_actions": STEP_ACTIONS,
        "escalation_labels": escalation_labels(),
        "pause_states": PAUSE_STATES,
        "days": DAYS,
    }


NEW_POLICY = {
    "warn_before_minutes": "15",
    "warning_actions": ["notify"],
    "breach_actions": ["notify"],
}
# The policy form's multi-valued fields.
POLICY_LISTS = (*(f"{level}_actions" for level in LEVELS), "pause_states")


async def _get(session, model, ident: int, what: str):
    row = await session.get(model, ident)
    if row is None:
        raise HTTPException(404, f"{what} not found")
    return row


async def _page(request: Request, template: str, section: str, status_code=200, **values):
    """A page of this part of the routing admin (the lists and forms it needs, and `values`)."""
    async with request.app.state.runtime.read() as session:
        context = await _context(session)
    context.update({"section": section, "error": None, **values})
    return admin_forms.render(request, template, context, status_code)


async def _policy_page(request: Request, policy_id: int, form=None, error=None, status_code=200):
    async with request.app.state.runtime.read() as session:
        row = await _get(session, SlaPolicyRow, policy_id, "SLA policy")
    form = form if form is not None else policy_to_form(row)
    return await _page(
        request, "admin_policy.html", "policies", status_code, policy=row, form=form, error=error
    )


async def policies(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _page(request, "admin_policies.html", "policies", form=NEW_POLICY)


async def add_policy(request: Request) -> Response:
    async def save(tx, form) -> str:
        await actions.create_sla_policy(tx, **policy_from_form(form))
        return "/admin/routing/policies?saved=policy"

    async def again(typed: dict, error: str) -> Response:
        return await _page(request, "admin_policies.html", "policies", 422, form=typed, error=error)

    return await admin_forms.submit(request, save, again, POLICY_LISTS)


async def edit_policy(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _policy_page(request, request.path_params["policy_id"])


async def change_policy(request: Request) -> Response:
    policy_id = request.path_params["policy_id"]

    async def save(tx, form) -> str:
        row = await _get(tx.session, SlaPolicyRow, policy_id, "SLA policy")
        await actions.update_sla_policy(tx, row, **policy_from_form(form, kept=row.escalation))
        return f"/admin/routing/policies/{policy_id}?saved=policy"

    async def again(typed: dict, error: str) -> Response:
        return await _policy_page(request, policy_id, typed, error, 422)

    return await admin_forms.submit(request, save, again, POLICY_LISTS)


def _spans(raw: str, day: int) -> list[list[str]]:
    """ "09:00-12:00, 13:00-17:00" as [["09:00", "12:00"], ["13:00", "17:00"]]."""
    spans = []
    for part in re.split(r"[,;]", raw):
        if not part.strip():
            continue
        pieces = [piece.strip() for piece in re.split(r"[-–]", part)]
        if len(pieces) != 2 or not all(pieces):
            raise ActionError(
                f"hours_{day}",
                _("%(hours)r is not opening hours like 09:00-17:00", hours=part.strip()),
            )
        spans.append(pieces)
    return spans


def _weekdays(form) -> list[int]:
    """The ticked weekdays (0 = Monday); a value the form cannot have sent is named."""
    days = []
    for raw in form.getlist("days"):
        day = parse_whole_number(str(raw))
        if day is None or day not in DAYS:
            raise ActionError("days", f"weekday {str(raw)[:40]!r} is not 0 (Monday) to 6 (Sunday)")
        days.append(day)
    return days


def weekly_from_form(form) -> dict:
    """Opening hours per weekday: one field each ("hours_0"), or ticked days with one span."""
    if any(f"hours_{day}" in form for day in DAYS):
        weekly = {}
        for day in DAYS:
            spans = _spans(str(form.get(f"hours_{day}") or ""), day)
            if spans:
                weekly[str(day)] = spans
        return weekly
    opens, closes = str(form.get("opens") or "09:00"), str(form.get("closes") or "17:00")
    return {str(day): [[opens, closes]] for day in _weekdays(form)}


def calendar_from_form(form) -> dict:
    closures = [day for day in re.split(r"[\s,;]+", str(form.get("closures") or "")) if day]
    return {
        "name": str(form.get("name") or "").strip(),
        "timezone": str(form.get("timezone") or "Europe/Berlin").strip(),
        "weekly": weekly_from_form(form),
        "country": str(form.get("country") or "").strip().upper() or None,
        "subdivision": str(form.get("subdivision") or "").strip().upper() or None,
        "closures": closures,
        "is_default": form.get("is_default") == "on",
    }


def calendar_to_form(row: BusinessCalendarRow) -> dict:
    """A stored calendar as the values of its edit form."""
    form = {
        "name": row.name,
        "timezone": row.timezone,
        "country": row.country or "",
        "subdivision": row.subdivision or "",
        "closures": "\n".join(row.closures or []),
        "is_default": "on" if row.is_default else "",
    }
    for day in DAYS:
        spans = (row.weekly or {}).get(str(day), [])
        form[f"hours_{day}"] = ", ".join(f"{start}-{end}" for start, end in spans)
    return form


NEW_CALENDAR = {
    **{f"hours_{day}": "09:00-17:00" for day in range(5)},
    "timezone": "Europe/Berlin",
    "country": "DE",
}


async def _calendar_page(
    request: Request, calendar_id: int, form=None, error=None, status_code=200
):
    async with request.app.state.runtime.read() as session:
        row = await _get(session, BusinessCalendarRow, calendar_id, "calendar")
    form = form if form is not None else calendar_to_form(row)
    return await _page(
        request,
        "admin_calendar.html",
        "calendars",
        status_code,
        calendar=row,
        form=form,
        error=error,
    )


async def calendars(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _page(request, "admin_calendars.html", "calendars", form=NEW_CALENDAR)


async def add_calendar(request: Request) -> Response:
    async def save(tx, form) -> str:
        await actions.create_calendar(tx, **calendar_from_form(form))
        return "/admin/routing/calendars?saved=calendar"

    async def again(typed: dict, error: str) -> Response:
        return await _page(
            request, "admin_calendars.html", "calendars", 422, form=typed, error=error
        )

    return await admin_forms.submit(request, save, again)


async def edit_calendar(request: Request) -> Response:
    await auth.require_staff(request, role="admin")
    return await _calendar_page(request, request.path_params["calendar_id"])


async def change_calendar(request: Request) -> Response:
    calendar_id = request.path_params["calendar_id"]

    async def save(tx, form) -> str:
        values = calendar_from_form(form)
        row = await _get(tx.session, BusinessCalendarRow, calendar_id, "calendar")
        await actions.update_calendar(tx, row, **values)
        return f"/admin/routing/calendars/{calendar_id}?saved=calendar"

    async def again(typed: dict, error: str) -> Response:
        return await _calendar_page(request, calendar_id, typed, error, 422)

    return await admin_forms.submit(request, save, again)


routes = [
    Route("/admin/routing/policies", policies, methods=["GET"]),
    Route("/admin/routing/policies", add_policy, methods=["POST"]),
    Route("/admin/routing/policies/{policy_id:int}", edit_policy, methods=["GET"]),
    Route("/admin/routing/policies/{policy_id:int}", change_policy, methods=["POST"]),
    Route("/admin/routing/calendars", calendars, methods=["GET"]),
    Route("/admin/routing/calendars", add_calendar, methods=["POST"]),
    Route("/admin/routing/calendars/{calendar_id:int}", edit_calendar, methods=["GET"]),
    Route("/admin/routing/calendars/{calendar_id:int}", change_calendar, methods=["POST"]),
]
