"""No automatic mail ever answers a machine: the whole corpus, counted at the SMTP server."""

from __future__ import annotations

from collections import Counter

import pytest

from channels.email.accounts import create_account
from channels.email.parse import parse_message
from tests.fixtures import corpus_files
from tickets.inbox import deliver
from tickets.outbox import deliver_due
from tickets.queues import create_queue


@pytest.mark.slow  # all 900 corpus mails, acknowledged through SMTP
async def test_acknowledgements_go_to_people_only_and_never_loop(runtime, smtp_server):
    async with runtime.transaction() as tx:
        queue = await create_queue(tx, name="Support")
        queue.acknowledge = True
        await create_account(
            tx, address="support@tresen.test", smtp_url=smtp_server.url(), queue_id=queue.id
        )
    machine, person = set(), {}
    for path in corpus_files():
        parsed = parse_message(path.read_bytes(), account="support@tresen.test")
        parsed = parsed.model_copy(update={"queue_id": queue.id})
        if parsed.auto_submitted or parsed.report:
            machine.add(parsed.external_id)
        else:
            person[parsed.external_id] = parsed.sender.value
        await deliver(runtime, parsed)
    while await deliver_due(runtime):
        pass

    sent = smtp_server.messages()
    answered = [mail["In-Reply-To"] for mail in sent]
    assert len(sent) > 50  # people did get their confirmation ...
    assert not set(answered) & machine  # ... machines never did
    assert all(mail["Auto-Submitted"] == "auto-replied" for mail in sent)
    # At most three automatic mails per address in an hour, however much it writes.
    per_address = Counter(
        to for _sender, recipients, _raw in smtp_server.received for to in recipients
    )
    assert max(per_address.values()) <= runtime.settings.auto_replies_per_hour
