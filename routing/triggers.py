"""Triggers: when a ticket is updated or a message arrives and the conditions hold, act.

A trigger looks at some happenings (`EVENTS`: a customer's message, an agent's reply, an
internal note, a change of the ticket's fields) and judges the ticket by the same
conditions as routing rules (`routing.rules.Condition`: operators, RE2 patterns), on the
ticket's facts (`TICKET_FIELDS`) and the message's text. Its actions set fields, add or
remove tags, notify staff, or answer the customer with a macro or a message.

They run as durable handlers of `message.created` and `ticket.updated`, after commit.
Never looping: one happening starts a chain; within it each trigger acts at most once,
and what the triggers changed is judged again in the same run (so a trigger may react to
another's change), but the events their changes emit start no chain of their own (they
are marked here and get no trigger job). Each run is a history row on the ticket
("Trigger «name»: ...").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import func, select, update

from routing.automation_models import Trigger
from routing.models import QueueMember
from routing.rules import OPERATORS, Condition, RuleError, compile_pattern
from tickets import macros
from tickets.events import MessageCreated, TicketUpdated
from tickets.fields import TicketError, normalize_tags, update_ticket
from tickets.history import SYSTEM, history_row
from tickets.models import PRIORITIES, Macro, Message, Queue, Ticket, TicketHistory
from tickets.queries import get_ticket
from tickets.replies import reply
from tickets.states import BOT, SETTABLE_STATES
from tresen.handlers import handler
from tresen.i18n import _
from tresen.models import User
from tresen.notifications import notify, register_text
from tresen.runtime import ActionError, Transaction

log = logging.getLogger(__name__)

EVENTS = ("inbound", "reply", "note", "update")
# The ticket's fields a condition may name (triggers and time-based automations).
TICKET_FIELDS = (
    "state",
    "priority",
    "queue",
    "assigned",
    "assignee",
    "tags",
    "channel",
    "language",
    "subject",
)
# A trigger also sees what happened: the message's text, the fields that changed.
TRIGGER_FIELDS = (*TICKET_FIELDS, "text", "changed")
# Changes of these fields are "the ticket was updated" (not new messages, SLA, delivery).
WATCHED = ("state", "priority", "queue_id", "assignee_id", "tags", "subject")
ACTIONS = (
    "state",
    "priority",
    "queue_id",
    "assignee_id",
    "add_tags",
    "remove_tags",
    "notify",
    "macro_id",
    "message",
)
NOTIFY = ("assignee", "supervisors", "both")
MAX_MESSAGE = 10_000


class AutomationError(ActionError):
    """A trigger or automation that cannot be saved; the message names the field."""


@dataclass(frozen=True)
class TicketCondition(Condition):
    """A routing rule's condition on a ticket's facts (the fields differ, the judging not)."""

    def __post_init__(self) -> None:  # routing.rules checks its own FIELDS: ours are checked
        if self.operator not in OPERATORS:
            raise RuleError(f"operator {self.operator!r} is not one of {', '.join(OPERATORS)}")
        if self.operator == "matches":
            compile_pattern(str(self.value))
        if self.operator == "in" and not isinstance(self.value, list | tuple):
            raise RuleError(f"'in' needs a list of values, not {self.value!r}")
        if self.operator in ("at_least", "at_most") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise RuleError(f"{self.operator} needs a number, not {self.value!r}")


def conditions_of(raw: list, fields: tuple[str, ...], numbers: tuple[str, ...] = ()) -> list:
    """The conditions of a trigger or automation; RuleError names what is wrong."""
    if not isinstance(raw, list):
        raise RuleError("conditions must be a list")
    conditions = []
    for item in raw:
        if not isinstance(item, dict):
            raise RuleError(f"a condition must be an object, not {item!r}")
        field, operator = item.get("field"), item.get("operator", "is")
        if field not in fields:
            raise RuleError(f"condition field {field!r} is not one of {', '.join(fields)}")
        if (operator in ("at_least", "at_most")) != (field in numbers):
            if field in numbers:
                raise RuleError(f"{field} is a number of hours: compare it with at least/at most")
            raise RuleError(f"{operator} compares numbers: {', '.join(numbers) or 'none here'}")
        conditions.append(TicketCondition(field, operator, item.get("value")))
    return conditions


def all_hold(conditions: list, facts) -> bool:
    try:
        return all(condition.holds(facts) for condition in conditions)
    except (TypeError, ValueError):
        return False  # conditions that cannot judge these facts do not hold


async def check_actions(tx: Transaction, actions: dict) -> dict:
    """The actions cleaned (empty ones left out); AutomationError names a wrong one."""
    if not isinstance(actions, dict):
        raise AutomationError("actions", "actions must be an object")
    cleaned: dict = {}
    for name, value in actions.items():
        if name not in ACTIONS:
            raise AutomationError("actions", f"action {name!r} is not one of {', '.join(ACTIONS)}")
        if value in (None, "", [], {}):
            continue
        if name == "state" and value not in SETTABLE_STATES:
            raise AutomationError("state", f"state {value!r} is not one of {SETTABLE_STATES}")
        if name == "priority" and value not in PRIORITIES:
            raise AutomationError("priority", f"priority {value!r} is not one of {PRIORITIES}")
        if name == "queue_id" and not await tx.session.get(Queue, _int(name, value)):
            raise AutomationError("queue_id", f"queue {value} does not exist")
        if name == "assignee_id":
            user = await tx.session.get(User, _int(name, value))
            if user is None or not user.active:
                raise AutomationError("assignee_id", f"user {value} is not an active user")
        if name in ("add_tags", "remove_tags"):
            try:
                value = normalize_tags(value if isinstance(value, list) else [value])
            except TicketError as error:
                raise AutomationError(name, str(error)) from None
        if name == "notify" and value not in NOTIFY:
            raise AutomationError("notify", f"notify {value!r} is not one of {', '.join(NOTIFY)}")
        if name == "macro_id":
            macro = await tx.session.get(Macro, _int(name, value))
            if macro is None or macro.owner_id is not None:
                raise AutomationError("macro_id", f"macro {value} is not a shared macro")
        if name == "message":
            value = _message(value)
            if not value:
                continue
        cleaned[name] = int(value) if name in ("queue_id", "assignee_id", "macro_id") else value
    if not cleaned:
        raise AutomationError("actions", "choose at least one action")
    return cleaned


def _int(name: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AutomationError(name, f"{value!r} is not an id") from None


def _message(value) -> dict:
    """A message to the customer: its text per language ({"en": ..., "de": ...})."""
    if not isinstance(value, dict):
        raise AutomationError("message", "message must be an object of texts by language")
    texts = {}
    for language, text in value.items():
        if not isinstance(text, str) or len(text) > MAX_MESSAGE:
            raise AutomationError("message", f"message ({language}) is not a text of the size")
        if text.strip():
            texts[str(language)] = text
    return texts


async def save(tx: Transaction, model, row, values: dict, *, fields, numbers=()):
    """Create (row None) or change a trigger or automation from checked values."""
    name = str(values.get("name", row.name if row else "") or "").strip()
    if not name or len(name) > 200:
        raise AutomationError("name", "a name of 1 to 200 characters is needed")
    conditions = values.get("conditions", row.conditions if row else [])
    if isinstance(conditions, list):
        conditions = [_whole(item) for item in conditions]
    try:
        conditions_of(conditions, fields, numbers)
    except RuleError as error:
        raise AutomationError("conditions", str(error)) from None
    actions = await check_actions(tx, values.get("actions", row.actions if row else {}))
    if model is Trigger:
        events = values.get("events", row.events if row else [])
        if not events or any(event not in EVENTS for event in events):
            raise AutomationError("events", f"choose when it runs: {', '.join(EVENTS)}")
    now = tx.now()
    if row is None:  # added once everything is checked: a refused one leaves nothing behind
        position = (await tx.session.scalar(select(func.max(model.position))) or 0) + 1
        row = model(position=position, runs=0, created_at=now)
        tx.session.add(row)
    if model is Trigger:
        row.events = [event for event in EVENTS if event in events]
    row.name, row.conditions, row.actions = name, conditions, actions
    if "active" in values:
        row.active = bool(values["active"])
    elif row.active is None:
        row.active = True
    row.updated_at = now
    await tx.session.flush()
    return row


def _whole(condition):
    """168.0 typed into a form is kept (and shown) as 168."""
    if isinstance(condition, dict) and isinstance(condition.get("value"), float):
        if condition["value"].is_integer():
            return {**condition, "value": int(condition["value"])}
    return condition


async def delete(tx: Transaction, row) -> None:
    await tx.session.delete(row)


async def ticket_facts(session, ticket: Ticket, **extra) -> SimpleNamespace:
    """What conditions judge a ticket by (names, not ids: what an admin writes)."""
    language = ticket.customer.language if ticket.customer is not None else None
    return SimpleNamespace(
        state=ticket.state,
        priority=ticket.priority,
        queue=ticket.queue.name if ticket.queue is not None else "",
        assigned=ticket.assignee_id is not None,
        assignee=ticket.assignee.email if ticket.assignee is not None else "",
        tags=",".join(ticket.tags),
        channel=ticket.channel,
        language=language or "",
        subject=ticket.subject,
        **extra,
    )


async def carry_out(tx: Transaction, ticket: Ticket, actions: dict, who: str) -> list[str]:
    """Do the actions on the ticket (as the desk); what was done, in short words."""
    done: list[str] = []
    changes: dict = {}
    for name in ("state", "priority", "queue_id", "assignee_id"):
        if name in actions:
            changes[name] = actions[name]
    if actions.get("add_tags") or actions.get("remove_tags"):
        tags = (set(ticket.tags) | set(actions.get("add_tags", ()))) - set(
            actions.get("remove_tags", ())
        )
        changes["tags"] = sorted(tags)
    before = {"tags": list(ticket.tags), "state": ticket.state, "priority": ticket.priority}
    try:
        changed = await update_ticket(tx, ticket, changes, SYSTEM) if changes else []
    except TicketError as error:  # a queue or user gone since it was saved
        log.warning("%s could not change ticket %s: %s", who, ticket.id, error)
        changed, done = [], [f"not changed: {error}"]
    for name in changed:
        if name == "tags":
            added = sorted(set(ticket.tags) - set(before["tags"]))
            removed = sorted(set(before["tags"]) - set(ticket.tags))
            done.append(" ".join([*(f"+{t}" for t in added), *(f"−{t}" for t in removed)]))
        elif name in ("state", "priority"):
            done.append(f"{name} {before[name]} → {getattr(ticket, name)}")
        else:
            done.append(name.removesuffix("_id"))
    if actions.get("notify"):
        count = await _notify(tx, ticket, actions["notify"], who)
        done.append(f"notified {count}")
    text, macro = None, None
    if actions.get("macro_id"):
        macro = await tx.session.get(Macro, actions["macro_id"])
        if macro is not None and macro.active:
            text = macro.body
    elif actions.get("message"):
        texts = actions["message"]
        language = (ticket.customer.language if ticket.customer else None) or "en"
        text = texts.get(language) or texts.get("en") or next(iter(texts.values()))
    if text is not None:
        # {{agent.name}} in a text the desk sends is the company's name.
        desk = SimpleNamespace(name=tx.runtime.settings.company_name)
        rendered = macros.render(text, ticket, ticket.customer, desk)
        try:
            await reply(
                tx,
                ticket,
                SYSTEM,
                text=rendered,
                internal=bool(macro and macro.internal),
                macro_id=macro.id if macro is not None else None,
            )
            done.append("note written" if macro and macro.internal else "reply sent")
        except TicketError as error:  # e.g. a channel that cannot send: said on the ticket
            done.append(f"no reply: {error}")
    return done


async def _notify(tx: Transaction, ticket: Ticket, whom: str, who: str) -> int:
    people = set()
    if whom in ("assignee", "both") and ticket.assignee_id is not None:
        people.add(ticket.assignee_id)
    if whom in ("supervisors", "both") and ticket.queue_id is not None:
        people.update(
            await tx.session.scalars(
                select(QueueMember.user_id).where(
                    QueueMember.queue_id == ticket.queue_id, QueueMember.role == "supervisor"
                )
            )
        )
    return await notify(
        tx,
        people,
        kind="automation.notify",
        link=f"/tickets/{ticket.id}",
        data={"number": ticket.number, "name": who, "subject": ticket.subject},
        email=True,
        ticket_id=ticket.id,
    )


register_text(
    "automation.notify",
    lambda data: _("Ticket #%(number)s (%(subject)s): %(name)s", **data),
)


async def act(tx: Transaction, ticket: Ticket, kind: str, name: str, actions: dict) -> list[str]:
    """Carry out a trigger's or automation's actions, with its run on the ticket's history
    ("Trigger «name»: ...", `kind` trigger or automation) before the changes it made."""
    entry = TicketHistory(**history_row(tx, ticket.id, SYSTEM, kind, name, None))
    tx.session.add(entry)
    done = await carry_out(tx, ticket, actions, f"{kind.capitalize()} «{name}»")
    entry.new_value = "; ".join(done) or "—"
    return done


def run_actors(rows) -> dict[int, tuple[str, str]]:
    """Which of a ticket's history rows (in id order) a trigger's or automation's run
    changed: row id → (kind, name). A run writes its own row first and its changes after it
    in the same transaction (the same instant, as the desk: no person, no customer)."""
    actors: dict[int, tuple[str, str]] = {}
    run = None
    for row in rows:
        if row.field in ("trigger", "automation"):
            run = (row.at, row.field, row.old_value or "")
        elif run is None or row.at != run[0]:
            run = None
        elif row.actor_user_id is None and row.actor_customer_id is None:
            actors[row.id] = (run[1], run[2])
    return actors


# Payloads of events that get no trigger job: those our own runs emitted (they start no
# chain, see the module docstring), and all of a transaction's when no trigger is active.
# Held by id with the object itself, so an id is not reused while it waits here; taken out
# when the transaction's jobs are staged (`when` is asked once per event).
_ours: dict[int, object] = {}


async def before_commit(tx: Transaction) -> None:
    """No trigger is active: the transaction's ticket events get no trigger jobs (a desk
    without triggers writes no jobs for them, and other handlers' jobs wait behind none)."""
    payloads = [
        event.payload
        for event in tx.events
        if event.type in (MessageCreated.type, TicketUpdated.type)
        and event.payload is not None
        and id(event.payload) not in _ours
    ]
    if not payloads:
        return
    if await tx.session.scalar(select(Trigger.id).where(Trigger.active.is_(True)).limit(1)):
        return
    for payload in payloads:
        _ours[id(payload)] = payload


def _not_ours(payload) -> bool:
    return _ours.pop(id(payload), None) is not payload


def _wants_update(payload: TicketUpdated) -> bool:
    return _not_ours(payload) and any(field in WATCHED for field in payload.fields)


def _wants_message(payload: MessageCreated) -> bool:
    return _not_ours(payload) and not payload.automatic


@handler(MessageCreated, name="routing.triggers.message", when=_wants_message)
async def on_message(tx: Transaction, event: MessageCreated) -> None:
    """A message arrived on a ticket (a customer's, a reply or a note): run the triggers."""
    if event.internal:
        kind = "note"
    else:
        kind = "inbound" if event.direction == "inbound" else "reply"
    await run_triggers(tx, event.ticket_id, kind, message_id=event.message_id)


@handler(TicketUpdated, name="routing.triggers.update", when=_wants_update)
async def on_update(tx: Transaction, event: TicketUpdated) -> None:
    """A ticket's fields changed: run the triggers."""
    changed = [field for field in event.fields if field in WATCHED]
    await run_triggers(tx, event.ticket_id, "update", changed=changed)


async def run_triggers(
    tx: Transaction,
    ticket_id: int,
    kind: str,
    *,
    message_id: int | None = None,
    changed: list[str] = (),
) -> list[str]:
    """One chain: the triggers for this happening, then for what they changed; each at
    most once. The names of the triggers that acted, in order."""
    triggers = (
        await tx.session.scalars(
            select(Trigger).where(Trigger.active.is_(True)).order_by(Trigger.position)
        )
    ).all()
    if not triggers:
        return []
    ticket = await get_ticket(tx.session, ticket_id)
    if ticket is None or ticket.state == BOT or ticket.merged_into_id is not None:
        return []  # the bot's conversation is the bot's; a merged ticket is gone
    text = ""
    if message_id is not None:
        text = await tx.session.scalar(select(Message.text).where(Message.id == message_id)) or ""
    emitted_from = len(tx.events)
    acted: list[str] = []
    fired: set[int] = set()
    while True:
        facts = await ticket_facts(
            tx.session, ticket, text=text, changed=",".join(_labels(changed))
        )
        now_changed: list[str] = []
        for trigger in triggers:
            if trigger.id in fired or kind not in (trigger.events or ()):
                continue
            try:
                conditions = conditions_of(trigger.conditions, TRIGGER_FIELDS)
            except RuleError:
                log.warning("trigger %s has conditions it cannot judge", trigger.id)
                continue
            if not all_hold(conditions, facts):
                continue
            fired.add(trigger.id)
            acted.append(trigger.name)
            events_before = len(tx.events)
            await act(tx, ticket, "trigger", trigger.name, trigger.actions or {})
            await tx.session.execute(
                update(Trigger)
                .where(Trigger.id == trigger.id)
                .values(runs=Trigger.runs + 1, last_run_at=tx.now())
            )
            for event in tx.events[events_before:]:
                if event.type == TicketUpdated.type:
                    now_changed += [f for f in event.data["fields"] if f in WATCHED]
            facts = await ticket_facts(tx.session, ticket, text=text, changed=facts.changed)
        if not now_changed:
            break
        # What the triggers changed is an update the others may react to, in this chain.
        kind, text, changed = "update", "", now_changed
    for event in tx.events[emitted_from:]:
        if event.payload is not None:
            _ours[id(event.payload)] = event.payload
    return acted


def _labels(fields) -> list[str]:
    return [field.removesuffix("_id") for field in dict.fromkeys(fields)]


async def trigger_preview(session, ticket: Ticket, kind: str, text: str) -> list[Trigger]:
    """Which active triggers would act on this ticket for this happening (nothing changes)."""
    triggers = (
        await session.scalars(
            select(Trigger).where(Trigger.active.is_(True)).order_by(Trigger.position)
        )
    ).all()
    facts = await ticket_facts(session, ticket, text=text, changed="")
    found = []
    for trigger in triggers:
        if kind not in (trigger.events or ()):
            continue
        try:
            conditions = conditions_of(trigger.conditions, TRIGGER_FIELDS)
        except RuleError:
            continue
        if all_hold(conditions, facts):
            found.append(trigger)
    return found
