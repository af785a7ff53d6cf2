"""Hostile mail in headless Chromium: every case of the sanitizer corpus arrives as a mail, is
shown on its ticket page, and nothing of it runs or leaves the message's box."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.tresen.test_sanitizer_corpus import CORPUS, NEWSLETTER

# What a mail stored before the sanitizer kept only harmless styles could still hold: the
# console's CSS alone (contain, isolation) must keep it inside the message box.
UNSANITIZED = (
    '<div id="raw-fixed" style="position:fixed;inset:0;z-index:2147483647;background:#fff">'
    "Session expired. Sign in again.</div>"
    '<div style="position:absolute;top:-600px;left:-600px;width:5000px;height:5000px;'
    'z-index:99999;background:red"></div>'
    '<div style="margin:-3000px 0 0 -3000px;width:9000px;height:9000px;background:red"></div>'
    '<div style="transform:translate(-2000px,-2000px) scale(40);background:red">x</div>'
)

# Runs in the page: where the message's box is, which of its elements lie outside the area
# it can scroll (up and left no box can scroll: outside is escaped), and which points of the
# viewport outside the box hit something of the message (a cover over the console).
MEASURE = """
() => {
  const box = document.querySelector('#messages .message .body.html');
  const r = box.getBoundingClientRect();
  const right = r.left + Math.max(box.scrollWidth, r.width);
  const bottom = r.top + Math.max(box.scrollHeight, r.height);
  const escaped = [];
  for (const element of box.querySelectorAll('*')) {
    const e = element.getBoundingClientRect();
    if (e.width === 0 && e.height === 0) continue;
    if (e.left < r.left - 1 || e.top < r.top - 1 || e.right > right + 1 || e.bottom > bottom + 1)
      escaped.push(element.outerHTML.slice(0, 120));
  }
  const covered = [];
  for (const scroll of [0, document.documentElement.scrollHeight]) {
    window.scrollTo(0, scroll);
    const b = box.getBoundingClientRect();
    for (let x = 1; x < innerWidth; x += 31) for (let y = 1; y < innerHeight; y += 31) {
      if (x >= b.left && x <= b.right && y >= b.top && y <= b.bottom) continue;
      const hit = document.elementFromPoint(x, y);
      if (hit && box.contains(hit)) covered.push([x, y, hit.tagName]);
    }
  }
  window.scrollTo(0, 0);
  const reply = document.querySelector('#reply-text');
  reply.scrollIntoView({block: 'center'});
  const t = reply.getBoundingClientRect();
  const onReply = document.elementFromPoint(t.left + t.width / 2, t.top + t.height / 2);
  window.scrollTo(0, 0);
  return {
    escaped, covered,
    replyReachable: onReply === reply,
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: document.documentElement.clientWidth,
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    boxes: box.querySelectorAll('*').length,
  };
}
"""


COVERS = """
(selector) => {
  const box = document.querySelector(selector);
  const b = box.getBoundingClientRect();
  const covered = [];
  for (let x = 1; x < innerWidth; x += 31) for (let y = 1; y < innerHeight; y += 31) {
    if (x >= b.left && x <= b.right && y >= b.top && y <= b.bottom) continue;
    const hit = document.elementFromPoint(x, y);
    if (hit && box.contains(hit)) covered.push([x, y, hit.tagName]);
  }
  return covered;
}
"""


@pytest.fixture
def desk(server):
    # A supervisor: they may publish the help centre article the test also checks.
    server.add_user("agent@example.com", "agent-password", role="supervisor", name="Anna")
    server.token = server.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    return server


def deliver(desk, name: str, html: str) -> int:
    answer = httpx.post(
        desk.url + "/api/v1/inbound",
        headers={"Authorization": f"Bearer {desk.token}"},
        json={
            "channel": "email",
            "external_id": f"<corpus-{abs(hash(name))}@evil.example>",
            "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
            "subject": f"Corpus: {name}",
            "html": f"<p>{name}</p>{html}",  # a box to measure, even where nothing else is left
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["ticket_id"]


def public_article(desk) -> str:
    answer = httpx.post(
        desk.url + "/api/v1/kb/articles",
        headers={"Authorization": f"Bearer {desk.token}"},
        json={"title": "Passwort", "body": "So geht es.", "language": "de", "visibility": "public"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["slug"]


async def show_html(page) -> None:
    """The message's HTML, opened where the page shows its text first."""
    await page.locator("#messages .message .body.html").wait_for(state="attached")
    await page.evaluate(
        "document.querySelectorAll('#messages details.full').forEach(d => d.open = true)"
    )
    await page.locator("#messages .message .body.html").wait_for()


def assert_contained(name: str, measured: dict) -> None:
    assert measured["covered"] == [], f"{name}: the message covers the console"
    assert measured["replyReachable"], f"{name}: the reply box is covered"
    assert measured["pageWidth"] <= measured["viewportWidth"], f"{name}: the page got wider"
    assert measured["pwned"] is None, f"{name}: a script ran"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the page, not the engine
async def test_no_case_of_the_corpus_runs_or_leaves_its_message_box(desk):
    tickets = {name: deliver(desk, name, html) for name, html in CORPUS.items()}
    tickets["newsletter"] = deliver(desk, "newsletter", NEWSLETTER)
    hostile_requests: list[str] = []
    dialogs: list[str] = []
    async with open_browser() as browser:
        page = await sign_in_page(browser, desk.url, "agent@example.com", "agent-password")
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))

        async def refuse(route):
            hostile_requests.append(route.request.url)
            await route.abort()

        await page.route("**/*evil.example*", refuse)
        await page.set_viewport_size({"width": 1280, "height": 800})
        for name, ticket_id in tickets.items():
            await page.goto(f"{desk.url}/tickets/{ticket_id}", wait_until="load")
            await show_html(page)
            measured = await page.evaluate(MEASURE)
            assert measured["escaped"] == [], f"{name}: {measured['escaped']}"
            assert_contained(name, measured)
            if name == "fixed overlay":
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=ARTIFACTS / "hostile-mail.png")
        assert measured["boxes"] > 5  # the newsletter: its table and paragraphs are shown

        # A mail stored with any style at all (before this sanitizer): the CSS holds it.
        await page.goto(f"{desk.url}/tickets/{tickets['newsletter']}", wait_until="load")
        await show_html(page)
        await page.locator("#messages .message .body.html").evaluate(
            "(box, html) => box.insertAdjacentHTML('beforeend', html)", UNSANITIZED
        )
        assert_contained("unsanitized", await page.evaluate(MEASURE))
        raw, box = await page.evaluate(
            """() => [document.querySelector('#raw-fixed').getBoundingClientRect().toJSON(),
                      document.querySelector('#messages .body.html').getBoundingClientRect()
                        .toJSON()]"""
        )
        # position:fixed is placed in the message's box, not in the window.
        assert (raw["left"], raw["top"]) == (box["left"], box["top"])
        assert raw["width"] <= box["width"] + 1
        await page.screenshot(path=ARTIFACTS / "hostile-mail-unsanitized.png")

        # The help centre's article body is held the same way.
        await page.goto(f"{desk.url}/help/{public_article(desk)}", wait_until="load")
        await page.locator(".article-body").evaluate(
            "(box, html) => box.insertAdjacentHTML('beforeend', html)", UNSANITIZED
        )
        covered = await page.evaluate(COVERS, ".article-body")
        assert covered == [], "the article covers the help centre"
        # The policy would have blocked a script, style sheet, frame or plug-in the sanitizer
        # let through: it had nothing to block but the corpus's cid: images without a part.
        csp = [
            error
            for error in page.errors
            if "Content Security Policy" in error and "img-src" not in error
        ]
    assert hostile_requests == [] and dialogs == [] and csp == []
