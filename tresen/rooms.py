"""The rooms the shell loads: their models (for migrations), API routers and pages."""

from __future__ import annotations

import importlib

from tresen import channel as channel_registry

MODEL_MODULES = (
    "tresen.models",
    "tresen.desk_settings",
    "tresen.invites",
    "tresen.totp",
    "customers.models",
    "tickets.models",
    "tickets.undo_models",
    "routing.models",
    "routing.automation_models",
    "knowledge_base.models",
    "tickets.csat_models",
    "customers.portal_models",
    "bots.models",
)
# Modules that plug into other rooms when imported (e.g. timeline sources).
HOOK_MODULES = (
    "tickets.timeline",
    "tickets.customers",
    "tickets.personal_data",
    "knowledge_base.personal_data",
    "bots.personal_data",
)
API_MODULES = (
    "tresen.users_api",
    "customers.api",
    "customers.data_rights_api",
    "tickets.api",
    "tickets.csat_api",
    "routing.api",
    "knowledge_base.api",
    "bots.status_api",
    "bots.settings_api",
    "bots.api",
)
# Where channel adapters hand what they received (channels may not import tickets).
INBOX_MODULE = "tickets.inbox"
# Where the inbox asks for each message's routing decision (tickets may not import
# routing): `route(tx, inbound=, ticket=, message_id=, opened=)`.
ROUTER_MODULE = "routing.engine"
# Where a channel queues a mail that is not a ticket message (a chat's verification code,
# its transcript): `queue_mail(tx, recipient, subject, text)`.
MAIL_MODULE = "tickets.delivery"
# Where a channel attaches an identity it verified (a chat visitor's e-mail) to a customer:
# `link_identity(tx, customer_id, kind, value) -> customer_id` (merging into its owner).
CUSTOMERS_MODULE = "customers.actions"
# The link that asks a customer to rate a ticket (a chat's end asks in the widget):
# `rating_url(session, settings, ticket_id, now) -> str | None`.
CSAT_MODULE = "tickets.csat"
# Whether a customer may be contacted for a purpose (service_mail, sms, marketing):
# `allows(session, customer_id, purpose) -> bool` (the rule: customers/consent.py).
CONSENT_MODULE = "customers.consent"
# Whether a queue is open and staffed now (a chat offers "leave a message" when not):
# `availability(session, queue_id, now, chat_default_capacity=3) -> dict`.
AVAILABILITY_MODULE = "routing.availability"
# Whether the channel's bot answers a new conversation first (routing asks, at creation):
# `bot_takes(tx, ticket=, inbound=, language=) -> bool`; and whether it takes back a
# conversation it resolved when the customer writes again: `bot_resumes(tx, ticket=, inbound=)`
# (asked for a ticket "bot" or "open"; what the bot cannot answer it hands to people, routed).
BOTS_MODULE = "bots.takeover"
# Whether a channel's bot is on now, and its name and greeting (channels may not import bots):
# `bot_for(session, channel, now, queue_id=None) -> dict | None`.
BOT_AVAILABILITY_MODULE = "bots.availability"
# What routing skipped while the bot had a ticket, done at its handoff (assignment, offer,
# SLA policy): `handed_over(tx, ticket_id)`; also its commit hook, so it runs once.
HANDOVER_MODULE = "routing.handover"
# The styled error page a browser gets (403, 404, 500, ...), and whether a request wants
# one: `error_page(request, status, detail) -> Response`, `wants_page(request) -> bool`.
ERROR_PAGES_MODULE = "agent_ui.errors"
# Run in every writing transaction before it commits, with the transaction: they
# see its events (e.g. routing keeps the SLA clocks of the tickets it changed).
# (routing.handover first: what the bot handed off gets its SLA policy and its offer.)
# (bots.outcomes before it: a handoff ends the bot's conversation, whoever made it.)
# (routing.triggers last: it only decides whether the events get trigger jobs.)
COMMIT_HOOKS = (
    "bots.outcomes",
    "routing.handover",
    "routing.clocks",
    "routing.offers",
    "routing.triggers",
)
# Channels (their models, API, pages, workers, commands and events) come from tresen.channel.
# Commands rooms add to the CLI: COMMAND, add_commands(subparsers) and run(...).
CLI_MODULES = (
    "tresen.channel_cli",
    "tresen.handlers_cli",
    "tresen.secrets_cli",
    "tresen.totp_cli",
    "tickets.cli",
    "routing.cli",
    "knowledge_base.cli",
    "portal.cli",
    "bots.cli",
)
# Each room's typed event payloads (tresen.events.Payload subclasses), so an event
# emitted by name is checked against its class.
EVENT_MODULES = (
    "tresen.staff_events",
    "customers.events",
    "tickets.events",
    "routing.events",
    "knowledge_base.events",
)
# Durable reactions to events (tresen.handlers.handler), registered when imported.
HANDLER_MODULES = (
    "routing.notify_mail",
    "tickets.csat_mail",
    "routing.csat_alerts",
    "bots.handler",
    "bots.outcomes",
    "routing.triggers",
)
# Background work every server process runs: `run(runtime)` coroutines.
WORKER_MODULES = (
    "tresen.handlers",
    "tickets.inbox",
    "tickets.outbox",
    "routing.scheduler",
    "routing.automations",
    "routing.config",
    "routing.offers",
    "knowledge_base.semantic",
    "bots.sweep",
)
PAGE_MODULES = (
    "agent_ui.routes",
    "agent_ui.lists",
    "agent_ui.ticket",
    "agent_ui.customer_panel",
    "agent_ui.directory",
    "agent_ui.new_ticket",
    "agent_ui.macros",
    "agent_ui.board",
    "agent_ui.search",
    "agent_ui.admin",
    "agent_ui.desk",
    "agent_ui.people",
    "agent_ui.account",
    "agent_ui.admin_settings",
    "agent_ui.help_settings",
    "agent_ui.admin_routing",
    "agent_ui.admin_queues",
    "agent_ui.admin_sla",
    "agent_ui.admin_automations",
    "agent_ui.knowledge",
    "agent_ui.chats",
    "agent_ui.data_rights",
    "agent_ui.bots",
    "agent_ui.demo_mail",
    "portal.help",
    "portal.rating",
    "portal.sign_in",
    "portal.my_data",
    "portal.tickets",
    "portal.requests",
)


def load_models() -> None:
    """Import every room's models so the shared metadata knows all tables."""
    for name in MODEL_MODULES + HOOK_MODULES:
        importlib.import_module(name)
    for item in channel_registry.channels():
        for name in item.models:
            importlib.import_module(name)


def load_handlers() -> None:
    """Import the event payload classes and the durable handlers of every room."""
    for name in EVENT_MODULES + HANDLER_MODULES:
        importlib.import_module(name)
    for item in channel_registry.channels():
        for name in item.events:
            importlib.import_module(name)


def api_routers() -> list:
    routers = [importlib.import_module(name).router for name in API_MODULES]
    for item in channel_registry.channels():
        routers.extend(item.api_routers)
    return routers


def page_routes() -> list:
    routes = []
    for name in PAGE_MODULES:
        module = importlib.import_module(name)
        # `page_routes()` where what a module serves depends on the registered channels.
        routes.extend(module.page_routes() if hasattr(module, "page_routes") else module.routes)
    for item in channel_registry.channels():
        routes.extend(item.routes)
    return routes


async def deliver(runtime, inbound):
    """Hand one InboundMessage to the inbox: kept whatever it holds, or this raises."""
    return await importlib.import_module(INBOX_MODULE).deliver(runtime, inbound)


async def route(tx, **details):
    """The routing decision for one inbound message (see ROUTER_MODULE)."""
    return await importlib.import_module(ROUTER_MODULE).route(tx, **details)


async def queue_mail(tx, recipient: str, subject: str, text: str) -> None:
    """Queue a mail to a customer's address that is not a ticket message (see MAIL_MODULE)."""
    await importlib.import_module(MAIL_MODULE).queue_mail(tx, recipient, subject, text)


async def link_identity(tx, customer_id: int, kind: str, value: str) -> int:
    """Attach a verified identity to a customer; the record it ends on (CUSTOMERS_MODULE)."""
    module = importlib.import_module(CUSTOMERS_MODULE)
    return await module.link_identity(tx, customer_id, kind, value)


async def rating_url(session, settings, ticket_id: int, now) -> str | None:
    """The signed link to rate a ticket, for its customer (see CSAT_MODULE)."""
    module = importlib.import_module(CSAT_MODULE)
    return await module.ticket_rating_url(session, settings, ticket_id, now)


async def may_contact(session, customer_id: int, purpose: str) -> bool:
    """Whether the customer's consent allows contacting them for this purpose (automatic
    mail: "service_mail"); replies to their own request are not asked (CONSENT_MODULE)."""
    module = importlib.import_module(CONSENT_MODULE)
    return await module.allows(session, customer_id, purpose)


async def availability(session, queue_id: int | None, now, **options) -> dict:
    """Whether the queue is open and staffed (see AVAILABILITY_MODULE)."""
    module = importlib.import_module(AVAILABILITY_MODULE)
    return await module.availability(session, queue_id, now, **options)


async def bot_takes(tx, **details) -> bool:
    """Whether the channel's bot answers this new ticket first (see BOTS_MODULE)."""
    return await importlib.import_module(BOTS_MODULE).bot_takes(tx, **details)


async def bot_resumes(tx, **details) -> bool:
    """Whether the bot takes back a conversation it resolved (see BOTS_MODULE)."""
    return await importlib.import_module(BOTS_MODULE).bot_resumes(tx, **details)


async def bot_for(session, channel: str, now, **options) -> dict | None:
    """The channel's bot when it is on now: name, greeting, engine (BOT_AVAILABILITY_MODULE)."""
    module = importlib.import_module(BOT_AVAILABILITY_MODULE)
    return await module.bot_for(session, channel, now, **options)


async def handed_over(tx, ticket_id: int) -> None:
    """Route a ticket the bot just handed off, now rather than at commit (HANDOVER_MODULE)."""
    await importlib.import_module(HANDOVER_MODULE).handed_over(tx, ticket_id)


async def before_commit(tx) -> None:
    for name in COMMIT_HOOKS:
        await importlib.import_module(name).before_commit(tx)


def wants_error_page(request) -> bool:
    """Whether this request came from a browser opening a page (see ERROR_PAGES_MODULE)."""
    return importlib.import_module(ERROR_PAGES_MODULE).wants_page(request)


async def error_page(request, status: int, detail: str | None = None):
    """The styled error page for a browser (see ERROR_PAGES_MODULE)."""
    return await importlib.import_module(ERROR_PAGES_MODULE).error_page(request, status, detail)


def workers() -> list:
    """The `run(runtime)` coroutine functions of every room's and channel's background work."""
    runs = [importlib.import_module(name).run for name in WORKER_MODULES]
    for item in channel_registry.channels():
        runs.extend(item.workers)
    return runs


def cli_modules() -> list:
    """Modules adding `tresen` commands (channels add theirs under `tresen channels`)."""
    return [importlib.import_module(name) for name in CLI_MODULES]
