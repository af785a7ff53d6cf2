"""The benchmark's plain FAQs (bench/faqs/) and the check that reads one (`--faq`)."""

from __future__ import annotations

import json

import numpy as np
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


def test_a_threshold_needs_its_least_sure_answers_right_not_only_the_mean():
    """300 sure answers, all right, then 40 less sure ones right only half the time: the mean
    stays above 0.92 down to the lowest, but the least sure answers are too often wrong."""
    from bench.bot import LAST_PRECISION, MARGIN, lowest_threshold

    assert MARGIN == 40
    p = np.concatenate([np.linspace(0.99, 0.80, 300), np.linspace(0.79, 0.60, 40)])
    correct = np.concatenate([np.ones(300, bool), np.arange(40) % 2 == 0])
    assert (correct.sum() / len(correct)) >= 0.92  # the mean alone would answer every one
    assert lowest_threshold(p, correct, 0.92) == pytest.approx(0.60)
    chosen = lowest_threshold(p, correct, 0.92, LAST_PRECISION)
    tail = (p < 0.795) & (p >= chosen)
    assert 0 < tail.sum() <= 20  # at most half of the half-wrong tail is answered
    assert correct[p >= chosen][-MARGIN:].mean() >= LAST_PRECISION
    assert correct[p >= chosen - 0.01][-MARGIN:].mean() < LAST_PRECISION  # and no more
