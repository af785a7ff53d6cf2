"""The help centre in headless Chromium against a real server: the categories in German (the
browser's language) and in English (the switch), a category, an article, "Contact us"
reaching the request form; a phone's 390 px without horizontal scrolling, light and dark."""

from __future__ import annotations

from playwright.async_api import expect

from customers.actions import create_customer
from knowledge_base.articles import create_article
from tests.browser import ARTIFACTS, open_browser
from tresen.runtime import Runtime
from tresen.settings import Settings

WAIT = 20_000  # ms
PHONE = {"width": 390, "height": 844}

ARTICLES = [
    # (slug, group, language, category, title, body)
    ("refund-de", "refund", "de", "Abrechnung", "Rückerstattung einer doppelten Abbuchung",
     "Wurde ein Betrag zweimal abgebucht, erstatten wir ihn binnen 5 Werktagen. " * 3),
    ("refund-en", "refund", "en", "Billing", "Refund of a double charge",
     "If an amount was charged twice, we refund it within 5 working days. " * 3),
    ("delivery-de", "delivery", "de", "Versand", "Wo ist meine Lieferung?",
     "Die Sendungsverfolgung finden Sie in der Versandbestätigung: "
     "https://tracking.example.com/eine/sehr/lange/adresse/die/nicht/umbrechen/will"),
    ("delivery-en", "delivery", "en", "Shipping", "Where is my delivery?",
     "The tracking link is in the shipping confirmation."),
]  # fmt: skip


async def _seed(database_url: str) -> None:
    runtime = Runtime.create(Settings(database_url=database_url, secret_key="x" * 40))
    try:
        async with runtime.transaction() as tx:
            for slug, group, language, category, title, body in ARTICLES:
                await create_article(
                    tx,
                    title=title,
                    body=body,
                    language=language,
                    visibility="public",
                    category=category,
                    slug=slug,
                    translation_group=group,
                )
            await create_article(
                tx, title="Interne Notiz", language="de", visibility="internal", category="Versand"
            )
            await create_customer(tx, name="Kim Meyer", identities=[("email", "kim@example.com")])
    finally:
        await runtime.engine.dispose()


async def _fits(page, what: str) -> None:
    width = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{what}: {width[0]} px wide in a {width[1]} px window"


async def test_categories_in_german_and_english_an_article_and_contact(server, database_url):
    await _seed(database_url)
    made = server.cli("portal", "link", "kim@example.com")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip().splitlines()[-1]
    ARTIFACTS.mkdir(exist_ok=True)

    async with open_browser() as browser:
        context = await browser.new_context(viewport=PHONE, locale="de-DE", is_mobile=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # German by the browser's Accept-Language: German categories only.
        await page.goto(server.url + "/help")
        await expect(page.get_by_role("heading", name="Wie können wir helfen?")).to_be_visible()
        categories = page.locator(".category-card h3")
        await expect(categories).to_have_text(["Abrechnung", "Versand"])
        await expect(page.get_by_text("Interne Notiz")).to_have_count(0)
        await expect(page.get_by_role("link", name="Deutsch")).to_have_attribute(
            "aria-current", "true"
        )
        await _fits(page, "/help (de)")
        await page.screenshot(path=ARTIFACTS / "help-centre-de-390.png", full_page=True)

        # The switch: English, remembered on the next page.
        await page.get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
        await expect(categories).to_have_text(["Billing", "Shipping"])
        await page.goto(server.url + "/help")
        await expect(page.locator("html")).to_have_attribute("lang", "en")

        # A category page, then an article with its translation linked.
        await page.get_by_role("link", name="Billing").click()
        await page.wait_for_url("**/help/category/billing?lang=en")
        await expect(page.get_by_role("heading", name="Billing", level=1)).to_be_visible()
        await _fits(page, "category page")
        await page.get_by_role("link", name="Refund of a double charge").click()
        await page.wait_for_url(server.url + "/help/refund-en")
        await expect(page).to_have_title("Refund of a double charge · Tresen")
        await expect(page.get_by_text("Was this helpful?")).to_be_visible()
        await _fits(page, "article page")
        await page.get_by_role("link", name="Deutsch", exact=True).click()
        await page.wait_for_url(server.url + "/help/refund-de")
        await expect(page.get_by_text("War das hilfreich?")).to_be_visible()

        # A long unbroken address in an article does not widen the page.
        await page.goto(server.url + "/help/delivery-de")
        await _fits(page, "article with a long link")

        # "Contact us": signed in to the portal (in the language chosen here, English), it
        # opens the new-request form.
        await page.goto(link)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.wait_for_url(server.url + "/portal/tickets")
        await page.goto(server.url + "/help")
        await page.get_by_role("banner").get_by_role("link", name="Contact us").click()
        await page.wait_for_url(server.url + "/portal/requests/new")
        await expect(page.get_by_role("heading", name="New request")).to_be_visible()
        assert errors == []
        await context.close()


async def test_dark_mode_and_a_phone(server, database_url):
    """prefers-color-scheme: dark: a dark background, light text; still no sideways scroll."""
    await _seed(database_url)
    async with open_browser() as browser:
        context = await browser.new_context(
            viewport=PHONE, locale="en-US", color_scheme="dark", is_mobile=True
        )
        page = await context.new_page()
        for path in ("/help", "/help/category/shipping", "/help/refund-en"):
            await page.goto(server.url + path)
            await _fits(page, path + " (dark)")
            colours = await page.evaluate(
                "() => { const s = getComputedStyle(document.body);"
                " return [s.backgroundColor, s.color]; }"
            )
            background, text = (_brightness(c) for c in colours)
            assert background < 60 and text > 180, (path, colours)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "help-centre-article-dark-390.png", full_page=True)
        await context.close()


def _brightness(css: str) -> float:
    red, green, blue = (float(n) for n in css[css.index("(") + 1 : -1].split(",")[:3])
    return (red * 299 + green * 587 + blue * 114) / 1000
