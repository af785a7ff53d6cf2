"""Demo bot: the help centre's chat is answered by the FAQ bot first (a person on request)."""

from __future__ import annotations

from bots.settings import save_settings


async def seed(runtime) -> None:
    async with runtime.transaction() as tx:
        await save_settings(
            tx,
            "chat",
            {
                "enabled": True,
                "engine": "faq",
                "name": "Tresen-Bot",
                "greeting_en": "Hello! I am the Tresen bot. Ask me a question, or ask for a "
                "person at any time.",
                "greeting_de": "Hallo! Ich bin der Tresen-Bot. Stellen Sie mir eine Frage, "
                "oder verlangen Sie jederzeit einen Menschen.",
                "hours": "always",
            },
        )
