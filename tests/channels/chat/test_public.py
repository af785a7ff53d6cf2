"""The chat's public doors: the script, its settings for allowed sites only, files both ways."""

from __future__ import annotations

from sqlalchemy import select

from channels.chat.tokens import file_signature
from tests.channels.chat.conftest import ORIGIN
from tickets.models import Attachment, Message


def signature_for(runtime, attachment_id: int, identity: str) -> str:
    return file_signature(runtime.settings.secret_key, attachment_id, identity)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


async def test_the_script_is_served_to_anyone(client):
    answer = await client.get("/chat/widget.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert "max-age" in answer.headers["cache-control"]


async def test_settings_only_for_the_sites_on_the_allow_list(client, chat_channel):
    key = chat_channel[0].public_key
    answer = await client.get(f"/chat/{key}/config?lang=de", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    body = answer.json()
    assert body["language"] == "de" and body["greeting"].startswith("Hallo")
    assert body["available"] is True and body["prechat"]["email"] in ("optional", "off")
    assert "image/png" in body["file_types"] and "application/pdf" in body["file_types"]
    other = await client.get(f"/chat/{key}/config", headers={"Origin": "https://evil.test"})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    assert "evil.test" in other.json()["error"]
    unknown = await client.get("/chat/no-such-key/config", headers={"Origin": ORIGIN})
    assert unknown.status_code == 404


async def test_a_visitors_file_is_a_message_and_only_theirs_to_download(
    runtime, client, visitor, chat_channel
):
    key = chat_channel[0].public_key
    chat = visitor()
    token = (await chat.hello())["token"]
    headers = {"Origin": ORIGIN}

    async def upload(content: bytes, name: str, client_id: str, with_token: str | None = token):
        return await client.post(
            f"/chat/{key}/files",
            data={"token": with_token or "", "client_id": client_id},
            files={"file": (name, content, "application/octet-stream")},
            headers=headers,
        )

    # No conversation yet: nothing to attach a file to.
    assert (await upload(PNG, "shot.png", "f0")).status_code == 403
    await chat.send({"type": "message", "client_id": "m1", "text": "Look at this"})
    await chat.collect("ack", "message")

    done = await upload(PNG, "shot.png", "f1")
    assert done.status_code == 201, done.text
    assert done.headers["access-control-allow-origin"] == ORIGIN
    frame = await chat.until("message")
    assert frame["id"] == done.json()["id"] and frame["client_id"] == "f1"
    [shown] = frame["attachments"]
    assert shown["name"] == "shot.png" and shown["type"] == "image/png"
    # Sent again (the answer was lost): stored once.
    assert (await upload(PNG, "shot.png", "f1")).json()["id"] == done.json()["id"]

    refused = await upload(b"MZ\x90\x00 an executable", "invoice.pdf", "f2")
    assert refused.status_code == 415 and "PDF" in refused.json()["error"]
    too_big = await upload(PDF + b"\x00" * (10 * 1024 * 1024), "big.pdf", "f3")
    assert too_big.status_code == 413
    assert (await upload(PDF, "a.pdf", "f4", with_token="forged")).status_code == 403
    async with runtime.read() as session:
        count = await session.scalar(
            select(Attachment.id).join(Message).where(Message.channel == "chat").limit(5)
        )
    assert count is not None

    url = shown["url"]
    assert "token=" not in url  # the visitor's token never goes into a link (logs keep them)
    mine = await client.get(url)
    assert mine.status_code == 200 and mine.content == PNG
    assert mine.headers["x-content-type-options"] == "nosniff"
    path, _, signed = url.partition("?sig=")
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"{path}?sig={signed[:-3]}abc")).status_code == 404
    # A link signed for someone else's conversation fetches nothing of this one.
    other = signature_for(runtime, int(path.rsplit("/", 1)[1]), "visitor:someone-else")
    assert (await client.get(f"{path}?sig={other}")).status_code == 404
    stranger = visitor()
    await stranger.hello()
    await chat.close()
    await stranger.close()


async def test_the_help_centre_offers_the_chat_of_a_channel_that_allows_the_desk(
    runtime, client, chat_channel
):
    assert "/chat/widget.js" not in (await client.get("/help")).text
    row, _secret = chat_channel
    async with runtime.transaction() as tx:
        tx.session.add(row)
        row.allowed_origins = [ORIGIN, "http://testserver"]
    runtime.caches.pop("chat.embed", None)
    page = (await client.get("/help")).text
    assert f'<script src="/chat/widget.js" data-channel="{row.public_key}" async>' in page
    # The widget on the desk's own page asks without Origin (browsers leave it off a
    # same-origin GET) and says so in Sec-Fetch-Site.
    own = await client.get(
        f"/chat/{row.public_key}/config", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert own.status_code == 200
    assert (await client.get(f"/chat/{row.public_key}/config")).status_code == 403
