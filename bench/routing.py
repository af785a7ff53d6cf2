"""Routing decisions: p50/p99 of the decision alone, and its cost inside the inbox.

    python -m bench.routing                      # SQLite
    python -m bench.routing --postgres
    python -m bench.routing --intent-model DIR   # with a trained intent model

The decision alone: language detection, intent (when a model is given), 50 rules
and the choice among 20 agents, as pure functions. Inside the inbox: the same
messages through `receive` with 50 rules, a round-robin queue of 20 present agents
and an SLA policy, against a run with no routing configuration, in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import database_urls, migrated_runtime
from bench.ingest import WORDS
from routing import intent
from routing.actions import create_rule, create_sla_policy, set_queue_routing
from routing.assign import set_presence
from routing.assignment import Candidate, choose
from routing.language import detect
from routing.rules import Condition, Facts, Rule, evaluate
from tickets.inbox import receive
from tickets.queues import create_queue
from tresen.accounts import create_user
from tresen.inbound import InboundMessage
from tresen.settings import Settings

RULES = 50
AGENTS = 20


def messages(count: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "channel": "email",
            "external_id": f"<route-{n}@bench.example>",
            "from": {"kind": "email", "value": f"c{rng.randrange(2000)}@bench.example"},
            "to": rng.choice(["support@bench.example", "billing@bench.example"]),
            "subject": " ".join(rng.choices(WORDS, k=5)) + f" {n}",
            "text": " ".join(rng.choices(WORDS, k=40)),
        }
        for n in range(count)
    ]


def rule_specs(queue_ids: list[int], policy_id: int) -> list[dict]:
    rng = random.Random(5)
    specs = []
    for n in range(RULES):
        word = rng.choice(WORDS)
        specs.append(
            {
                "name": f"rule {n}",
                "conditions": [
                    {"field": "subject", "operator": "contains", "value": [word]},
                    {"field": "account", "operator": "matches", "value": r"^(support|billing)@"},
                ],
                "actions": {"queue_id": rng.choice(queue_ids), "tags": [word.lower()[:20]]},
            }
        )
    specs.append({"name": "SLA for all", "conditions": [], "actions": {"sla_policy_id": policy_id}})
    return specs


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1000, values[int(len(values) * 0.99) - 1] * 1000


def pure(count: int, model_dir: Path | None) -> dict:
    rules = [
        Rule(
            spec["name"],
            tuple(Condition(**c) for c in spec["conditions"]),
            spec["actions"],
        )
        for spec in rule_specs([1, 2, 3], 1)
    ]
    candidates = [Candidate(agent_id=n, capacity=30, open_tickets=n % 7) for n in range(AGENTS)]
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url="sqlite://", secret_key="x")
    if model_dir:
        settings = replace(settings, intent_model=model_dir, intent_threshold=0.0)
    timings = []
    last = None
    for body in messages(count):
        began = time.perf_counter()
        text = f"{body['subject']}\n{body['text']}"
        language = detect(text)
        predicted = intent.predict(settings, text)
        decision = evaluate(
            rules,
            Facts(
                channel="email",
                account=body["to"],
                language=language,
                subject=body["subject"],
                text=body["text"],
                intent=predicted.label if predicted else None,
                intent_confidence=predicted.confidence if predicted else 0.0,
            ),
        )
        last = choose("round_robin", candidates, last_agent_id=last).agent_id
        timings.append(time.perf_counter() - began)
        assert decision.sla_policy_id == 1
    return dict(zip(("p50_ms", "p99_ms"), percentiles(timings), strict=True))


async def inbox(database_url: str, count: int, configured: bool) -> dict:
    runtime = await migrated_runtime(database_url)
    if configured:
        agents = [
            await create_user(runtime, email=f"a{n}@bench.example", name=f"A{n}", role="agent")
            for n in range(AGENTS)
        ]
        async with runtime.transaction() as tx:
            queue_ids = [(await create_queue(tx, name=f"Queue {n}")).id for n in range(3)]
            policy = await create_sla_policy(
                tx, name="Bench", targets={"normal": {"first_response": 60, "resolution": 480}}
            )
            for queue_id in queue_ids:
                await set_queue_routing(
                    tx,
                    queue_id,
                    mode="round_robin",
                    members=[{"user_id": agent.id} for agent in agents],
                )
            for agent in agents:
                await set_presence(tx, agent.id, "online")
            for spec in rule_specs(queue_ids, policy.id):
                await create_rule(tx, **spec)
    timings = []
    cpu = time.process_time()
    for body in messages(count):
        began = time.perf_counter()
        await receive(runtime, InboundMessage.model_validate(body))
        timings.append(time.perf_counter() - began)
    cpu = time.process_time() - cpu
    await runtime.close()
    p50, p99 = percentiles(timings)
    return {"p50_ms": p50, "p99_ms": p99, "cpu_ms": cpu / count * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--intent-model", type=Path, help="a model from `tresen routing train`")
    args = parser.parse_args(argv)
    figures = pure(args.messages, args.intent_model)
    print(
        f"decision alone ({RULES + 1} rules, {AGENTS} agents"
        f"{', intent model' if args.intent_model else ''}): "
        f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"
    )
    with database_urls(args.postgres, ("plain", "routed")) as urls:
        for configured, url in zip((False, True), urls, strict=True):
            result = asyncio.run(inbox(url, args.messages, configured))
            label = "rules, round robin, SLA" if configured else "no routing configured"
            print(
                f"inbox, {label}: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                f"CPU {result['cpu_ms']:.2f} ms per message"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
