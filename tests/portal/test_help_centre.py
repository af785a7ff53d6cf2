"""The public help centre: categories, popular and recent articles, one language at a time,
what search engines read (titles, descriptions, canonical, hreflang, sitemap, robots)."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import httpx
import pytest
from alembic import command
from sqlalchemy import text

from knowledge_base.articles import create_article
from knowledge_base.feedback import record_feedback
from knowledge_base.models import ArticleViews
from tresen.clock import FrozenClock
from tresen.database import create_engine
from tresen.migrate import alembic_config

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XHTML = "{http://www.w3.org/1999/xhtml}"
BASE = "http://127.0.0.1:8000"  # the settings' default base URL


@pytest.fixture
async def articles(runtime):
    """Billing (en) and Abrechnung (de) with a public article each, translations of each
    other; a second English article in Shipping; an internal and a draft one."""
    made = {}
    async with runtime.transaction() as tx:
        refund_en = await create_article(
            tx,
            title="Refund of a double charge",
            body="We refund a duplicate payment within 5 days. Send the invoice number.",
            language="en",
            visibility="public",
            category="Billing",
            slug="refund-en",
            translation_group="refund",
        )
        made["refund-en"] = refund_en.id
        refund_de = await create_article(
            tx,
            title="Rückerstattung einer doppelten Abbuchung",
            body="Wir erstatten die doppelte Zahlung binnen 5 Tagen. Nennen Sie die Rechnung.",
            language="de",
            visibility="public",
            category="Abrechnung",
            slug="refund-de",
            translation_group="refund",
        )
        made["refund-de"] = refund_de.id
        delivery = await create_article(
            tx,
            title="Where is my delivery?",
            body="The tracking link is in the shipping confirmation.",
            language="en",
            visibility="public",
            category="Shipping",
            slug="delivery-en",
        )
        made["delivery-en"] = delivery.id
        for visibility in ("internal", "draft"):
            secret = await create_article(
                tx,
                title=f"Secret {visibility} notes",
                body="Not for customers.",
                language="en",
                visibility=visibility,
                category="Billing",
                slug=f"secret-{visibility}",
            )
            made[f"secret-{visibility}"] = secret.id
    return made


def _titles(html: str, section: str) -> list[str]:
    part = html.split(f'class="{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<a href="/help/[^"]+">([^<]+)</a>', part)


async def test_home_shows_the_categories_of_the_browsers_language(client, articles):
    english = await client.get("/help", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert english.status_code == 200
    assert '<html lang="en">' in english.text
    assert "How can we help?" in english.text
    assert "Billing" in english.text and "Shipping" in english.text
    assert "Abrechnung" not in english.text and "Wie können wir helfen" not in english.text
    assert "Refund of a double charge" in english.text
    assert "Secret" not in english.text  # internal and draft articles are not there

    assert f'<link rel="canonical" href="{BASE}/help?lang=en">' in english.text
    assert f'<link rel="alternate" hreflang="de" href="{BASE}/help?lang=de">' in english.text
    assert f'<link rel="alternate" hreflang="x-default" href="{BASE}/help">' in english.text
    assert '<meta name="description" content="Answers from Tresen:' in english.text

    german = await client.get("/help", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert '<meta name="description" content="Antworten von Tresen:' in german.text
    assert "Wie können wir helfen?" in german.text
    assert "Abrechnung" in german.text and "Billing" not in german.text
    assert "Hilfe / Help" not in german.text
    # The switch names both languages; the current one is marked.
    assert re.search(r'href="/help\?lang=en"[^>]*>English<', german.text)
    assert re.search(r'href="/help\?lang=de"[^>]*aria-current="true">Deutsch<', german.text)


async def test_the_address_chooses_and_a_cookie_remembers(client, articles):
    chosen = await client.get("/help?lang=de", headers={"Accept-Language": "en"})
    assert '<html lang="de">' in chosen.text
    assert chosen.cookies.get("tresen_portal_language") == "de"
    # The next page without ?lang= keeps German, though the browser asks for English.
    later = await client.get("/help", headers={"Accept-Language": "en"})
    assert '<html lang="de">' in later.text
    assert "Accept-Language" in later.headers["vary"]
    # A language we do not speak in the address is ignored, not an error.
    other = await client.get("/help?lang=fr")
    assert other.status_code == 200 and '<html lang="de">' in other.text


async def test_popular_and_recent_articles(client, runtime, articles):
    async with runtime.transaction() as tx:
        await record_feedback(tx, articles["delivery-en"], "helpful", reader="r1")
    for _ in range(3):
        assert (await client.get("/help/refund-en")).status_code == 200
    home = (await client.get("/help?lang=en")).text
    assert _titles(home, "popular") == ["Refund of a double charge", "Where is my delivery?"]
    assert _titles(home, "recent")[0] == "Where is my delivery?"
    # An internal article read by a signed-in agent is no more findable for it.
    assert (await client.get("/help/secret-internal")).status_code == 404


async def test_a_category_page(client, articles):
    page = await client.get("/help/category/billing?lang=en")
    assert page.status_code == 200
    assert "<title>Billing · Tresen</title>" in page.text
    assert "Refund of a double charge" in page.text
    assert "Secret" not in page.text
    assert f'<link rel="canonical" href="{BASE}/help/category/billing?lang=en">' in page.text
    # Asked in German, the English-only category answers in English (its articles' one).
    german = await client.get("/help/category/billing?lang=de")
    assert german.status_code == 200 and '<html lang="en">' in german.text
    assert (await client.get("/help/category/no-such-thing")).status_code == 404
    assert (await client.get("/help/category/999999")).status_code == 404


async def test_a_category_with_only_hidden_articles_is_not_there(client, runtime, articles):
    async with runtime.transaction() as tx:
        await create_article(
            tx, title="Draft only", language="en", visibility="draft", category="Internals"
        )
    assert (await client.get("/help/category/internals")).status_code == 404
    assert "Internals" not in (await client.get("/help?lang=en")).text


async def test_drafts_and_internal_articles_are_404(client, articles):
    for slug in ("secret-internal", "secret-draft"):
        answer = await client.get(f"/help/{slug}")
        assert answer.status_code == 404, slug
        assert "Secret" not in answer.text


async def test_an_article_page_is_indexable(client, articles):
    page = await client.get("/help/refund-en")
    html = page.text
    assert "<title>Refund of a double charge · Tresen</title>" in html
    assert (
        '<meta name="description" content="We refund a duplicate payment within 5 days.">' in html
    )
    assert f'<link rel="canonical" href="{BASE}/help/refund-en">' in html
    assert f'<link rel="alternate" hreflang="de" href="{BASE}/help/refund-de">' in html
    assert f'<link rel="alternate" hreflang="en" href="{BASE}/help/refund-en">' in html
    # Its translation is linked, and the switch leads there.
    assert re.search(r'href="/help/refund-de" hreflang="de"[^>]*>Deutsch<', html)
    assert 'href="/help/category/billing?lang=en"' in html  # the crumb to its category
    assert "noindex" not in html
    # The German one speaks German around it, too.
    german = (await client.get("/help/refund-de")).text
    assert '<html lang="de">' in german and "War das hilfreich?" in german
    # An article without translation: the switch goes to the other language's start.
    lone = (await client.get("/help/delivery-en")).text
    assert 'href="/help?lang=de"' in lone and 'rel="alternate"' not in lone


async def test_contact_us_leads_to_the_new_request_form(client, articles):
    home = (await client.get("/help?lang=en")).text
    assert re.search(r'<a href="/portal/requests/new"[^>]*>Contact us</a>', home)
    form = await client.get("/portal/requests/new")
    assert form.status_code == 303  # sign in first, then back to the form
    assert "next=/portal/requests/new" in form.headers["location"]


async def test_no_personal_data_on_public_pages(client, portal_client, articles):
    """A signed-in customer's name is not on the help centre (pages may be cached, shared)."""
    page = await portal_client.get("/help?lang=en")
    assert page.status_code == 200 and "Kim" not in page.text


async def test_sitemap_lists_public_articles_and_categories(client, runtime, articles):
    answer = await client.get("/sitemap.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.content)
    assert root.tag == f"{SITEMAP}urlset"
    urls = {
        url.findtext(f"{SITEMAP}loc"): (
            url.findtext(f"{SITEMAP}lastmod"),
            {link.get("hreflang"): link.get("href") for link in url.iter(f"{XHTML}link")},
        )
        for url in root.iter(f"{SITEMAP}url")
    }
    assert all(loc.startswith(BASE + "/help") for loc in urls)
    expected = {
        f"{BASE}/help?lang=en",
        f"{BASE}/help?lang=de",
        f"{BASE}/help/refund-en",
        f"{BASE}/help/refund-de",
        f"{BASE}/help/delivery-en",
        f"{BASE}/help/category/billing?lang=en",
        f"{BASE}/help/category/abrechnung?lang=de",
        f"{BASE}/help/category/shipping?lang=en",
    }
    assert set(urls) == expected
    today = runtime.clock.now().date()
    for loc, (lastmod, _links) in urls.items():
        day = (lastmod or "").strip()
        assert day in (str(today), str(today - timedelta(days=1))), loc
    assert urls[f"{BASE}/help/refund-en"][1] == {
        "en": f"{BASE}/help/refund-en",
        "de": f"{BASE}/help/refund-de",
    }


async def test_robots_points_at_the_sitemap_and_keeps_the_rest_out(client):
    answer = await client.get("/robots.txt")
    assert answer.status_code == 200
    lines = answer.text.splitlines()
    assert "Allow: /help" in lines and "Disallow: /" in lines
    assert f"Sitemap: {BASE}/sitemap.xml" in lines
    assert not any(line.startswith("Allow: /portal") or line == "Allow: /" for line in lines)


async def test_search_results_are_not_indexed(client, articles):
    page = await client.get("/help?lang=en&q=refund")
    assert page.status_code == 200
    assert "Refund of a double charge" in page.text
    assert '<meta name="robots" content="noindex">' in page.text


async def test_categories_made_before_the_help_centre_get_addresses(runtime, database_url):
    """0025 gives each existing category a slug from its name (unique), and its downgrade
    keeps the articles' categories (no copy of the table that would null them)."""
    async with runtime.transaction() as tx:
        for category in ("Billing", "Billing/Refunds", "Rückerstattung"):
            await create_article(tx, title=category, language="en", category=category)
    await runtime.engine.dispose()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(_config(sync), "0024"))
        async with engine.begin() as connection:
            # As an older release made them: the same name twice, under different parents.
            await connection.execute(text("UPDATE kb_categories SET name = 'Billing'"))
            await connection.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
        async with engine.connect() as connection:
            slugs = (await connection.execute(text("SELECT slug FROM kb_categories"))).scalars()
            kept = await connection.scalar(
                text("SELECT count(*) FROM kb_articles WHERE category_id IS NOT NULL")
            )
    finally:
        await engine.dispose()
    assert sorted(slugs) == ["billing", "billing-2", "billing-3"]
    assert kept == 3


def _config(sync_connection):
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    return config


async def _views(runtime, article_id: int) -> int:
    async with runtime.read() as session:
        counted = await session.get(ArticleViews, article_id)
        return counted.views if counted else 0


async def test_a_view_counts_once_a_reader_and_day_and_never_for_a_crawler(
    app, client, runtime, articles
):
    refund = articles["refund-en"]
    runtime.clock = FrozenClock(runtime.clock.now())
    for _ in range(3):  # reloads
        assert (await client.get("/help/refund-en")).status_code == 200
    assert await _views(runtime, refund) == 1
    elsewhere = httpx.ASGITransport(app=app, client=("203.0.113.9", 4711))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://testserver") as other:
        crawler = {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
        assert (await other.get("/help/refund-en", headers=crawler)).status_code == 200
        assert await _views(runtime, refund) == 1  # a search engine is no reader
        assert (await other.get("/help/refund-en")).status_code == 200
        assert await _views(runtime, refund) == 2  # another reader
    runtime.clock.advance(timedelta(days=1))
    assert (await client.get("/help/refund-en")).status_code == 200
    assert await _views(runtime, refund) == 3  # the first reader, the next day
