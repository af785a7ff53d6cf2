"""The help centre's name, logo and colour from the desk settings (the "Help centre" section
of /admin/settings), and the knowledge base's categories edited in the console."""

from __future__ import annotations

import re

import httpx
import pytest

from knowledge_base.articles import create_article
from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user
from tresen.desk_settings import get_setting

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def admin(app, runtime):
    await create_user(
        runtime, email="admin@example.com", name="Ada", role="admin", password="admin-password"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await sign_in(client, "admin@example.com", "admin-password")).status_code == 303
        yield client


async def _save(admin, files=None, **values):
    page = await admin.get("/admin/settings")
    assert 'id="help-centre"' in page.text
    data = {"csrf_token": csrf_of(page.text), "help_name": "", "help_logo": "", "help_color": ""}
    return await admin.post("/admin/settings/help", data={**data, **values}, files=files)


async def test_name_logo_and_colour_show_on_the_help_centre(admin, client, runtime):
    answer = await _save(
        admin, help_name="Beispiel GmbH", help_logo="/static/logo.png", help_color="#FFCC00"
    )
    assert answer.status_code == 303
    page = (await client.get("/help?lang=en")).text
    assert "<title>Help centre · Beispiel GmbH</title>" in page
    assert '<img src="/static/logo.png" alt="">' in page
    # Stored lowercased; a light accent gets dark text on it.
    assert "--accent: #ffcc00; --accent-text: #000000;" in page
    async with runtime.read() as session:
        assert await get_setting(session, "help_color") == "#ffcc00"
    # The section shows what is saved.
    settings = (await admin.get("/admin/settings")).text
    assert 'value="Beispiel GmbH"' in settings and 'value="#ffcc00"' in settings


async def test_the_portals_pages_wear_the_same_name_logo_and_colour(admin, client):
    before = (await client.get("/portal/sign-in")).text
    assert "<title>Sign in · Tresen</title>" in before or "· Tresen</title>" in before
    assert "--accent: #285bd4;" in before
    answer = await _save(
        admin, help_name="Beispiel GmbH", help_logo="/static/logo.png", help_color="#FFCC00"
    )
    assert answer.status_code == 303
    page = (await client.get("/portal/sign-in")).text  # at once: the saving process's cache
    assert "· Beispiel GmbH</title>" in page
    assert '<img src="/static/logo.png" alt="">' in page
    assert "--accent: #ffcc00; --accent-text: #000000;" in page
    assert "Tresen" not in page.split("<main", 1)[0]


async def test_without_settings_the_deployments_name_and_the_default_colour(client):
    page = (await client.get("/help?lang=en")).text
    assert "<title>Help centre · Tresen</title>" in page
    assert "--accent: #285bd4; --accent-text: #ffffff;" in page
    assert "<img" not in page


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#ggg000", "#fff", "x;}body{"])
async def test_a_bad_colour_is_refused_with_what_was_typed(admin, client, colour):
    answer = await _save(admin, help_name="Kept", help_color=colour)
    assert answer.status_code == 422
    assert "is not a colour like #1f4fbf" in answer.text
    assert 'value="Kept"' in answer.text  # what was typed stays in the form
    assert "Kept" not in (await client.get("/help?lang=en")).text  # nothing was saved


async def test_a_logo_from_another_site_is_refused(admin):
    answer = await _save(admin, help_logo="https://evil.example/logo.png")
    assert answer.status_code == 422
    assert "no images from other sites" in answer.text


async def test_an_uploaded_logo_is_checked_kept_and_served(admin, client, runtime):
    answer = await _save(admin, files={"help_logo_file": ("logo.png", PNG, "image/png")})
    assert answer.status_code == 303
    page = (await client.get("/help?lang=en")).text
    src = re.search(r'<img src="(/help/assets/logo\?v=[0-9a-f]{12})"', page).group(1)
    logo = await client.get(src)
    assert logo.status_code == 200 and logo.content == PNG
    assert logo.headers["content-type"] == "image/png"
    assert (runtime.settings.data_dir / "help" / "logo").read_bytes() == PNG


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "PNG, JPEG or GIF",
        ),
        (b"GIF89a" + b"\x00" * (512 * 1024), "larger than 512 KB"),
    ],
)
async def test_an_upload_that_is_no_small_image_is_refused(admin, client, content, reason):
    answer = await _save(admin, files={"help_logo_file": ("logo.png", content, "image/png")})
    assert answer.status_code == 422
    assert reason in answer.text
    assert (await client.get("/help/assets/logo")).status_code == 404


async def test_the_help_settings_are_an_administrators(app, runtime, agent):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sign_in(client)
        page = await client.get("/kb")
        answer = await client.post(
            "/admin/settings/help",
            data={"csrf_token": csrf_of(page.text), "help_color": "#000000"},
        )
        assert answer.status_code == 403


async def test_categories_are_renamed_given_an_address_and_a_description(admin, client, runtime):
    async with runtime.transaction() as tx:
        article = await create_article(
            tx, title="Refunds", language="en", visibility="public", category="Billing"
        )
        category_id = article.category_id
    page = await admin.get("/kb/categories")
    assert page.status_code == 200 and 'value="billing"' in page.text
    # The article editor suggests the categories there are.
    assert '<option value="Billing">' in (await admin.get(f"/kb/{article.id}")).text
    answer = await admin.post(
        f"/kb/categories/{category_id}",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "Payments",
            "slug": "payments",
            "description": "Invoices, refunds and charges",
        },
    )
    assert answer.status_code == 303
    shown = await client.get("/help/category/payments?lang=en")
    assert shown.status_code == 200
    assert "Payments" in shown.text and "Invoices, refunds and charges" in shown.text
    assert (await client.get("/help/category/billing")).status_code == 404
    # An address that is not one: refused with the reason.
    bad = await admin.post(
        f"/kb/categories/{category_id}",
        data={"csrf_token": csrf_of(page.text), "name": "Payments", "slug": "Not An/Address"},
    )
    assert bad.status_code == 422 and "lowercase letters" in bad.text


async def test_agents_see_categories_but_supervisors_change_them(app, runtime, agent):
    async with runtime.transaction() as tx:
        article = await create_article(tx, title="X", language="en", category="Billing")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sign_in(client)
        page = await client.get("/kb/categories")
        assert page.status_code == 200 and "Billing" in page.text
        answer = await client.post(
            f"/kb/categories/{article.category_id}",
            data={"csrf_token": csrf_of(page.text), "name": "Hacked", "slug": ""},
        )
        assert answer.status_code == 403
