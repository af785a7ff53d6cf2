"""Headless Chromium from Debian, driven by Playwright (no browser download)."""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import async_playwright, expect

# A page's answer may wait on a server process that shares two cores with the suite: a
# check waits up to 10 s (Playwright's default is 5), so a busy machine is no failure.
expect.set_options(timeout=10_000)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    return path


@asynccontextmanager
async def open_browser():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in_page(browser, base_url: str, email: str, password: str):
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.errors = errors
    await page.goto(base_url + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base_url + "/")
    return page
