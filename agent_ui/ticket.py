"""The ticket page: one timeline, the composer (reply, note, macro, files), merge/link/split."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agent_ui import bots as bots_ui
from agent_ui import chats, customer_panel
from agent_ui.templating import templates
from routing import status as routing_status
from routing.triggers import run_actors
from tickets import actions, csat, csat_mail, macros, queries, sources
from tickets.actions import Actor, NewAttachment, TicketError
from tickets.merge import (
    UNDO_WINDOW,
    link_tickets,
    linked_tickets,
    may_undo,
    merge_tickets,
    messages_to_move,
    split_message,
    undo_deadline,
    undo_merge,
    undoable_merges,
    unlink_tickets,
)
from tickets.models import PRIORITIES, Macro, Message, Ticket
from tickets.states import SETTABLE_STATES
from tickets.undo_models import TicketMerge
from tresen import auth, i18n, signatures
from tresen import channel as channel_registry
from tresen.accounts import active_users, user_names
from tresen.i18n import _
from tresen.ids import parse_id
from tresen.models import User

MAX_UPLOAD = 20 * 1024 * 1024  # per reply, all files together
MAX_FILES = 50  # per reply; the request itself is cut off past tresen.limits.UPLOAD_BYTES


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a message, or a change to the ticket."""

    at: datetime
    kind: str  # message | change | sla
    message: Message | None = None
    field: str | None = None
    old: str | None = None
    new: str | None = None
    actor: str | None = None
    order: int = 0
    own: bool = False  # an assignment the actor made to themself (took it)


async def _timeline(session, ticket: Ticket, messages: list[Message]) -> tuple[list[Entry], int]:
    """Messages, changes and SLA events in time order; and the newest change's id."""
    entries = [Entry(m.created_at, "message", message=m, order=m.id) for m in messages]
    changes, last_id = await history_entries(session, ticket)
    entries += changes
    for event in await routing_status.sla_events(session, ticket.id):
        entries.append(Entry(event.fired_at, "sla", field=event.target, new=event.kind))
    entries.sort(key=lambda entry: (entry.at, entry.kind != "message", entry.order))
    return entries, last_id


async def history_entries(session, ticket: Ticket, after_id: int = 0) -> tuple[list[Entry], int]:
    """The ticket's changes after `after_id`, names instead of ids; and the newest id."""
    every = await queries.ticket_history(session, ticket.id)
    rows = [r for r in every if r.id > after_id]
    if not rows:
        return [], after_id
    # A trigger's or automation's changes name it, not "the desk".
    runs = run_actors(every)
    users = await user_names(session)
    queues = {q.id: q.name for q in await queries.list_queues(session)}
    entries = []
    for row in rows:
        if row.field == "created":
            continue
        old, new = row.old_value, row.new_value
        if row.field == "assignee_id":
            old = users.get(int(old)) if old else None
            new = users.get(int(new)) if new else None
        elif row.field == "queue_id":
            old = queues.get(int(old)) if old else None
            new = queues.get(int(new)) if new else None
        actor = users.get(row.actor_user_id) if row.actor_user_id else None
        if actor is None and row.actor_customer_id:
            actor = ticket.customer.name
        own = False
        if row.id in runs:
            kind, name = runs[row.id]
            label = _("Trigger «%(name)s»") if kind == "trigger" else _("Automation «%(name)s»")
            actor = label % {"name": name}
        elif row.field == "assignee_id" and row.new_value and row.actor_user_id:
            own = int(row.new_value) == row.actor_user_id
        entries.append(
            Entry(
                row.at,
                "change",
                field=row.field,
                old=old,
                new=new,
                actor=actor,
                order=row.id,
                own=own,
            )
        )
    return entries, rows[-1].id


def reply_options(ticket: Ticket) -> list[dict]:
    """Where a reply can go: the customer's identities on channels that can send to them,
    the ticket's own channel first."""
    options = []
    for identity in ticket.customer.identities:
        for channel in channel_registry.senders_to(identity.kind):
            options.append(
                {"channel": channel.name, "value": identity.value, "bounced": identity.bounced_at}
            )
    options.sort(key=lambda option: option["channel"] != ticket.channel)
    return options


async def reply_blockers(session, ticket: Ticket, options: list[dict]) -> list[str]:
    """Why a reply cannot (yet) go where the customer wrote, in the reader's language: a
    channel Tresen cannot send on, or one whose account is missing. Shown before writing."""
    language = i18n.language()
    notes = []
    reachable = {option["channel"] for option in options}
    wrote_on = channel_registry.describe(ticket.channel)
    # A channel that cannot send but whose customers another channel reaches (a web form,
    # answered by email) needs no word; one nobody can answer on does.
    if wrote_on.send is None and not channel_registry.senders_to(wrote_on.identity_kind):
        notes.append(wrote_on.why_not(language))
    for channel in channel_registry.channels():
        if channel.name in reachable and channel.sending_problem is not None:
            problem = await channel.sending_problem(session)
            if problem:
                notes.append(problem.get(language) or problem["en"])
    return notes


async def composer_context(session, ticket: Ticket, user: User, macro_id: str | None) -> dict:
    """The composer's state; with a macro chosen, its text for this ticket filled in."""
    macro_list = await macros.list_macros(session, user.id)
    chosen, text, internal = None, "", False
    if macro_id:
        macro = parse_id(str(macro_id))
        if macro is None:
            raise HTTPException(400, f"macro {macro_id!r} is not an id")
        chosen = await session.get(Macro, macro)
        if chosen is None or not chosen.active or not macros.may_use(chosen, user.id):
            raise HTTPException(404, "macro not found")
        text = macros.render(chosen.body, ticket, ticket.customer, user)
        internal = chosen.internal
    last_inbound = await queries.last_customer_sender(session, ticket.id)
    options = reply_options(ticket)
    people = [
        {"handle": u.email.split("@")[0], "name": u.name}
        for u in await active_users(session)
        if u.id != user.id
    ]
    return {
        "ticket_id": ticket.id,
        "people": people,
        "macros": macro_list,
        "macro": chosen,
        "text": text,
        "internal": internal,
        "reply_options": options,
        "reply_blockers": await reply_blockers(session, ticket, options),
        "reply_to": last_inbound,
        # A live chat: Enter sends, the reply stays on the page (agent_ui.chats).
        "chat_mode": chats.is_live(ticket),
        # The bot has the conversation: a reply takes it over (tickets.fields.take_from_bot).
        "with_bot": ticket.state == "bot",
        # What a reply gets below it (tickets/replies.py), shown under the text box.
        "signature": _signature_preview(ticket, user),
    }


def _signature_preview(ticket: Ticket, user: User) -> str | None:
    described = channel_registry.describe(ticket.channel)
    if described.live or described.bot:
        return None
    return signatures.pick(user.signatures, ticket.customer.language or user.locale)


async def ticket_page(request: Request) -> Response:
    user = await auth.require_staff(request)
    runtime = request.app.state.runtime
    async with runtime.read() as session:
        ticket = await queries.get_ticket(
            session, request.path_params["ticket_id"], with_messages=True
        )
        if ticket is None:
            raise HTTPException(404, "ticket not found")
        now = runtime.clock.now()
        timeline, last_change = await _timeline(session, ticket, ticket.messages)
        context = {
            "ticket": ticket,
            "now": now,
            "timeline": timeline,
            "last_change": last_change,
            "sla": await routing_status.sla_status(session, ticket.id, now),
            "routing": await routing_status.decisions(session, ticket.id),
            "links": await linked_tickets(session, ticket.id),
            "merged_into": (
                await session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
            ),
            **await fields_context(session),
            "opened_at": now.isoformat(),
            "first_message_id": ticket.messages[0].id if ticket.messages else None,
            # "Original" only where a source is kept (a parsed mail; not a chat or a call).
            "sourced": await sources.with_source(session, ticket.messages),
            "notice": request.session.pop("flash", None),
            "merges": await merge_undos(session, ticket.id, user, now),
            **await composer_context(session, ticket, user, request.query_params.get("macro")),
            **await customer_panel.panel_context(session, ticket.customer, ticket.id),
            **await chats.chat_context(session, runtime, ticket),
            **await bots_ui.ticket_context(session, ticket),
            "rating": await csat.ticket_rating(session, ticket.id),
            "rating_requests": await csat_mail.rating_requests(session, ticket.id),
        }
    return templates.TemplateResponse(request, "ticket.html", context)


async def fields_context(session) -> dict:
    """What the ticket fields form offers (the page and its live updates)."""
    return {
        "queues": await queries.list_queues(session),
        "agents": await active_users(session),
        # Not "bot": nobody hands a ticket to the bot by hand (tickets.states).
        "states": SETTABLE_STATES,
        "priorities": PRIORITIES,
    }


async def composer(request: Request) -> Response:
    """The composer alone (htmx swaps it in when a macro is picked)."""
    user = await auth.require_staff(request)
    async with request.app.state.runtime.read() as session:
        ticket = await queries.get_ticket(session, request.path_params["ticket_id"])
        if ticket is None:
            raise HTTPException(404, "ticket not found")
        context = await composer_context(session, ticket, user, request.query_params.get("macro"))
    return templates.TemplateResponse(request, "_composer.html", context)


async def _uploads(form) -> list[NewAttachment]:
    files, total = [], 0
    for item in form.getlist("files"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        # The parser spooled the file (to disk past 1 MB): its size is known before reading.
        total += item.size or 0
        if total > MAX_UPLOAD:
            raise TicketError("files", "attachments may add up to 20 MB per message")
        content = await item.read()
        files.append(
            NewAttachment(
                filename=item.filename[:255],
                content_type=item.content_type or "application/octet-stream",
                content=content,
            )
        )
    return files


async def post_message(request: Request) -> Response:
    """Reply or note (with files, a macro's changes, a chosen address); works as a plain
    form post and, with htmx, returns a fresh composer."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request, max_files=MAX_FILES)
    ticket_id = request.path_params["ticket_id"]
    text = str(form.get("text") or "")
    internal = form.get("internal") == "on"
    error = None
    runtime = request.app.state.runtime
    try:
        attachments = await _uploads(form)
        macro_id = _optional_id(form, "macro_id", "macro")
        channel, recipient = None, None
        send_via = str(form.get("send_via") or "")
        if send_via and not internal:
            channel, _sep, recipient = send_via.partition(":")
            if not recipient:
                raise TicketError("send_via", f"cannot send via {send_via!r}")
        async with runtime.transaction() as tx:
            ticket = await _ticket(tx.session, ticket_id)
            await actions.reply(
                tx,
                ticket,
                Actor(user_id=user.id),
                text=text,
                internal=internal,
                attachments=attachments,
                macro_id=macro_id,
                channel=channel,
                recipient=recipient,
            )
    except TicketError as exc:
        error = str(exc)
    if request.headers.get("hx-request"):
        async with runtime.read() as session:
            ticket = await queries.get_ticket(session, ticket_id)
            context = await composer_context(session, ticket, user, None)
        context.update(
            error=error,
            sent=_("Note added.") if internal else _("Sent."),
            text="" if error is None else text,
            internal=internal,
        )
        if error:
            context["sent"] = None
        # 200 either way: htmx swaps no 4xx answer, and the error is in the fragment.
        return templates.TemplateResponse(request, "_composer.html", context)
    if error:
        raise HTTPException(422, error)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


async def post_ticket(request: Request) -> Response:
    """Change state, priority, queue, assignee or tags from the ticket page."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    changes: dict = {}
    for name in ("state", "priority", "queue_id", "assignee_id", "tags"):
        if name not in form or form.get(f"{name}_was") == form[name]:
            continue  # untouched: never overwrite what someone else changed meanwhile
        raw = str(form[name])
        if name in ("state", "priority"):
            changes[name] = raw
        elif name == "tags":
            changes[name] = [t for t in (part.strip() for part in raw.split(",")) if t]
        elif raw == "me":
            changes[name] = user.id
        elif raw == "":
            changes[name] = None
        elif parse_id(raw) is not None:
            changes[name] = parse_id(raw)
        else:
            raise HTTPException(400, f"{name} {raw!r} is not an id")
    ticket_id = request.path_params["ticket_id"]
    try:
        async with request.app.state.runtime.transaction() as tx:
            ticket = await _ticket(tx.session, ticket_id)
            await actions.update_ticket(tx, ticket, changes, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


def _optional_id(form, name: str, what: str) -> int | None:
    raw = str(form.get(name) or "")
    if raw and parse_id(raw) is None:
        raise TicketError(name, f"{what} {raw!r} does not exist")
    return parse_id(raw)


async def _ticket(session, ticket_id: int) -> Ticket:
    ticket = await queries.get_ticket(session, ticket_id)
    if ticket is None:
        raise HTTPException(404, "ticket not found")
    return ticket


async def _by_number(session, raw) -> Ticket:
    number = parse_id(str(raw or "").strip().removeprefix("#"))
    if number is None:
        raise HTTPException(400, f"ticket number {raw!r} is not a number")
    ticket = await queries.ticket_by_number(session, number)
    if ticket is None:
        raise HTTPException(404, f"there is no ticket #{number}")
    return ticket


async def merge_undos(session, ticket_id: int, user: User, now) -> list[dict]:
    """The merges into or out of this ticket the user may still undo, for the banner."""
    undos = []
    for record in await undoable_merges(session, ticket_id, now):
        if not may_undo(record, user):
            continue
        source = await session.get(Ticket, record.source_id)
        target = await session.get(Ticket, record.target_id)
        undos.append(
            {
                "id": record.id,
                "source": source.number,
                "target": target.number,
                "until": undo_deadline(record),
            }
        )
    return undos


async def merge(request: Request) -> Response:
    """Merge this ticket into another (by number), after a confirmation step: its
    conversation moves there, and the merge can be undone for a while."""
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    runtime = request.app.state.runtime
    if form.get("confirm") != "yes":
        async with runtime.read() as session:
            source = await _ticket(session, request.path_params["ticket_id"])
            target = await _by_number(session, form.get("into"))
            error = None
            if source.id == target.id:
                error = _("A ticket cannot be merged into itself.")
            elif source.merged_into_id or target.merged_into_id:
                error = _("One of these tickets is merged already.")
            context = {
                "source": source,
                "target": target,
                "messages": await messages_to_move(session, source.id),
                "error": error,
                "minutes": int(UNDO_WINDOW.total_seconds() // 60),
            }
        return templates.TemplateResponse(
            request, "merge_confirm.html", context, status_code=422 if error else 200
        )
    try:
        async with runtime.transaction() as tx:
            source = await _ticket(tx.session, request.path_params["ticket_id"])
            target = await _by_number(tx.session, form.get("into"))
            await merge_tickets(tx, source, target, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    # No flash: the target's page says it in the banner that offers the undo.
    return RedirectResponse(f"/tickets/{target.id}", status_code=303)


async def undo_merge_page(request: Request) -> Response:
    """Undo a merge: the merged ticket back with its messages, links, tags and state."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            # Locked: two clicks on "Undo merge" must not both put things back.
            record = await tx.session.get(
                TicketMerge, request.path_params["merge_id"], with_for_update=True
            )
            if record is None:
                raise HTTPException(404, "merge not found")
            if not may_undo(record, user):
                raise HTTPException(403, "only who merged, or a supervisor, can undo a merge")
            source = await undo_merge(tx, record, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(409, str(error)) from None
    request.session["flash"] = _(
        "The merge was undone: ticket #%(number)s is back with its messages.",
        number=source.number,
    )
    return RedirectResponse(f"/tickets/{source.id}", status_code=303)


async def link(request: Request) -> Response:
    user = await auth.require_staff(request)
    form = await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            ticket = await _ticket(tx.session, request.path_params["ticket_id"])
            other = await _by_number(tx.session, form.get("number"))
            if form.get("remove"):
                await unlink_tickets(tx, ticket, other, Actor(user_id=user.id))
            else:
                await link_tickets(tx, ticket, other, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(f"/tickets/{ticket.id}#links", status_code=303)


async def split(request: Request) -> Response:
    """A customer's message becomes a ticket of its own (linked to this one)."""
    user = await auth.require_staff(request)
    await auth.verified_form(request)
    try:
        async with request.app.state.runtime.transaction() as tx:
            message = await tx.session.get(Message, request.path_params["message_id"])
            if message is None:
                raise HTTPException(404, "message not found")
            ticket = await _ticket(tx.session, message.ticket_id)
            new = await split_message(tx, message, ticket, Actor(user_id=user.id))
    except TicketError as error:
        raise HTTPException(422, str(error)) from None
    return RedirectResponse(f"/tickets/{new.id}", status_code=303)


routes = [
    Route("/tickets/{ticket_id:int}", ticket_page, name="ticket"),
    Route("/tickets/{ticket_id:int}/composer", composer),
    Route("/tickets/{ticket_id:int}/update", post_ticket, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/messages", post_message, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/merge", merge, methods=["POST"]),
    Route("/merges/{merge_id:int}/undo", undo_merge_page, methods=["POST"]),
    Route("/tickets/{ticket_id:int}/links", link, methods=["POST"]),
    Route("/messages/{message_id:int}/split", split, methods=["POST"]),
]
