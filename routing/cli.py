"""`tresen routing train | evaluate`: the intent classifier, from a CSV or past tickets."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from routing import intent
from tickets.models import Message, Queue, Ticket, TicketTag

COMMAND = "routing"


def add_commands(commands) -> None:
    routing = commands.add_parser(COMMAND, help="routing: the intent classifier")
    actions = routing.add_subparsers(dest="action", required=True, parser_class=routing.__class__)
    for name, text in (
        ("train", "train the intent model from a CSV and save it"),
        ("evaluate", "print accuracy, macro-F1 and per-message latency on a CSV"),
    ):
        action = actions.add_parser(name, help=text)
        source = action.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", type=Path, help="a CSV file with a header row")
        source.add_argument(
            "--from-tickets",
            metavar="LABEL",
            help="learn from past tickets instead: their first message, labelled by their "
            "queue (queue) or by their tag that starts with a prefix (tag:PREFIX)",
        )
        action.add_argument("--text-column", default="text")
        action.add_argument("--label-column", default="category")
        action.add_argument(
            "--holdout",
            type=float,
            default=0.0,
            help="keep this share of the rows out of training and evaluate on it alone "
            "(the same rows in both commands, chosen by a hash of the text), e.g. 0.2",
        )
        action.add_argument(
            "--model", type=Path, help="the model directory (default: TRESEN_INTENT_MODEL)"
        )
        if name == "train":
            choice = action.add_mutually_exclusive_group()
            choice.add_argument(
                "--embeddings",
                dest="embeddings",
                action="store_true",
                default=None,
                help="add MiniLM sentence embeddings (default: when the extra is installed)",
            )
            choice.add_argument("--no-embeddings", dest="embeddings", action="store_false")


class CsvError(ValueError):
    """Training data that cannot be used; the message names the file, line or value."""


def parse_label(spec: str) -> tuple[str, str]:
    if spec == "queue":
        return ("queue", "")
    if spec.startswith("tag:") and len(spec) > 4:
        return ("tag", spec[4:].lower())
    raise CsvError(f"--from-tickets {spec!r} is not queue or tag:PREFIX")


async def ticket_rows(runtime, label: tuple[str, str]) -> list[tuple[str, str]]:
    """(subject and first customer message, label) of every ticket that has a label."""
    kind, prefix = label
    first = (
        select(Message.ticket_id, func.min(Message.id).label("message_id"))
        .where(Message.direction == "inbound")
        .group_by(Message.ticket_id)
        .subquery()
    )
    text = func.coalesce(Message.visible_text, Message.text)
    if kind == "queue":
        query = select(Ticket.subject, text, Queue.name).join(Queue, Queue.id == Ticket.queue_id)
    else:
        query = (
            select(Ticket.subject, text, TicketTag.tag)
            .join(TicketTag, TicketTag.ticket_id == Ticket.id)
            .where(TicketTag.tag.startswith(prefix, autoescape=True))
        )
    query = (
        query.join(first, first.c.ticket_id == Ticket.id)
        .join(Message, Message.id == first.c.message_id)
        .order_by(Ticket.id)
    )
    async with runtime.read() as session:
        rows = (await session.execute(query)).all()
    seen, result = set(), []
    for subject, body, name in rows:
        key = (subject, body)
        if key in seen:
            continue  # a ticket with two matching tags counts once
        seen.add(key)
        result.append(
            (f"{subject}\n{body or ''}".strip(), name[len(prefix) :] if kind == "tag" else name)
        )
    return result


def read_rows(path: Path, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) pairs; CsvError names the file, line or column that is wrong."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            for column in (text_column, label_column):
                if column not in (reader.fieldnames or []):
                    columns = ", ".join(reader.fieldnames or [])
                    raise CsvError(f"{path}: no column {column!r} (columns: {columns})")
            rows = []
            for row in reader:
                text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
                if not text or not label:
                    raise CsvError(f"{path}, line {reader.line_num}: empty text or label")
                rows.append((text, label))
    except FileNotFoundError:
        raise CsvError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise CsvError(f"{path}: not UTF-8 ({error})") from None
    except csv.Error as error:
        raise CsvError(f"{path}: not a CSV file ({error})") from None
    if not rows:
        raise CsvError(f"{path}: no rows")
    return rows


def held_out(text: str, share: float) -> bool:
    """Whether a row belongs to the held-out share: by its text, whatever the file order."""
    bucket = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64
    return bucket < share


def run(args, settings, with_runtime) -> int:
    directory = args.model or settings.intent_model_path
    if not 0 <= args.holdout < 1:
        print(f"tresen: error: --holdout {args.holdout} is not between 0 and 1", file=sys.stderr)
        return 2
    try:
        if args.csv is not None:
            rows = read_rows(args.csv, args.text_column, args.label_column)
        else:
            label = parse_label(args.from_tickets)
            rows = asyncio.run(with_runtime(settings, lambda rt: ticket_rows(rt, label)))
            if not rows:
                raise CsvError(f"no ticket has a label by {args.from_tickets!r}")
    except CsvError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2
    train_rows = [row for row in rows if not held_out(row[0], args.holdout)]
    test_rows = [row for row in rows if held_out(row[0], args.holdout)] if args.holdout else rows
    try:
        if args.action == "train":
            started = time.perf_counter()
            model = intent.train(
                [text for text, _ in train_rows],
                [label for _, label in train_rows],
                directory=directory,
                embeddings=args.embeddings,
            )
            print(
                f"trained on {len(train_rows)} rows, {len(model.labels)} categories "
                f"({model.kind}) in {time.perf_counter() - started:.1f} s; saved to {directory}"
            )
            return 0
        model = intent.load(directory)
    except intent.IntentError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 1
    report = evaluate(model, test_rows)
    print(f"evaluated on {len(test_rows)} rows ({model.kind})")
    print(f"accuracy:  {report['accuracy']:.2%}")
    print(f"macro-F1:  {report['macro_f1']:.2%}")
    print(
        f"latency:   p50 {report['p50_ms']:.2f} ms, p99 {report['p99_ms']:.2f} ms per message "
        "(one at a time)"
    )
    return 0


def evaluate(model, rows: list[tuple[str, str]]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    texts = [text for text, _ in rows]
    truth = [label for _, label in rows]
    predicted = [p.label for p in model.predict_many(texts)]
    latencies = []
    for text in texts[:1000]:
        started = time.perf_counter()
        model.predict(text)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro"),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }
