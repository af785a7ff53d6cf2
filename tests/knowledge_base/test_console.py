"""The knowledge base in the console (suggestions panel, editor) and the public help centre
(only public articles; "Was this helpful?")."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from knowledge_base.feedback import article_feedback
from knowledge_base.models import Article
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import KB_ARTICLES, csrf_of, kb_record, lexical_only, load_kb_samples, sign_in


async def test_the_help_centre_shows_public_articles_only(runtime, client):
    ids = await load_kb_samples(lexical_only(runtime))
    found = await client.get("/help", params={"q": "Rückerstattungen"})
    assert "Rückerstattung beantragen" in found.text
    assert "Kulanzregeln" not in found.text and "Richtlinie" not in found.text
    assert (await client.get("/help/goodwill-de")).status_code == 404  # internal
    assert (await client.get("/help/draft-de")).status_code == 404
    page = await client.get("/help/refund-de")
    assert page.status_code == 200 and "War das hilfreich?" in page.text
    assert 'href="/help/refund-en"' in page.text  # the translation is linked
    refused = await client.post("/help/refund-de", data={"helpful": "yes"})
    assert refused.status_code == 403  # no CSRF token
    answered = await client.post(
        "/help/refund-de", data={"helpful": "no", "csrf_token": csrf_of(page.text)}
    )
    assert answered.status_code == 303
    changed_mind = await client.post(
        "/help/refund-de", data={"helpful": "yes", "csrf_token": csrf_of(page.text)}
    )
    assert changed_mind.status_code == 303
    async with runtime.read() as session:
        counts = await article_feedback(session, ids["refund-de"])
    assert (counts["helpful"], counts["not_helpful"]) == (1, 0)  # one visitor, one answer
    bad = await client.post(
        "/help/refund-de", data={"helpful": "maybe", "csrf_token": csrf_of(page.text)}
    )
    assert bad.status_code == 400 and "maybe" in bad.text


async def test_agents_write_edit_and_restore_articles_in_the_console(runtime, client, agent):
    assert (await client.get("/kb")).status_code == 303  # signed out: to the login
    await sign_in(client)
    form = await client.get("/kb/new")
    made = await client.post(
        "/kb/new",
        data={
            "csrf_token": csrf_of(form.text),
            "language": "de",
            "title": "Gutschein einlösen",
            "body": "Geben Sie den Code an der **Kasse** ein.",
            "keywords": "Gutschein, Code",
            "visibility": "public",
        },
    )
    assert made.status_code == 403 and "published by supervisors" in made.text
    untitled = await client.post(
        "/kb/new", data={"csrf_token": csrf_of(form.text), "language": "de"}
    )
    assert untitled.status_code == 422 and "needs a title" in untitled.text
    made = await client.post(
        "/kb/new",
        data={
            "csrf_token": csrf_of(form.text),
            "language": "de",
            "title": "Gutschein einlösen",
            "body": "Geben Sie den Code an der **Kasse** ein.",
            "keywords": "Gutschein, Code",
            "visibility": "internal",
        },
    )
    assert made.status_code == 303
    article_url = made.headers["location"]
    page = await client.get(article_url)
    assert "<strong>Kasse</strong>" in page.text and "Version 1" in page.text
    changed = await client.post(
        article_url,
        data={"csrf_token": csrf_of(page.text), "title": "Gutscheine einlösen", "body": "Neu."},
    )
    assert changed.status_code == 303
    empty = await client.post(article_url, data={"csrf_token": csrf_of(page.text), "title": ""})
    assert empty.status_code == 422 and "needs a title" in empty.text
    restored = await client.post(
        article_url, data={"csrf_token": csrf_of(page.text), "restore": "1"}
    )
    assert restored.status_code == 303
    async with runtime.read() as session:
        article = await session.get(Article, int(article_url.rsplit("/", 1)[1]))
        assert (article.title, article.version, article.slug) == (
            "Gutschein einlösen",
            3,
            "gutschein-einlosen",
        )
    listed = await client.get("/kb", params={"q": "Kasse"})
    assert "Gutschein einlösen" in listed.text and "<mark>" in listed.text


async def test_suggestions_on_the_ticket_page_insert_and_learn(server):
    server.add_user("sam@example.com", "super-password", role="supervisor", name="Sam Super")
    token = server.cli(
        "tokens", "create", "sam@example.com", "--scope", "integration"
    ).stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    records = [kb_record(*row) for row in KB_ARTICLES]
    imported = httpx.post(server.url + "/api/v1/kb/import", headers=api, json={"articles": records})
    assert imported.status_code == 200 and imported.json()["created"] == len(records)
    delivered = httpx.post(
        server.url + "/api/v1/inbound",
        headers=api,
        json={
            "channel": "email",
            "external_id": "<kb-browser@example.com>",
            "from": {"kind": "email", "value": "karla@example.com", "name": "Karla Kundin"},
            "subject": "Rückerstattung",
            "text": "Guten Tag, ich möchte eine Rückerstattung für meine Bestellung beantragen.",
        },
    )
    assert delivered.status_code == 202, delivered.text
    ticket_id = delivered.json()["ticket_id"]
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "sam@example.com", "super-password")
        await page.goto(f"{server.url}/tickets/{ticket_id}")
        panel = page.get_by_role("region", name="Suggested articles")
        first = panel.locator(".suggestion").first
        await expect(first.locator(".title")).to_have_text("Rückerstattung beantragen")
        await expect(first.locator(".snippet mark").first).to_be_visible()
        await page.locator("#reply-text").fill("Hallo Frau Kundin,")
        await first.get_by_role("button", name="Insert", exact=True).click()
        await expect(page.locator("#reply-text")).to_have_value(
            "Hallo Frau Kundin,\n\n" + KB_ARTICLES[0][4]
        )
        await expect(panel.locator(".suggestion").first.locator(".badge.used")).to_be_visible()
        # Not relevant: gone from this ticket's suggestions.
        others = panel.locator(".suggestion")
        second_title = await others.nth(1).locator(".title").text_content()
        await others.nth(1).get_by_role("button", name="Not relevant").click()
        await expect(panel.locator(".title", has_text=second_title)).to_have_count(0)
        await page.screenshot(path=ARTIFACTS / "ticket-suggestions.png", full_page=True)
        assert page.errors == []
    verdicts = httpx.get(
        f"{server.url}/api/v1/tickets/{ticket_id}/suggestions", headers=api
    ).json()["suggestions"]
    assert {s["title"]: s["verdict"] for s in verdicts}["Rückerstattung beantragen"] == "used"
    assert second_title not in [s["title"] for s in verdicts]
