"""The rooms the shell loads: their models (for migrations), API routers and pages."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("tresen.models", "customers.models", "tickets.models", "channels.email.models")
# Modules that plug into other rooms when imported (e.g. timeline sources).
HOOK_MODULES = ("tickets.timeline",)
API_MODULES = ("customers.api", "tickets.api")
# Where channel adapters hand what they received (channels may not import tickets).
INBOX_MODULE = "tickets.inbox"
PAGE_MODULES = ("agent_ui.routes",)


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
