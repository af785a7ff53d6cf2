"""People in the console: administrators invite, edit, deactivate and reactivate staff
(/admin/people); everyone manages their own API tokens (/account/tokens); an invited
person sets their password (/invite/{token})."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui.admin_forms import posted
from agent_ui.templating import templates
from routing import actions as routing_actions
from routing import queries as routing_queries
from tickets import queries
from tickets.delivery import queue_mail
from tresen import accounts, auth, i18n, invites, totp
from tresen.accounts import TOKEN_SCOPES, AccountError
from tresen.desk_settings import get_setting
from tresen.i18n import _
from tresen.ids import parse_id, parse_whole_number
from tresen.models import ROLES, User
from tresen.runtime import ActionError
from tresen.totp import is_enrolled

LANGUAGE_SKILL = "lang:"
TOKEN_DAYS = 90  # a new token's expiry offered by default


def role_names() -> dict[str, str]:
    return {"agent": _("Agent"), "supervisor": _("Supervisor"), "admin": _("Administrator")}


def _words(raw) -> list[str]:
    return [word.strip() for word in str(raw or "").split(",") if word.strip()]


def _count(form, name: str, label: str) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return None
    number = parse_whole_number(raw)
    if number is None or number < 0:
        raise ActionError(
            name,
            _("%(field)s: %(value)s is not a whole number of 0 or more")
            % {"field": label, "value": raw[:40]},
        )
    return number


def _profile_from(form) -> dict:
    """Capacity, chat capacity and skills (the languages as lang:xx) as typed."""
    languages = [
        word.lower().removeprefix(LANGUAGE_SKILL) for word in _words(form.get("languages"))
    ]
    return {
        "capacity": _count(form, "capacity", _("Capacity")),
        "chat_capacity": _count(form, "chat_capacity", _("Chat capacity")),
        "skills": _words(form.get("skills")) + [LANGUAGE_SKILL + code for code in languages],
    }


def _queue_ids(form) -> set[int]:
    chosen = set()
    for raw in form.getlist("queues"):
        queue_id = parse_id(str(raw))
        if queue_id is None:
            raise HTTPException(400, f"queue {str(raw)[:40]!r} is not an id")
        chosen.add(queue_id)
    return chosen


async def _set_work(tx, user_id: int, profile: dict, queue_ids: set[int]) -> None:
    """The agent's profile and queues, through routing's own actions (as /admin/routing)."""
    await routing_actions.set_agent_profile(tx, user_id, **profile)
    found = await routing_queries.routing_settings(tx.session)
    for queue in await queries.list_queues(tx.session):
        members = dict(found.members.get(queue.id, {}))
        if (queue.id in queue_ids) == (user_id in members):
            continue
        if queue.id in queue_ids:
            members[user_id] = "agent"
        else:
            del members[user_id]
        await routing_actions.set_queue_routing(
            tx,
            queue.id,
            members=[{"user_id": uid, "role": role} for uid, role in members.items()],
        )


async def _mail_invitation(tx, user: User, admin: User, link: str) -> None:
    """The link by mail too, in the invitee's language, not the administrator's (the outbox
    sends it once a mail account is connected)."""
    with i18n.using(user.locale):
        text = _(
            "Hello %(name)s,\n\n%(admin)s invited you to the service desk. Set your password "
            "here (the link works once, within %(days)d days):\n\n%(link)s\n"
        ) % {"name": user.name, "admin": admin.name, "days": invites.INVITE_DAYS, "link": link}
        subject = _("Your invitation to the service desk")
    await queue_mail(tx, user.email, subject, text)


async def _people(request: Request, *, form=None, error=None, invited=None, status_code=200):
    runtime = request.app.state.runtime
    users = await accounts.list_users(runtime)
    async with runtime.read() as session:
        pending = await invites.pending_invites(session, runtime.clock.now())
        queues = await queries.list_queues(session)
    return templates.TemplateResponse(
        request,
        "people.html",
        {
            "people": users,
            "pending": pending,
            "two_factor": {u.id: is_enrolled(u) for u in users},
            "roles": ROLES,
            "role_names": role_names(),
            "queues": queues,
            "form": form
            or {"role": "agent", "mail": "on", "locale": runtime.settings.default_language},
            "languages": i18n.LANGUAGES,
            "error": error,
            "invited": invited,
            "invite_days": invites.INVITE_DAYS,
        },
        status_code=status_code,
    )


async def people(request: Request) -> Response:
    """The list of staff and the invitation form; POST: invite someone."""
    admin = await auth.require_staff(request, role="admin")
    if request.method == "GET":
        return await _people(request)
    form = await auth.verified_form(request)
    runtime = request.app.state.runtime
    try:
        profile, queue_ids = _profile_from(form), _queue_ids(form)
        async with runtime.transaction() as tx:
            user, token = await invites.invite_user(
                tx,
                email=str(form.get("email") or ""),
                name=str(form.get("name") or ""),
                role=str(form.get("role") or ""),
                created_by=admin.id,
                locale=str(form.get("locale") or runtime.settings.default_language),
            )
            await _set_work(tx, user.id, profile, queue_ids)
            link = invites.invite_link(runtime.settings.base_url, token)
            if form.get("mail") == "on":
                await _mail_invitation(tx, user, admin, link)
    except (AccountError, ActionError) as error:
        return await _people(
            request, form=posted(form, ["queues"]), error=str(error), status_code=422
        )
    invited = {"name": user.name, "link": link, "mailed": form.get("mail") == "on"}
    return await _people(request, invited=invited, status_code=201)


async def _person(
    request: Request, user_id: int, *, form=None, error=None, invited=None, status_code=200
):
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        person = await session.get(User, user_id)
        if person is None:
            raise HTTPException(404, "no such person")
        found = await routing_queries.routing_settings(session)
        queues = await queries.list_queues(session)
        pending = await invites.pending_invites(session, runtime.clock.now())
    profile = found.profiles.get(user_id)
    skills = list(profile.skills) if profile else []
    if form is None:
        form = {
            "name": person.name,
            "role": person.role,
            "capacity": "" if not profile or profile.capacity is None else str(profile.capacity),
            "chat_capacity": ""
            if not profile or profile.chat_capacity is None
            else str(profile.chat_capacity),
            "skills": ", ".join(s for s in skills if not s.startswith(LANGUAGE_SKILL)),
            "languages": ", ".join(
                s.removeprefix(LANGUAGE_SKILL) for s in skills if s.startswith(LANGUAGE_SKILL)
            ),
            "queues": [str(q.id) for q in queues if user_id in found.members.get(q.id, {})],
        }
    return templates.TemplateResponse(
        request,
        "people_edit.html",
        {
            "person": person,
            "roles": ROLES,
            "role_names": role_names(),
            "queues": queues,
            "supervised": {
                q.id for q in queues if found.members.get(q.id, {}).get(user_id) == "supervisor"
            },
            "form": form,
            "error": error,
            "invited": invited,
            "invite_expires": pending.get(user_id),
            "two_factor": is_enrolled(person),
            "tokens": await accounts.tokens_of(runtime, user_id),
            "now": runtime.clock.now(),
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


async def person(request: Request) -> Response:
    """One person's page; POST: save their name, role, queues, skills and capacities."""
    await auth.require_staff(request, role="admin")
    user_id = request.path_params["user_id"]
    if request.method == "GET":
        return await _person(request, user_id)
    form = await auth.verified_form(request)
    try:
        profile, queue_ids = _profile_from(form), _queue_ids(form)
        async with request.app.state.runtime.transaction() as tx:
            if await tx.session.get(User, user_id) is None:
                raise HTTPException(404, "no such person")
            await accounts.update_user(
                tx, user_id, name=str(form.get("name") or ""), role=str(form.get("role") or "")
            )
            await _set_work(tx, user_id, profile, queue_ids)
    except (AccountError, ActionError) as error:
        return await _person(
            request, user_id, form=posted(form, ["queues"]), error=str(error), status_code=422
        )
    return RedirectResponse(f"/admin/people/{user_id}?saved=person", status_code=303)


async def activity(request: Request) -> Response:
    """Deactivate (sessions end now, tokens are refused) or reactivate a person."""
    await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    user_id = request.path_params["user_id"]
    what = str(form.get("do") or "")
    if what not in ("deactivate", "reactivate"):
        raise HTTPException(400, f"{what[:40]!r} is not deactivate or reactivate")
    try:
        async with request.app.state.runtime.transaction() as tx:
            await accounts.update_user(tx, user_id, active=what == "reactivate")
    except AccountError as error:
        if str(error).startswith("no user with id"):
            raise HTTPException(404, "no such person") from None
        return await _person(request, user_id, error=str(error), status_code=409)
    return RedirectResponse(f"/admin/people/{user_id}?saved={what}", status_code=303)


async def invite_again(request: Request) -> Response:
    """A new invitation link for the person (their earlier unused ones stop working)."""
    admin = await auth.require_staff(request, role="admin")
    form = await auth.verified_form(request)
    user_id = request.path_params["user_id"]
    runtime = request.app.state.runtime
    try:
        async with runtime.transaction() as tx:
            token = await invites.issue_invite(tx, user_id, created_by=admin.id)
            link = invites.invite_link(runtime.settings.base_url, token)
            if form.get("mail") == "on":
                await _mail_invitation(tx, await tx.session.get(User, user_id), admin, link)
    except (AccountError, ActionError) as error:
        if str(error).startswith("no user with id"):
            raise HTTPException(404, "no such person") from None
        return await _person(request, user_id, error=str(error), status_code=409)
    invited = {"link": link, "mailed": form.get("mail") == "on"}
    return await _person(request, user_id, invited=invited, status_code=201)


async def reset_two_factor(request: Request) -> Response:
    """Two-factor sign-in off for someone who lost their authenticator and their recovery
    codes: they sign in with the password (and set it up again when the desk requires it)."""
    await auth.require_staff(request, role="admin")
    await auth.verified_form(request)
    user_id = request.path_params["user_id"]
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        if await session.get(User, user_id) is None:
            raise HTTPException(404, "no such person")
    await totp.disable(runtime, user_id)
    return RedirectResponse(f"/admin/people/{user_id}?saved=two-factor", status_code=303)


async def _tokens(
    request: Request, user: User, *, created=None, error=None, form=None, status_code=200
):
    runtime = request.app.state.runtime
    return templates.TemplateResponse(
        request,
        "people_tokens.html",
        {
            "tokens": await accounts.tokens_of(runtime, user.id),
            "scopes": TOKEN_SCOPES,
            "created": created,
            "error": error,
            "form": form or {"expires_days": str(TOKEN_DAYS)},
            "now": runtime.clock.now(),
        },
        status_code=status_code,
    )


async def tokens(request: Request) -> Response:
    """One's own API tokens; POST: make one, shown on this page once."""
    user = await auth.require_staff(request)
    if request.method == "GET":
        return await _tokens(request, user)
    form = await auth.verified_form(request)
    days_raw = str(form.get("expires_days") or "").strip()
    days = parse_whole_number(days_raw) if days_raw else None
    try:
        if days_raw and days is None:
            raise AccountError(
                _("Expires after (days): %(value)s is not a whole number")
                % {"value": days_raw[:40]}
            )
        token = await accounts.create_token(
            request.app.state.runtime,
            user.email,
            name=str(form.get("name") or "").strip(),
            expires_days=days,
            scopes=[str(scope) for scope in form.getlist("scopes")],
        )
    except AccountError as error:
        values = {"name": str(form.get("name") or ""), "expires_days": days_raw}
        values["scopes"] = [str(scope) for scope in form.getlist("scopes")]
        return await _tokens(request, user, error=str(error), form=values, status_code=422)
    return await _tokens(request, user, created=token, status_code=201)


async def revoke(request: Request) -> Response:
    """Revoke a token: one's own, or anyone's as an administrator."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    try:
        owner = await accounts.revoke_token_as(
            request.app.state.runtime, request.path_params["token_id"], user
        )
    except AccountError:
        raise HTTPException(404, "no such API token") from None
    back = "/account/tokens" if owner == user.id else f"/admin/people/{owner}"
    return RedirectResponse(back + "?saved=revoked", status_code=303)


def _unusable(request: Request, reason: str) -> Response:
    """Why the invitation sets no password: 404 for a link that never was, else 410."""
    messages = {
        "unknown": _("This invitation link is not valid. Ask an administrator for a new one."),
        "expired": _("This invitation has expired. Ask an administrator for a new one."),
        "used": _("This invitation has been used already. Sign in with your password."),
        "inactive": _("This account is deactivated. Ask an administrator."),
    }
    return templates.TemplateResponse(
        request,
        "invite.html",
        {"unusable": messages[reason]},
        status_code=404 if reason == "unknown" else 410,
    )


async def invitation(request: Request) -> Response:
    """Set your password from an invitation, then you are signed in."""
    token = request.path_params["token"]
    runtime = request.app.state.runtime
    if request.method == "GET":
        try:
            invited = await invites.check_invite(runtime, token)
        except invites.InviteUnusable as unusable:
            return _unusable(request, unusable.reason)
        return templates.TemplateResponse(request, "invite.html", {"invited": invited})
    form = await auth.verified_form(request)
    password = str(form.get("password") or "")
    error = None
    if password != str(form.get("repeat") or ""):
        error = _("The two passwords differ.")
    elif len(password) < accounts.MIN_PASSWORD_LENGTH:
        error = _("The password must have at least %(num)d characters.") % {
            "num": accounts.MIN_PASSWORD_LENGTH
        }
    try:
        if error:
            invited = await invites.check_invite(runtime, token)
            return templates.TemplateResponse(
                request, "invite.html", {"invited": invited, "error": error}, status_code=422
            )
        user = await invites.accept_invite(runtime, token, password)
    except invites.InviteUnusable as unusable:
        return _unusable(request, unusable.reason)
    except accounts.SignInBusy:
        raise HTTPException(503, "too many sign-ins at once; try again in a few seconds") from None
    await auth.signed_in(request, user)
    async with runtime.read() as session:
        required = await get_setting(session, "require_two_factor")
    enrol = required and not is_enrolled(user)
    return RedirectResponse("/account/two-factor" if enrol else "/", status_code=303)


routes = [
    Route("/admin/people", people, methods=["GET", "POST"]),
    Route("/admin/people/{user_id:int}", person, methods=["GET", "POST"]),
    Route("/admin/people/{user_id:int}/active", activity, methods=["POST"]),
    Route("/admin/people/{user_id:int}/invite", invite_again, methods=["POST"]),
    Route("/admin/people/{user_id:int}/two-factor", reset_two_factor, methods=["POST"]),
    Route("/account/tokens", tokens, methods=["GET", "POST"]),
    Route("/account/tokens/{token_id:int}/revoke", revoke, methods=["POST"]),
    Route("/invite/{token:str}", invitation, methods=["GET", "POST"]),
]
