"""The benchmark's plain FAQs (bench/faqs/) and the check that reads one (`--faq`)."""

from __future__ import annotations

import json

import pytest

from bench.bot_sets import PLAIN_FAQS, plain_sets, read_faq


def test_every_plain_faq_reads_with_questions_in_and_out_of_scope():
    sets = plain_sets()
    assert {qs.language for qs in sets} == {"de", "en"}
    for qs in sets:
        assert qs.in_scope >= 2 * len(qs.articles), qs.name
        assert qs.out_of_scope >= 10, qs.name
        # Every question points at one of its FAQ's articles, by the slug's number.
        numbers = {int(a["slug"].rsplit("-", 1)[1]) - 1 for a in qs.articles}
        assert {q.right for q in qs.questions if q.right is not None} <= numbers
        assert len({q.group for q in qs.questions}) == 1  # one FAQ, one fold
    assert len({qs.questions[0].group for qs in sets}) == len(sets)
    assert len(sets) == len(list(PLAIN_FAQS.glob("*.json")))
    # The FAQs no fit reads (`--faq` checks them) read too, and are not among the fitted.
    unseen = [read_faq(path)["name"] for path in (PLAIN_FAQS / "unseen").glob("*.json")]
    assert len(unseen) >= 2
    assert not set(unseen) & {qs.name.rsplit(" (", 1)[0] for qs in sets}


def test_a_bad_faq_is_named_with_what_is_wrong(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps({"name": "Mine", "language": "fr", "articles": [{"slug": "a", "body": "b"}]}),
        encoding="utf-8",
    )
    with pytest.raises(ValueError) as error:
        read_faq(path)
    message = str(error.value)
    assert message.startswith(str(path))
    assert "language 'fr'" in message
    assert "article 1: title missing" in message
    assert "article 1: questions missing" in message
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="mine.json"):
        read_faq(path)
    with pytest.raises(ValueError, match="absent.json"):
        read_faq(tmp_path / "absent.json")
