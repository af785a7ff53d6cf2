"""Assignment and routing rules: pure decisions, fairness over thousands of tickets."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from routing.assignment import Candidate, choose
from routing.rules import Condition, Facts, Rule, RuleError, evaluate

AGENTS = [Candidate(agent_id) for agent_id in (11, 12, 13, 14, 15)]


def test_round_robin_over_a_thousand_tickets_is_even_and_skips_absent_agents():
    team = [*AGENTS, Candidate(16, present=False)]
    counts: Counter = Counter()
    last = None
    for _ticket in range(1000):
        choice = choose("round_robin", team, last_agent_id=last)
        counts[choice.agent_id] += 1
        last = choice.agent_id
    assert set(counts) == {11, 12, 13, 14, 15}  # the away agent got nothing
    assert all(199 <= count <= 201 for count in counts.values()), counts


def test_round_robin_continues_fairly_when_someone_goes_away_and_returns():
    counts: Counter = Counter()
    last = None
    for ticket in range(1000):
        away = {13} if 300 <= ticket < 600 else set()
        team = [replace(agent, present=agent.agent_id not in away) for agent in AGENTS]
        last = choose("round_robin", team, last_agent_id=last).agent_id
        counts[last] += 1
        assert last not in away
    assert max(counts.values()) - min(counts.values()) <= 300 // 4 + 1


def test_least_loaded_never_goes_above_capacity_over_thousands_of_decisions():
    rng = random.Random(7)
    capacity = {11: 5, 12: 5, 13: 10, 14: 2, 15: 8}
    load = dict.fromkeys(capacity, 0)
    waiting = 0
    for _step in range(5000):
        if rng.random() < 0.55:  # a ticket arrives
            team = [Candidate(a, open_tickets=load[a], capacity=capacity[a]) for a in capacity]
            choice = choose("least_loaded", team)
            if choice.agent_id is None:
                waiting += 1
                assert all(load[a] == capacity[a] for a in capacity)  # only when all are full
            else:
                load[choice.agent_id] += 1
        else:  # someone solves one
            busy = [a for a in capacity if load[a]]
            if busy:
                load[rng.choice(busy)] -= 1
        assert all(load[a] <= capacity[a] for a in capacity)
    assert waiting > 0  # the simulation did fill everyone up at times


def test_least_loaded_balances_by_share_of_capacity():
    team = [Candidate(1, open_tickets=4, capacity=10), Candidate(2, open_tickets=3, capacity=4)]
    assert choose("least_loaded", team).agent_id == 1  # 40 % before 75 %
    chats = [Candidate(1, open_tickets=1, active_chats=3), Candidate(2, open_tickets=2)]
    assert choose("least_loaded", chats).agent_id == 2  # chats count as load


def test_away_and_full_agents_get_nothing():
    team = [Candidate(1, present=False), Candidate(2, open_tickets=3, capacity=3)]
    for mode in ("round_robin", "least_loaded", "skills"):
        choice = choose(mode, team)
        assert choice.agent_id is None and "no agent" in choice.reason


def test_skills_pick_among_those_who_have_them_all():
    team = [
        Candidate(1, skills=frozenset({"lang:en"})),
        Candidate(2, skills=frozenset({"lang:de", "billing"}), open_tickets=5),
        Candidate(3, skills=frozenset({"lang:de", "billing"}), open_tickets=2),
    ]
    assert choose("skills", team, required_skills=frozenset({"lang:de", "billing"})).agent_id == 3
    nobody = choose("skills", team, required_skills=frozenset({"lang:fr"}))
    assert nobody.agent_id is None and "lang:fr" in nobody.reason


def test_a_returning_customer_goes_back_to_their_agent_when_present():
    team = [Candidate(1), Candidate(2, open_tickets=9)]
    back = choose("least_loaded", team, previous_agent_id=2)
    assert back.agent_id == 2 and "before" in back.reason
    gone = [Candidate(1), Candidate(2, present=False)]
    assert choose("least_loaded", gone, previous_agent_id=2).agent_id == 1
    assert choose("manual", team, previous_agent_id=2).agent_id is None
    with pytest.raises(ValueError, match="'lottery'"):
        choose("lottery", team)


def test_chats_never_go_above_chat_capacity_and_tickets_do_not_count_against_it():
    rng = random.Random(15)
    chat_capacity = {11: 2, 12: None, 13: 5, 14: 1, 15: None}  # None: the default, here 4
    tickets = {11: 9, 12: 0, 13: 3, 14: 7, 15: 1}  # at or below their ticket capacity of 9
    chats = dict.fromkeys(chat_capacity, 0)
    waiting = 0
    for _step in range(5000):
        if rng.random() < 0.55:  # a chat starts
            team = [
                Candidate(
                    a,
                    open_tickets=tickets[a],
                    capacity=9,
                    active_chats=chats[a],
                    chat_capacity=chat_capacity[a],
                )
                for a in chats
            ]
            for mode in ("round_robin", "skills"):  # every mode keeps the limit
                other = choose(mode, team, live=True, default_chat_capacity=4).agent_id
                assert other is None or chats[other] < (chat_capacity[other] or 4)
            choice = choose("least_loaded", team, live=True, default_chat_capacity=4)
            if choice.agent_id is None:
                waiting += 1
                assert all(chats[a] == (chat_capacity[a] or 4) for a in chats)
            else:
                chats[choice.agent_id] += 1
        else:  # a chat ends
            busy = [a for a in chats if chats[a]]
            if busy:
                chats[rng.choice(busy)] -= 1
        assert all(chats[a] <= (chat_capacity[a] or 4) for a in chats)
    assert waiting > 0
    # Agent 11 has a full ticket load (9 of 9) and still got chats; agent 14 one at most.
    full_of_tickets = Candidate(11, open_tickets=9, capacity=9, active_chats=0)
    assert choose("least_loaded", [full_of_tickets], live=True).agent_id == 11
    assert choose("least_loaded", [full_of_tickets]).agent_id is None


def test_an_agent_full_of_chats_still_gets_tickets_and_zero_means_no_chats():
    in_chats = Candidate(1, active_chats=3, capacity=5)  # the default chat capacity is 3
    assert choose("round_robin", [in_chats], live=True).agent_id is None
    assert choose("round_robin", [in_chats]).agent_id == 1
    assert choose("least_loaded", [Candidate(2, chat_capacity=0)], live=True).agent_id is None
    roomy = Candidate(3, active_chats=3, chat_capacity=6)
    assert choose("least_loaded", [roomy], live=True).agent_id == 3
    reason = choose("least_loaded", [in_chats], live=True).reason
    assert "chat" in reason


def test_least_loaded_chats_compare_active_chats_not_tickets():
    team = [
        Candidate(1, open_tickets=0, active_chats=2),
        Candidate(2, open_tickets=8, active_chats=1),
    ]
    assert choose("least_loaded", team, live=True).agent_id == 2
    assert choose("least_loaded", team).agent_id == 1  # an email goes by open tickets
    shares = [
        Candidate(1, active_chats=2, chat_capacity=3),  # 67 %
        Candidate(2, active_chats=3, chat_capacity=6),  # 50 %
    ]
    assert choose("least_loaded", shares, live=True).agent_id == 2
    # Chats spread evenly over a hundred starts when nobody finishes.
    chats = dict.fromkeys((11, 12, 13, 14), 0)
    for _chat in range(100):
        team = [Candidate(a, active_chats=n, chat_capacity=25) for a, n in chats.items()]
        chats[choose("least_loaded", team, live=True).agent_id] += 1
    assert set(chats.values()) == {25}


def test_agents_who_declined_or_let_a_chat_expire_are_not_offered_it_again():
    team = [Candidate(agent_id) for agent_id in (11, 12, 13)]
    offered = []
    excluded: frozenset[int] = frozenset()
    for _offer in range(3):  # each offer expires: it goes round the team once, then waits
        choice = choose("round_robin", team, live=True, excluded=excluded, last_agent_id=None)
        offered.append(choice.agent_id)
        excluded |= {choice.agent_id}
    assert offered == [11, 12, 13]
    assert choose("round_robin", team, live=True, excluded=excluded).agent_id is None
    # Also the returning customer's agent, when they declined this chat.
    back = choose("least_loaded", team, live=True, previous_agent_id=12, excluded=frozenset({12}))
    assert back.agent_id in (11, 13) and "before" not in back.reason
    for mode in ("round_robin", "least_loaded", "skills"):
        for _chat in range(100):
            chosen = choose(mode, team, live=True, excluded=frozenset({11, 13}))
            assert chosen.agent_id == 12


RULES = [
    Rule(
        "Billing words",
        (Condition("text", "contains", ["rechnung", "invoice"]),),
        {"queue_id": 2, "tags": ["billing"]},
    ),
    Rule(
        "VIP customers",
        (Condition("tier", "is", "vip"),),
        {"priority": "high", "sla_policy_id": 9, "tags": ["vip"]},
    ),
    Rule(
        "Outage",
        (Condition("subject", "matches", r"\b(ausfall|down|outage)\b"),),
        {"priority": "urgent", "stop": True},
    ),
    Rule("After hours", (Condition("business_hours", "is", False),), {"auto_reply": "after_hours"}),
    Rule(
        "Confident refund intent",
        (Condition("intent", "is", "refund"), Condition("intent_confidence", "at_least", 0.7)),
        {"queue_id": 3},
    ),
    Rule("Switched off", (), {"queue_id": 99}, active=False),
]


def test_rules_apply_in_order_with_their_reasons():
    decision = evaluate(
        RULES, Facts(channel="email", tier="VIP", text="Meine Rechnung stimmt nicht")
    )
    assert decision.queue_id == 2 and decision.priority == "high" and decision.sla_policy_id == 9
    assert decision.tags == ("billing", "vip")
    assert decision.matched == ("Billing words", "VIP customers")


def test_a_stopping_rule_ends_the_evaluation():
    facts = Facts(channel="email", subject="Totaler Ausfall seit 8 Uhr", business_hours=False)
    decision = evaluate(RULES, facts)
    assert decision.priority == "urgent" and decision.auto_reply is None
    assert decision.matched == ("Outage",)


def test_intent_rules_need_enough_confidence_and_later_rules_override():
    sure = evaluate(
        RULES, Facts(channel="email", text="invoice please", intent="refund", intent_confidence=0.9)
    )
    assert sure.queue_id == 3 and sure.matched == ("Billing words", "Confident refund intent")
    unsure = evaluate(RULES, Facts(channel="email", intent="refund", intent_confidence=0.4))
    assert unsure.queue_id is None and unsure.matched == ()


def test_bad_rules_are_named_when_made():
    with pytest.raises(RuleError, match="'colour'"):
        Condition("colour", "is", "red")
    with pytest.raises(RuleError, match="'resembles'"):
        Condition("text", "resembles", "x")
    with pytest.raises(RuleError, match="not a valid expression"):
        Condition("text", "matches", "(unclosed")
    with pytest.raises(RuleError, match="'launch'"):
        Rule("x", (), {"launch": True})


def test_language_detection_tells_the_desks_languages_apart_and_says_so_when_unsure():
    from routing.language import detect

    assert detect("Guten Tag, mein Drucker druckt seit gestern nicht mehr.") == "de"
    assert detect("Hello, my printer stopped printing yesterday.") == "en"
    assert detect("Bonjour, je voudrais annuler ma commande.", ("de", "en", "fr")) == "fr"
    assert detect("ok") is None  # too little to tell
    # Codes it does not know are left out; with fewer than two, German and English.
    assert detect("Guten Tag, mein Drucker druckt nicht mehr.", ("xx", "zz")) == "de"
