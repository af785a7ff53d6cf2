"""Tresen's actions for a Rasa assistant: the real rasa-sdk action server (`tresen bots
rasa-actions`, from `.venv-rasa`) against a real Tresen server, sent the requests Rasa sends
to `/webhook` (tracker with slots and latest message, and the example project's domain)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from bots.cli import rasa_python
from tests.fixtures import KB_ARTICLES
from tests.support import ROOT, ServerProcess, free_port, terminate

EXAMPLE = ROOT / "examples" / "rasa"
DOMAIN = yaml.safe_load((EXAMPLE / "domain.yml").read_text())
ACTIONS = {
    "action_search_knowledge_base",
    "action_create_ticket",
    "action_ticket_status",
    "action_handoff",
}
NOT_FOUND = "I could not find a ticket with that number for that address."


@pytest.fixture(scope="module")
def tresen(tmp_path_factory):
    """A Tresen server with English help articles, and an integration token for the bot."""
    data = tmp_path_factory.mktemp("tresen")
    server = ServerProcess(f"sqlite:///{data / 'tresen.sqlite3'}", data)
    server.env["TRESEN_SEMANTIC"] = "false"
    assert server.cli("migrate").returncode == 0
    server.add_user("rasa@example.com", "rasa-password-1", name="Rasa")
    made = server.cli("tokens", "create", "rasa@example.com", "--scope", "integration")
    token = made.stdout.strip().splitlines()[-1]
    server.add_user("sam@example.com", "sam-password-1", role="supervisor", name="Sam")
    editor = server.cli("tokens", "create", "sam@example.com").stdout.strip().splitlines()[-1]
    server.start()
    headers = {"Authorization": f"Bearer {editor}"}
    ids = {}
    for slug, language, visibility, title, body in KB_ARTICLES:
        if language == "en" and visibility == "public":
            answer = httpx.post(
                server.url + "/api/v1/kb/articles",
                headers=headers,
                json={"title": title, "body": body, "language": "en", "visibility": "public"},
            )
            assert answer.status_code == 201, answer.text
            ids[slug] = answer.json()["id"]
    yield server, token, ids
    server.stop()


@contextmanager
def actions_process(server: ServerProcess, token: str):
    """`tresen bots rasa-actions` on a free port, as an administrator starts it."""
    assert rasa_python().exists(), "no .venv-rasa: bash scripts/test installs it"
    port = free_port()
    log = Path(server.env["TRESEN_DATA_DIR"]) / f"actions-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tresen", "bots", "rasa-actions", "--port", str(port)]
        + ["--tresen-url", server.url, "--token", token],
        env=server.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        terminate(process)


@pytest.fixture(scope="module")
def action_server(tresen):
    server, token, _ids = tresen
    with actions_process(server, token) as url:
        yield url


def rasa_request(
    action, *, slots=None, text="", intent="ask_question", sender=None, message_id=None, events=()
):
    """The JSON Rasa 3 posts to the action server's /webhook to run one custom action."""
    sender = sender or f"web-{uuid.uuid4().hex[:12]}"
    message_id = message_id or uuid.uuid4().hex
    values = {name: None for name in DOMAIN["slots"]} | {"requested_slot": None}
    values |= slots or {}
    latest = {
        "intent": {"name": intent, "confidence": 0.97},
        "entities": [],
        "text": text,
        "message_id": message_id,
        "metadata": {},
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
    }
    history = [
        {"event": "action", "timestamp": 1764748800.1, "name": "action_session_start"},
        {"event": "session_started", "timestamp": 1764748800.2},
        {"event": "action", "timestamp": 1764748800.3, "name": "action_listen"},
        *events,
        {
            "event": "user",
            "timestamp": 1764748810.0,
            "text": text,
            "parse_data": latest,
            "input_channel": "rest",
            "message_id": message_id,
            "metadata": {},
        },
        {
            "event": "user_featurization",
            "timestamp": 1764748810.1,
            "use_text_for_featurization": False,
        },
    ]
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "tracker": {
            "sender_id": sender,
            "slots": values,
            "latest_message": latest,
            "latest_event_time": 1764748810.1,
            "followup_action": None,
            "paused": False,
            "events": history,
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
        "domain": DOMAIN,
    }


def run(action_server, request) -> dict:
    answer = httpx.post(action_server + "/webhook", json=request, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def slot(name, value):
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


def texts(result) -> list[str]:
    return [response["text"] for response in result["responses"] if response.get("text")]


def tickets(tresen) -> list[dict]:
    server, token, _ = tresen
    answer = httpx.get(
        server.url + "/api/v1/tickets",
        params={"channel": "assistant"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def ticket(tresen, number: int) -> dict:
    server, token, _ = tresen
    [found] = [item for item in tickets(tresen) if item["number"] == number]
    answer = httpx.get(
        f"{server.url}/api/v1/tickets/{found['id']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    return answer.json()


def test_health_and_the_four_actions(action_server):
    assert httpx.get(action_server + "/health").json() == {"status": "ok"}
    listed = httpx.get(action_server + "/actions").json()
    assert {item["name"] for item in listed} == ACTIONS


def test_an_unknown_action_is_404(action_server):
    answer = httpx.post(action_server + "/webhook", json=rasa_request("action_nope"))
    assert answer.status_code == 404
    assert answer.json() == {
        "error": "No registered action found for name 'action_nope'.",
        "action_name": "action_nope",
    }


def test_search_answers_with_the_article_and_remembers_it(action_server, tresen):
    server, _token, ids = tresen
    question = "What payment methods do you accept?"
    result = run(action_server, rasa_request("action_search_knowledge_base", text=question))
    assert result["events"] == [slot("kb_article_id", str(ids["payment-en"]))]
    [response] = result["responses"]
    assert response["text"].startswith("We accept credit cards")
    assert f"{server.url}/help/payment-methods" in response["text"]
    assert [b["payload"] for b in response["buttons"]] == ["/affirm", "/deny"]


def test_search_hands_off_what_the_knowledge_base_does_not_know(action_server):
    question = "What is the exchange rate of the Mongolian tugrik to the yen today?"
    result = run(action_server, rasa_request("action_search_knowledge_base", text=question))
    assert result["events"] == [
        slot("kb_article_id", None),
        {"event": "followup", "timestamp": None, "name": "action_handoff"},
    ]
    assert result["responses"] == []


def test_create_ticket_once_even_when_rasa_retries(action_server, tresen):
    slots = {"email": "kim@example.com", "description": "My router blinks red since Monday."}
    request = rasa_request("action_create_ticket", slots=slots, text="that's all", intent="inform")
    before = len(tickets(tresen))
    first = run(action_server, request)
    again = run(action_server, request)
    number = int(re.search(r"#(\d+)", texts(first)[0]).group(1))
    assert (
        texts(first)
        == texts(again)
        == [
            f"Thank you: your request is number #{number}. We will answer by e-mail to "
            "kim@example.com."
        ]
    )
    assert first["events"] == [slot("ticket_number", str(number)), slot("description", None)]
    assert len(tickets(tresen)) == before + 1
    created = ticket(tresen, number)
    assert created["channel"] == "assistant"
    assert created["subject"] == "My router blinks red since Monday."
    assert created["messages"][0]["text"] == "My router blinks red since Monday."


@pytest.mark.parametrize("email", [None, "not-an-address"])
def test_create_ticket_asks_for_the_address_first(action_server, tresen, email):
    slots = {"email": email, "description": "Please call me back."}
    before = len(tickets(tresen))
    result = run(action_server, rasa_request("action_create_ticket", slots=slots))
    assert texts(result) == ["What e-mail address should our answer go to?"]
    assert result["events"] == [slot("email", None)]
    assert len(tickets(tresen)) == before


def test_ticket_status_only_for_the_owners_address(action_server, tresen):
    slots = {"email": "lea@example.com", "description": "Where is my parcel?"}
    made = run(action_server, rasa_request("action_create_ticket", slots=slots))
    number = made["events"][0]["value"]

    def status(ticket_number, email, language=None):
        slots = {"ticket_number": ticket_number, "email": email, "language": language}
        return run(action_server, rasa_request("action_ticket_status", slots=slots))

    assert texts(status(number, "lea@example.com")) == [f"Request #{number}: Received."]
    assert texts(status(f"#{number}", "lea@example.com", "de")) == [
        f"Anfrage #{number}: Eingegangen."
    ]
    wrong_address = status(number, "kim@example.com")
    wrong_number = status(str(int(number) + 500), "lea@example.com")
    assert texts(wrong_address) == texts(wrong_number) == [NOT_FOUND]
    assert texts(status("banana", "lea@example.com")) == [NOT_FOUND]
    assert texts(status(None, "lea@example.com")) == ["What is the number of your request?"]


def test_handoff_makes_a_request_with_the_transcript(action_server, tresen):
    said = [
        {
            "event": "user",
            "timestamp": 1764748801.0,
            "text": "My invoice is wrong",
            "parse_data": {"intent": {"name": "ask_question"}},
            "input_channel": "rest",
        },
        {
            "event": "bot",
            "timestamp": 1764748802.0,
            "text": "Sorry, I don't know that one.",
            "data": {},
            "metadata": {},
        },
    ]
    request = rasa_request(
        "action_handoff",
        slots={"email": "ole@example.com"},
        text="I want a human",
        intent="request_human",
        events=said,
    )
    result = run(action_server, request)
    number = int(result["events"][0]["value"])
    assert result["responses"][-1]["custom"] == {"handoff": True}
    assert texts(result) == [
        f"I have passed our conversation on to a colleague: request #{number}. "
        "The answer comes by e-mail to ole@example.com."
    ]
    assert run(action_server, request)["events"] == result["events"]  # a retry: the same
    created = ticket(tresen, number)
    assert created["subject"] == "Conversation with the chat assistant"
    assert created["messages"][0]["text"] == (
        "Customer: My invoice is wrong\n"
        "Assistant: Sorry, I don't know that one.\n"
        "Customer: I want a human"
    )
    assert [t["number"] for t in tickets(tresen)].count(number) == 1


def test_handoff_of_tresens_own_conversation_is_only_the_signal(action_server, tresen):
    before = len(tickets(tresen))
    request = rasa_request(
        "action_handoff",
        text="Mitarbeiter bitte",
        intent="request_human",
        sender="tresen-ticket-42",
    )
    result = run(action_server, request)
    assert result["events"] == []
    assert [r["custom"] for r in result["responses"]] == [{"handoff": True}]
    assert texts(result) == []
    assert len(tickets(tresen)) == before


def test_handoff_without_an_address_asks_for_it(action_server, tresen):
    before = len(tickets(tresen))
    result = run(action_server, rasa_request("action_handoff", text="a person please"))
    assert texts(result) == ["What e-mail address should our answer go to?"]
    assert all(not r["custom"] for r in result["responses"])
    assert len(tickets(tresen)) == before


def test_when_tresen_refuses_the_token_the_customer_is_told_and_nothing_made(tresen):
    server, _token, _ids = tresen
    before = len(tickets(tresen))
    unreachable = "I cannot reach our help desk right now. Please try again in a moment."
    with actions_process(server, "trs_revoked-or-mistyped") as url:
        search = run(url, rasa_request("action_search_knowledge_base", text="refund?"))
        slots = {"email": "kim@example.com", "description": "Call me back."}
        create = run(url, rasa_request("action_create_ticket", slots=slots))
    assert texts(search) == texts(create) == [unreachable]
    assert search["events"] == create["events"] == []
    assert len(tickets(tresen)) == before


def test_without_rasa_environment_the_command_says_how_to_install_it(tmp_path):
    process = ServerProcess(f"sqlite:///{tmp_path / 't.sqlite3'}", tmp_path)
    process.env["TRESEN_RASA_PYTHON"] = str(tmp_path / "missing" / "python")
    result = process.cli("bots", "rasa-actions", "--token", "x")
    assert result.returncode == 2
    assert "python3 -m venv .venv-rasa && .venv-rasa/bin/pip install rasa-sdk" in result.stderr


def test_the_example_project_uses_only_what_the_action_server_has():
    source = (ROOT / "bots" / "rasa_actions.py").read_text()
    tree = ast.parse(source)
    names = {
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "name"
        for node in node.body
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)
    }
    assert names == ACTIONS
    assert set(DOMAIN["actions"]) == ACTIONS
    used_slots = set(re.findall(r'(?:get_slot|SlotSet)\("(\w+)"', source))
    assert used_slots <= set(DOMAIN["slots"]), used_slots - set(DOMAIN["slots"])
    for form in DOMAIN["forms"].values():
        assert set(form["required_slots"]) <= set(DOMAIN["slots"])
        for needed in form["required_slots"]:
            assert f"utter_ask_{needed}" in DOMAIN["responses"]
    # Every step of the rules and stories names an intent, action or form the domain has.
    known = set(DOMAIN["actions"]) | set(DOMAIN["responses"]) | set(DOMAIN["forms"])
    intents = set(DOMAIN["intents"]) | {"nlu_fallback"}
    for name, key in (("rules.yml", "rules"), ("stories.yml", "stories")):
        for flow in yaml.safe_load((EXAMPLE / "data" / name).read_text())[key]:
            for step in flow.get("steps", []):
                assert step.get("action", next(iter(known))) in known, (name, step)
                assert step.get("intent", "greet") in intents, (name, step)
    nlu = yaml.safe_load((EXAMPLE / "data" / "nlu.yml").read_text())["nlu"]
    trained = {item["intent"] for item in nlu if "intent" in item}
    assert trained == set(DOMAIN["intents"])
    entities = set(re.findall(r"\]\((\w+)\)", str(nlu)))
    assert entities <= set(DOMAIN["entities"])
    endpoints = yaml.safe_load((EXAMPLE / "endpoints.yml").read_text())
    assert endpoints["action_endpoint"]["url"] == "http://localhost:5055/webhook"
    assert "rest" in yaml.safe_load((EXAMPLE / "credentials.yml").read_text())
