"""Error pages over HTTP: a browser gets a styled page, scripts and the API their short
answers, and a 500 never shows what failed inside."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from tests.fixtures import sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_a_browser_gets_a_page_scripts_the_short_answer(runtime, client, agent):
    page = await client.get("/nothing/here", headers=BROWSER)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and 'href="/"' in page.text
    assert 'class="sidenav"' not in page.text  # nobody signed in: no menu
    german = await client.get("/gibt/es/nicht", headers={**BROWSER, "Accept-Language": "de"})
    assert "Seite nicht gefunden" in german.text and "Zur Startseite" in german.text
    plain = await client.get("/nothing/here")
    assert plain.status_code == 404 and plain.text == "Not Found"
    api = await client.get("/api/v1/tickets/999999", headers=BROWSER)
    assert api.status_code == 401 and "error" in api.json()

    await sign_in(client)
    page = await client.get("/tickets/999999", headers=BROWSER)
    assert page.status_code == 404 and 'class="sidenav"' in page.text
    assert "ticket not found" in page.text and "Back to the tickets" in page.text
    refused = await client.get("/admin/settings", headers=BROWSER)
    assert refused.status_code == 403 and "You may not open this page" in refused.text
    swapped = await client.get("/admin/settings", headers={**BROWSER, "HX-Request": "true"})
    assert swapped.status_code == 403 and swapped.text == "this page needs the admin role"


async def test_a_500_is_a_page_without_the_error(app):
    async def broken(request):
        raise RuntimeError("secret-table exploded at /srv/tresen/secret.py line 12")

    app.router.routes.append(Route("/broken", broken))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/broken", headers=BROWSER)
        assert page.status_code == 500 and "Something went wrong" in page.text
        assert "secret" not in page.text and "Traceback" not in page.text
        assert 'href="/"' in page.text
        plain = await client.get("/broken")
        assert plain.status_code == 500 and plain.text == "Internal Server Error"
