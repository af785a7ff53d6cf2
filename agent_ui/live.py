"""Live updates: the console's sockets, fed by the shell's hub (tresen.live).

Two feeds here: the ticket lists' (rows and the views' counts) and every page's header
(notifications); a ticket page's is agent_ui.ticket_live.
Each loads what a tick's events changed once for all its sockets; each socket then works
out in memory what its page must change and renders that in its reader's language.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocket

from agent_ui import chats
from agent_ui.filters import View, builtin_views, list_filter, parse_filter
from agent_ui.templating import render_fragment
from tickets import queries
from tickets.models import Ticket
from tickets.queries import TicketFilter, filter_key, sort_key
from tresen import i18n, notifications
from tresen.events import Event
from tresen.live import REFUSED, Feed, Hub, Socket, accept_staff
from tresen.models import User
from tresen.notifications import text_of, unread_count

log = logging.getLogger(__name__)

LIST_EVENTS = ("ticket.created", "ticket.updated")
VIEW_EVENTS = ("ticket_view.changed", "queue.created", "queue.updated")
LIST_PAGE_SIZE = 50
LIST_REFRESH_SECONDS = 0.25


# The ticket lists ------------------------------------------------------------------------


@dataclass
class ListPage:
    """What one list socket's page shows: its filter and the rows on it, by sort key."""

    user: User
    filters: TicketFilter
    view_key: str | None
    shown: dict[int, tuple]  # ticket id -> sort key
    after: tuple | None = None  # the page starts after this sort key (a later page)
    more: bool = False  # rows beyond the last shown exist (on the next page)


@dataclass(frozen=True)
class ListTick:
    """What a tick of ticket events changed, loaded once for every list socket."""

    now: datetime
    rows: dict[int, Ticket | None]  # the changed tickets (None: gone)
    text_hits: dict[str, set[int]]  # text filter -> the changed tickets it finds
    counts: dict[tuple, int]  # filter_key -> count
    queues: list[tuple[int, str]]
    saved: list[tuple[int, str, str, bool, int]]  # id, name, query, shared, owner
    # What one socket rendered that the next in the same language and timezone reuses.
    rendered: dict = field(default_factory=dict, compare=False)

    def render(self, key: tuple, make) -> Markup:
        key = (i18n.language(), i18n.timezone().key, *key)
        html = self.rendered.get(key)
        if html is None:
            html = self.rendered[key] = Markup(make())
        return html


@dataclass
class ListChanges:
    """The page's edit: rows to delete, rows to insert (ticket, where), or all rows anew."""

    deleted: list[int] = field(default_factory=list)
    inserted: list[tuple[Ticket, str]] = field(default_factory=list)
    all_rows: list[Ticket] | None = None


def views_for(user: User, queues: list, saved: list) -> list[View]:
    """Built-in views, one per queue, and the saved views this user may see (as all_views)."""
    views = builtin_views()
    views += [View(f"queue-{qid}", name, {"queue": str(qid)}, "queue") for qid, name in queues]
    for view_id, name, query, shared, owner in saved:
        if owner == user.id or shared:
            views.append(
                View(
                    f"saved-{view_id}",
                    name,
                    dict(parse_qsl(query)),
                    "saved",
                    shared=shared,
                    owner_id=owner,
                )
            )
    return views


def _view_filter(view: View, user: User) -> TicketFilter | None:
    try:
        return parse_filter(view.params, user)
    except HTTPException:  # a saved view gone bad (e.g. a removed channel): no count
        return None


def list_changes(page: ListPage, tick: ListTick, limit: int = LIST_PAGE_SIZE) -> ListChanges:
    """Apply the tick's changed rows to the page; what the browser must change (pure)."""
    filters, sort = page.filters, page.filters.sort
    before = dict(page.shown)
    hits = tick.text_hits.get(filters.text or "", set())
    unchanged = [key for tid, key in before.items() if tid not in tick.rows]
    last = max(unchanged) if unchanged else None
    changes, added = ListChanges(), {}
    for tid, ticket in tick.rows.items():
        if tid in page.shown:
            del page.shown[tid]
        if ticket is None or not queries.matches(ticket, filters, tick.now, text_hit=tid in hits):
            continue
        key = sort_key(ticket, sort)
        if page.after is not None and key <= page.after:
            continue  # belongs on an earlier page
        if page.more and last is not None and key > last:
            continue  # belongs on a later page
        page.shown[tid] = key
        added[tid] = ticket
    order = sorted(page.shown, key=page.shown.__getitem__)
    for tid in order[limit:]:  # pushed onto the next page
        del page.shown[tid]
        added.pop(tid, None)
        page.more = True
    order = order[:limit]
    if not before and order:
        changes.all_rows = [added[tid] for tid in order]
        return changes
    if before and not order:
        changes.all_rows = []
        return changes
    changes.deleted = [tid for tid in before if tid not in page.shown or tid in added]
    # Inserted from the last up, so each one's anchor (the row after it) is already there.
    for index in reversed(range(len(order))):
        tid = order[index]
        if tid in added:
            where = (
                f"beforebegin:#ticket-{order[index + 1]}"
                if index + 1 < len(order)
                else "beforeend:#ticket-rows"
            )
            changes.inserted.append((added[tid], where))
    return changes


class ListFeed(Feed):
    """Every open ticket list: changed rows and the views' counts, loaded once per tick."""

    tick = LIST_REFRESH_SECONDS

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self._views: tuple[list, list] | None = None  # queues, saved views (all users)
        self._views_lock = asyncio.Lock()

    def topics(self, event: Event):
        if event.type in LIST_EVENTS or event.type in VIEW_EVENTS:
            return ("tickets",)
        return ()

    async def views(self, session=None) -> tuple[list, list]:
        """Queues and saved views (cached until one changes)."""
        async with self._views_lock:
            if self._views is None:
                if session is None:
                    async with self.runtime.read() as own:
                        self._views = await _load_views(own)
                else:
                    self._views = await _load_views(session)
            return self._views

    async def load(self, batch, sockets) -> None:
        events = batch["tickets"]
        members = sockets["tickets"]
        if any(e.type in VIEW_EVENTS for e in events):
            self._views = None
        ids = sorted({e.data["ticket_id"] for e in events if e.type in LIST_EVENTS})
        now = self.runtime.clock.now()
        async with self.runtime.read() as session:
            queues, saved = await self.views(session)
            rows: dict[int, Ticket | None] = dict.fromkeys(ids)
            text_hits: dict[str, set[int]] = {}
            if ids:
                rows.update(await queries.list_rows(session, ids))
                for text in {s.state.filters.text for s in members if s.state.filters.text}:
                    text_hits[text] = await queries.text_hits(session, ids, text, now)
            users = {s.who.id: s.who for s in members}
            wanted = [
                f
                for user in users.values()
                for view in views_for(user, queues, saved)
                if (f := _view_filter(view, user)) is not None
            ]
            counts = await queries.count_tickets_shared(session, wanted, now)
        tick = ListTick(now, rows, text_hits, counts, queues, saved)
        for socket in members:
            socket.push(tick)


async def _load_views(session) -> tuple[list, list]:
    return await queries.view_choices(session)


def render_list(socket: Socket, tick: ListTick) -> str:
    """The page's changed rows and the views' counts, as out-of-band swaps."""
    page: ListPage = socket.state
    changes = list_changes(page, tick)
    # Pages showing the same rows get the same frame: rendered once per tick and language.
    shape = (
        tuple(changes.deleted),
        tuple((t.id, where) for t, where in changes.inserted),
        None if changes.all_rows is None else tuple(t.id for t in changes.all_rows),
    )
    return str(
        tick.render(
            ("frame", page.user.id, page.view_key, shape), lambda: _list_frame(page, tick, changes)
        )
    )


def _list_frame(page: ListPage, tick: ListTick, changes: ListChanges) -> str:
    rows = {
        ticket.id: tick.render(
            ("row", ticket.id),
            lambda t=ticket: render_fragment("_ticket_row.html", ticket=t, now=tick.now),
        )
        for ticket in [*(t for t, _where in changes.inserted), *(changes.all_rows or ())]
    }
    html = render_fragment("_live_list.html", changes=changes, rows=rows, now=tick.now)
    views = tick.render(("views", page.user.id, page.view_key), lambda: _views(page, tick))
    return html + str(views)


def _views(page: ListPage, tick: ListTick) -> str:
    views = views_for(page.user, tick.queues, tick.saved)
    counts = {}
    for view in views:
        found = _view_filter(view, page.user)
        counts[view.key] = tick.counts.get(filter_key(found), 0) if found else 0
    return render_fragment(
        "_views.html", oob=True, views=views, counts=counts, current_view=page.view_key
    )


async def console_socket(websocket: WebSocket) -> None:
    """The ticket list: rows that change, arrive or leave, and the views' counts, live."""
    user = await accept_staff(websocket)
    if user is None:
        return
    try:
        filters = list_filter(websocket, user)
    except HTTPException:
        await websocket.close(code=REFUSED)
        return
    runtime = websocket.app.state.runtime
    hub = Hub.of(runtime)
    feed = hub.feed(ListFeed)
    cursor = websocket.query_params.get("cursor")
    # What the page shows (its rows' sort keys), so ticket events change it in memory.
    async with runtime.read() as session:
        try:
            tickets, next_cursor = await queries.list_tickets(
                session,
                filters,
                cursor=cursor,
                limit=LIST_PAGE_SIZE,
                now=runtime.clock.now(),
                keys_only=True,
            )
        except queries.CursorError:
            await websocket.close(code=REFUSED)
            return
        await feed.views(session)
    page = ListPage(
        user,
        filters,
        websocket.query_params.get("view"),
        {t.id: sort_key(t, filters.sort) for t in tickets},
        after=queries.cursor_key(cursor, filters.sort) if cursor else None,
        more=next_cursor is not None,
    )

    async def on_message(body: dict) -> None:
        # The page says which rows it shows (after it opened or refreshed): those are the
        # rows to change from now on, whatever happened between its rendering and now.
        shown = body.get("shown")
        if isinstance(shown, list) and all(isinstance(i, int) for i in shown):
            async with runtime.read() as session:
                keys = await queries.sort_keys(session, shown[: LIST_PAGE_SIZE * 2], filters.sort)
            page.shown = keys
            page.more = page.more or len(keys) >= LIST_PAGE_SIZE

    await hub.serve(
        websocket, user, ListFeed, ["tickets"], render_list, state=page, on_message=on_message
    )


# The header: notifications ----------------------------------------------------------------


class DeskFeed(Feed):
    """Every page's header: a user's new notifications and unread count, loaded per user."""

    def topics(self, event: Event):
        if event.type in ("notification.created", "notifications.read"):
            return (f"user:{event.data.get('user_id')}",)
        if event.type == "chat.offered":
            return (f"user:{chats.offer_recipient(event.data)}",)
        return ()

    async def load(self, batch, sockets) -> None:
        for topic, events in batch.items():
            members = sockets[topic]
            for event in events:
                if event.type == "chat.offered":
                    for socket in members:
                        socket.push(("offer", event.data, 0))
            events = [e for e in events if e.type != "chat.offered"]
            if not events:
                continue
            if not any(e.type == "notification.created" for e in events):
                for socket in members:
                    socket.push(("read", [], 0))
                continue
            user_id = members[0].who.id
            since = min(s.state["shown"] for s in members)
            async with self.runtime.read() as session:
                fresh = await notifications.newer_than(session, user_id, since, 50)
                unread = await unread_count(session, user_id) if fresh else 0
            if fresh:
                for socket in members:
                    socket.push(("fresh", fresh, unread))


def render_desk(socket: Socket, item) -> str | None:
    kind, fresh, unread = item
    if kind == "offer":
        return chats.render_offer_toast(fresh)
    if kind == "read":
        return render_fragment("_badge.html", unread=0, oob=True)
    fresh = [n for n in fresh if n.id > socket.state["shown"]][:10]
    if not fresh:
        return None  # shown already with an earlier event of the same transaction
    socket.state["shown"] = fresh[-1].id
    html = render_fragment("_badge.html", unread=unread, oob=True)
    for note in fresh:
        html += render_fragment("_toast.html", item=note, text=text_of(note))
    return html


async def desk_socket(websocket: WebSocket) -> None:
    """Every page's header: the unread badge, and a note for each notification that arrives."""
    user = await accept_staff(websocket)
    if user is None:
        return
    runtime = websocket.app.state.runtime
    async with runtime.read() as session:
        shown = await notifications.newest_id(session, user.id)
    await Hub.of(runtime).serve(
        websocket, user, DeskFeed, [f"user:{user.id}"], render_desk, state={"shown": shown or 0}
    )
