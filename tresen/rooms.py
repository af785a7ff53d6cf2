"""The rooms the shell loads: their models (for migrations), API routers and pages."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "tresen.models",
    "customers.models",
    "tickets.models",
    "channels.email.models",
    "routing.models",
    "knowledge_base.models",
)
# Modules that plug into other rooms when imported (e.g. timeline sources).
HOOK_MODULES = ("tickets.timeline", "tickets.customers")
API_MODULES = (
    "customers.api",
    "tickets.api",
    "channels.email.api",
    "routing.api",
    "knowledge_base.api",
)
# Where channel adapters hand what they received (channels may not import tickets).
INBOX_MODULE = "tickets.inbox"
# Where the inbox asks for each message's routing decision (tickets may not import
# routing): `route(tx, inbound=, ticket=, message_id=, opened=)`.
ROUTER_MODULE = "routing.engine"
# Run in every writing transaction before it commits, with the transaction: they
# see its events (e.g. routing keeps the SLA clocks of the tickets it changed).
COMMIT_HOOKS = ("routing.clocks",)
# Each channel's sending module: `send(runtime, outbound)` and, where the channel lets
# us choose it, `new_external_id(message_id, sender)` (the outbox may not import channels).
CHANNEL_MODULES = {"email": "channels.email.send"}
# Commands rooms add to the CLI: COMMAND, add_commands(subparsers) and run(...).
CLI_MODULES = ("channels.email.cli", "routing.cli", "knowledge_base.cli")
# Background work every server process runs: `run(runtime)` coroutines.
WORKER_MODULES = (
    "tickets.inbox",
    "tickets.outbox",
    "channels.email.fetch",
    "channels.email.receive",
    "routing.scheduler",
    "routing.config",
    "routing.notify_mail",
    "knowledge_base.semantic",
)
PAGE_MODULES = (
    "agent_ui.routes",
    "agent_ui.lists",
    "agent_ui.ticket",
    "agent_ui.customer_panel",
    "agent_ui.macros",
    "agent_ui.board",
    "agent_ui.search",
    "agent_ui.admin",
    "agent_ui.desk",
    "agent_ui.admin_routing",
    "agent_ui.knowledge",
    "portal.help",
)


def load_models() -> None:
    """Import every room's models so the shared metadata knows all tables."""
    for name in MODEL_MODULES + HOOK_MODULES:
        importlib.import_module(name)


def api_routers() -> list:
    return [importlib.import_module(name).router for name in API_MODULES]


def page_routes() -> list:
    routes = []
    for name in PAGE_MODULES:
        routes.extend(importlib.import_module(name).routes)
    return routes


async def deliver(runtime, inbound):
    """Hand one InboundMessage to the inbox: kept whatever it holds, or this raises."""
    return await importlib.import_module(INBOX_MODULE).deliver(runtime, inbound)


async def route(tx, **details):
    """The routing decision for one inbound message (see ROUTER_MODULE)."""
    return await importlib.import_module(ROUTER_MODULE).route(tx, **details)


async def before_commit(tx) -> None:
    for name in COMMIT_HOOKS:
        await importlib.import_module(name).before_commit(tx)


def channel(name: str):
    """The sending module of a channel (see CHANNEL_MODULES)."""
    return importlib.import_module(CHANNEL_MODULES[name])


def workers() -> list:
    """The `run(runtime)` coroutine functions of every room's background work."""
    return [importlib.import_module(name).run for name in WORKER_MODULES]


def cli_modules() -> list:
    return [importlib.import_module(name) for name in CLI_MODULES]
