"""REST API v1 for knowledge base articles: write, change, versions, translations, import."""

from __future__ import annotations


async def test_articles_are_written_changed_translated_and_restored(client, admin_headers):
    made = await client.post(
        "/api/v1/kb/articles",
        json={
            "title": "Rückerstattung beantragen",
            "body": "So bekommen Sie **Ihr Geld** zurück.",
            "language": "de",
            "visibility": "public",
            "keywords": ["Geld", "zurück"],
            "category": "Billing/Refunds",
        },
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    article = made.json()
    assert article["slug"] == "ruckerstattung-beantragen"
    assert "<strong>Ihr Geld</strong>" in article["html"]
    assert article["category"] == "Billing/Refunds"
    english = await client.post(
        "/api/v1/kb/articles",
        json={"title": "Request a refund", "language": "en", "translation_of": article["id"]},
        headers=admin_headers,
    )
    assert english.json()["translation_group"] == article["translation_group"]
    twice = await client.post(
        "/api/v1/kb/articles",
        json={"title": "Noch eine", "language": "de", "translation_of": article["id"]},
        headers=admin_headers,
    )
    assert twice.status_code == 409 and "de translation already" in twice.json()["error"]
    changed = await client.patch(
        f"/api/v1/kb/articles/{article['id']}",
        json={"title": "Geld zurück", "body": "Im Portal."},
        headers=admin_headers,
    )
    assert changed.status_code == 200
    assert changed.json()["slug"] == article["slug"] and changed.json()["version"] == 2
    for field in ("title", "body", "visibility", "keywords"):  # an explicit null: told, not a 500
        null = await client.patch(
            f"/api/v1/kb/articles/{article['id']}", json={field: None}, headers=admin_headers
        )
        assert null.status_code in (400, 422) and field in null.json()["error"], null.text
    versions = await client.get(
        f"/api/v1/kb/articles/{article['id']}/versions", headers=admin_headers
    )
    assert [v["title"] for v in versions.json()["items"]] == [
        "Rückerstattung beantragen",
        "Geld zurück",
    ]
    restored = await client.post(
        f"/api/v1/kb/articles/{article['id']}/versions/1/restore", headers=admin_headers
    )
    assert (
        restored.json()["title"] == "Rückerstattung beantragen" and restored.json()["version"] == 3
    )
    listed = await client.get("/api/v1/kb/articles?lang=en", headers=admin_headers)
    assert [item["title"] for item in listed.json()["items"]] == ["Request a refund"]
    bad = await client.get("/api/v1/kb/articles?lang=fr", headers=admin_headers)
    assert bad.status_code == 400 and "'fr'" in bad.json()["error"]
    naive = await client.post(
        "/api/v1/kb/articles",
        json={"title": "X", "language": "de", "reviewed_at": "2026-01-01T10:00:00"},
        headers=admin_headers,
    )
    assert naive.status_code == 422 and naive.json()["field"] == "reviewed_at"


async def test_import_through_the_api_needs_a_supervisor_and_names_rejections(
    client, agent_headers, admin_headers
):
    body = {
        "articles": [
            {
                "title": "Passwort vergessen",
                "body": "Klicken Sie auf *Vergessen*.",
                "language": "de",
            },
            {"title": "Sans langue", "language": "fr"},
        ]
    }
    refused = await client.post("/api/v1/kb/import", json=body, headers=agent_headers)
    assert refused.status_code == 403
    done = await client.post("/api/v1/kb/import", json=body, headers=admin_headers)
    assert done.status_code == 200
    assert done.json()["created"] == 1
    assert done.json()["rejected"] == [
        {"where": "article 2", "reason": "language: language 'fr' is not de or en"}
    ]


async def test_agents_write_drafts_and_internal_articles_and_supervisors_publish(
    client, agent_headers, admin_headers
):
    draft = await client.post(
        "/api/v1/kb/articles",
        json={"title": "Neue Tarife", "language": "de", "visibility": "draft"},
        headers=agent_headers,
    )
    assert draft.status_code == 201
    url = f"/api/v1/kb/articles/{draft.json()['id']}"
    internal = await client.patch(url, json={"visibility": "internal"}, headers=agent_headers)
    assert internal.status_code == 200
    publish = await client.patch(url, json={"visibility": "public"}, headers=agent_headers)
    assert publish.status_code == 403 and "supervisors" in publish.json()["error"]
    direct = await client.post(
        "/api/v1/kb/articles",
        json={"title": "Gleich öffentlich", "language": "de", "visibility": "public"},
        headers=agent_headers,
    )
    assert direct.status_code == 403
    published = await client.patch(url, json={"visibility": "public"}, headers=admin_headers)
    assert published.status_code == 200 and published.json()["version"] == 3
    # Once public, what customers read is the supervisors' to change, files included.
    edit = await client.patch(url, json={"body": "Geändert"}, headers=agent_headers)
    assert edit.status_code == 403
    upload = await client.put(f"{url}/files/a.txt", content=b"x", headers=agent_headers)
    assert upload.status_code == 403
    unpublish = await client.patch(url, json={"visibility": "draft"}, headers=admin_headers)
    assert unpublish.status_code == 200
    # Restoring a version that was public would publish it again: not an agent's either.
    restore = await client.post(f"{url}/versions/3/restore", headers=agent_headers)
    assert restore.status_code == 403
    assert (await client.get(url, headers=agent_headers)).json()["visibility"] == "draft"
