"""`tresen demo --port N` as a new user runs it: routed sample tickets, a reply really sent and
read on the demo mail page, and article links that work on the port chosen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.support import free_port, terminate

WAIT = 20_000  # ms


def start_demo(data_dir, port: int) -> subprocess.Popen:
    """`python -m tresen demo --port N` on its own data folder, as README's first command."""
    env = {k: v for k, v in os.environ.items() if k != "TRESEN_BASE_URL"}
    env.update(TRESEN_DATA_DIR=str(data_dir), TRESEN_SECRET_KEY="demo-test-key-" + "k" * 24)
    env.pop("TRESEN_DATABASE_URL", None)
    log = data_dir / "demo.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "tresen", "demo", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"demo exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    terminate(process)
    raise RuntimeError(f"demo did not start: {log.read_text()[-3000:]}")


async def test_demo_reply_reaches_the_demo_mail_page_and_links_follow_the_port(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_demo(tmp_path / "demo", port)
    try:
        printed = (tmp_path / "demo" / "demo.log").read_text()
        for path in ("/help", "/portal", "/demo/mail"):
            assert f"{base}{path}" in printed, printed
        assert "tresen demo --reset" in printed

        async with open_browser() as browser:
            page = await sign_in_page(browser, base, "agent@demo.tresen.test", "demo-agent-pw")
            try:
                await page.goto(f"{base}/?state=all")
                await page.get_by_role("link", name="Cannot log in to the booking portal").click()
                await page.wait_for_url(re.compile(rf"{base}/tickets/\d+"))
                ticket_url = page.url
                # Routed by the demo's rules when it arrived: the ticket says so.
                routing = page.locator("#ticket-routing")
                await routing.get_by_text("Why it is here").click()
                await expect(routing).to_contain_text(
                    "Everything to Support, under the Standard SLA", timeout=WAIT
                )
                # The mail's source is kept: "Original" shows it as text.
                original = page.get_by_role("link", name="Original").first
                source = httpx.get(
                    base + await original.get_attribute("href"),
                    cookies={c["name"]: c["value"] for c in await page.context.cookies()},
                )
                assert source.headers["content-type"].startswith("text/plain")
                assert "Subject: Cannot log in to the booking portal" in source.text

                await page.locator("#reply-text").fill("Hello Emma, please clear the cookies.")
                await page.get_by_role("button", name="Send", exact=True).click()
                await expect(page.locator("#messages")).to_contain_text(
                    "please clear the cookies", timeout=WAIT
                )

                # The outbox sends it by SMTP to the demo's sink; the page lists it.
                deadline = time.monotonic() + 30
                while True:
                    await page.goto(f"{base}/demo/mail")
                    link = page.get_by_role("link", name=re.compile("Cannot log in"))
                    if await link.count() or time.monotonic() > deadline:
                        break
                    await page.wait_for_timeout(500)
                await link.first.click()
                await expect(page.locator("main")).to_contain_text(
                    "please clear the cookies", timeout=WAIT
                )
                await expect(page.locator("main")).to_contain_text(
                    "emma.wilson@nordlicht-reisen.example"
                )

                # A suggested article opens on this port.
                await page.goto(ticket_url)
                suggestion = page.locator("#suggestions a.title").first
                await expect(suggestion).to_be_visible(timeout=WAIT)
                await suggestion.click()
                await page.wait_for_url(re.compile(rf"{base}/kb/\d+"))

                # The bot's answers in the demo chats link the help centre on this port.
                await page.goto(f"{base}/?state=all")
                await page.get_by_role("link", name=re.compile("charged twice")).first.click()
                await page.wait_for_url(re.compile(rf"{base}/tickets/\d+"))
                messages = page.locator("#messages")
                await expect(messages).to_contain_text(f"{base}/help/", timeout=WAIT)
                found = re.search(rf"{re.escape(base)}/help/[\w-]+", await messages.inner_text())
                await page.goto(found.group(0))
                await expect(page.locator("h1")).to_contain_text("Refund of a double charge")
                assert not page.errors, page.errors
            except Exception:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "demo-browser.png"), full_page=True)
                raise
    finally:
        terminate(process)
