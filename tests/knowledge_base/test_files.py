"""Images and attachments of knowledge base articles: upload through the API and the console,
served as visible as their article, only safe images inline, limits named."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from knowledge_base.files import MAX_FILE_BYTES
from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.fixtures import PNG, csrf_of, sign_in


async def _article(client, headers, visibility: str, title: str) -> dict:
    made = await client.post(
        "/api/v1/kb/articles",
        json={"title": title, "language": "de", "visibility": visibility},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return made.json()


async def test_files_are_uploaded_listed_served_and_removed(client, admin_headers):
    public = await _article(client, admin_headers, "public", "Rechnung herunterladen")
    url = f"/api/v1/kb/articles/{public['id']}/files"
    put = await client.put(
        f"{url}/screenshot.png", content=PNG, headers={**admin_headers, "Content-Type": "image/png"}
    )
    assert put.status_code == 201, put.text
    assert put.json()["url"] == "/help/rechnung-herunterladen/files/screenshot.png"
    again = await client.put(
        f"{url}/screenshot.png", content=PNG, headers={**admin_headers, "Content-Type": "image/png"}
    )
    assert again.status_code == 200  # replaced (here: the same), not a second file
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    await client.put(
        f"{url}/logo.svg", content=svg, headers={**admin_headers, "Content-Type": "image/svg+xml"}
    )
    listed = (await client.get(f"/api/v1/kb/articles/{public['id']}", headers=admin_headers)).json()
    assert [(f["filename"], f["content_type"], f["size"]) for f in listed["files"]] == [
        ("logo.svg", "image/svg+xml", len(svg)),
        ("screenshot.png", "image/png", len(PNG)),
    ]
    # Anyone may fetch a public article's files; images inline, anything else downloaded.
    image = await client.get("/help/rechnung-herunterladen/files/screenshot.png")
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.headers["x-content-type-options"] == "nosniff"
    script = await client.get("/help/rechnung-herunterladen/files/logo.svg")
    assert script.headers["content-type"] == "application/octet-stream"
    assert script.headers["content-disposition"].startswith("attachment")
    removed = await client.delete(f"{url}/logo.svg", headers=admin_headers)
    assert removed.status_code == 204
    assert (await client.get("/help/rechnung-herunterladen/files/logo.svg")).status_code == 404
    assert (await client.delete(f"{url}/logo.svg", headers=admin_headers)).status_code == 404


async def test_bad_uploads_are_named_and_keep_nothing(client, admin_headers):
    article = await _article(client, admin_headers, "public", "Versand")
    url = f"/api/v1/kb/articles/{article['id']}/files"
    too_big = await client.put(
        f"{url}/big.bin", content=b"x" * (MAX_FILE_BYTES + 1), headers=admin_headers
    )
    assert too_big.status_code == 413 and "10 MB" in too_big.json()["error"]
    empty = await client.put(f"{url}/empty.txt", content=b"", headers=admin_headers)
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    nameless = await client.put(f"{url}/...", content=b"x", headers=admin_headers)
    assert nameless.status_code == 422 and "needs a name" in nameless.json()["error"]
    assert (await client.put(f"{url}/a.txt", content=b"x")).status_code == 401
    missing = await client.put(
        "/api/v1/kb/articles/999/files/a.txt", content=b"x", headers=admin_headers
    )
    assert missing.status_code == 404
    listed = (
        await client.get(f"/api/v1/kb/articles/{article['id']}", headers=admin_headers)
    ).json()
    assert listed["files"] == []


async def test_an_internal_articles_files_are_for_staff_only(client, agent_headers):
    internal = await _article(client, agent_headers, "internal", "Kulanzregeln")
    await client.put(
        f"/api/v1/kb/articles/{internal['id']}/files/tabelle.png",
        content=PNG,
        headers={**agent_headers, "Content-Type": "image/png"},
    )
    address = "/help/kulanzregeln/files/tabelle.png"
    assert (await client.get(address)).status_code == 404  # as if there were none
    await sign_in(client)
    signed_in = await client.get(address)
    assert signed_in.status_code == 200 and signed_in.content == PNG
    assert signed_in.headers["cache-control"].startswith("private")


async def test_the_console_uploads_and_removes_files(client, agent, agent_headers):
    article = await _article(client, agent_headers, "internal", "Passwort zurücksetzen")
    await sign_in(client)
    page = await client.get(f"/kb/{article['id']}")
    no_file = await client.post(
        f"/kb/{article['id']}/files", data={"csrf_token": csrf_of(page.text)}
    )
    assert no_file.status_code == 400
    uploaded = await client.post(
        f"/kb/{article['id']}/files",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": ("Anmeldung 1.png", PNG, "image/png")},
    )
    assert uploaded.status_code == 303
    page = await client.get(f"/kb/{article['id']}")
    assert "![Anmeldung 1.png](/help/passwort-zurucksetzen/files/Anmeldung%201.png)" in page.text
    empty = await client.post(
        f"/kb/{article['id']}/files",
        data={"csrf_token": csrf_of(page.text)},
        files={"file": ("leer.txt", b"", "text/plain")},
    )
    assert empty.status_code == 422 and "leer.txt is empty" in empty.text
    removed = await client.post(
        f"/kb/{article['id']}/files",
        data={"csrf_token": csrf_of(page.text), "remove": "Anmeldung 1.png"},
    )
    assert removed.status_code == 303
    assert "None yet." in (await client.get(f"/kb/{article['id']}")).text


async def test_an_image_uploaded_in_the_editor_shows_in_the_help_centre(server, tmp_path):
    server.add_user("sam@example.com", "super-password", role="supervisor", name="Sam Super")
    token = server.cli("tokens", "create", "sam@example.com").stdout.strip()
    made = httpx.post(
        server.url + "/api/v1/kb/articles",
        headers={"Authorization": f"Bearer {token}"},
        json={"title": "Drucker einrichten", "language": "de", "visibility": "public"},
    )
    article_id = made.json()["id"]
    image = tmp_path / "drucker.png"
    image.write_bytes(PNG)
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "sam@example.com", "super-password")
        await page.goto(f"{server.url}/kb/{article_id}")
        await page.get_by_label("File (up to 10 MB)").set_input_files(str(image))
        async with page.expect_navigation():
            await page.get_by_role("button", name="Upload").click()
        markdown = await page.locator(".files code").first.text_content()
        assert markdown == "![drucker.png](/help/drucker-einrichten/files/drucker.png)"
        await page.get_by_label("Body (Markdown)").fill(f"So sieht es aus:\n\n{markdown}")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Save").click()
        await page.goto(f"{server.url}/help/drucker-einrichten")
        shown = page.locator(".article-body img")
        await expect(shown).to_have_attribute("alt", "drucker.png")
        assert await shown.evaluate("img => img.complete && img.naturalWidth") == 1
        await page.screenshot(path=ARTIFACTS / "help-article-image.png", full_page=True)
        assert page.errors == []
