"""Trying the FAQ bot: what it would answer to a question under a channel's settings, how
sure it is against its threshold, and the articles it weighed. Nothing is written: no gap,
no conversation, no message."""

from __future__ import annotations

from dataclasses import dataclass

from bots import confidence
from bots.decision import LANGUAGES, BotConfig, Decision, decide


@dataclass(frozen=True)
class Trial:
    decision: Decision
    candidates: list  # knowledge_base.search.Hit, best first (the top three)
    mode: str | None  # "semantic" | "lexical"; None when the message needed no search
    sure: float | None  # the calibrated chance that the top article is the right one
    threshold: float | None  # what `sure` must reach for an answer


async def trial(runtime, question: str, lang: str | None, settings) -> Trial:
    """The first turn of a new conversation with `question`, under `settings` (a channel's
    bots.models.BotSettings: its threshold and languages)."""
    config = BotConfig(
        threshold=settings.threshold, languages=tuple(settings.languages or LANGUAGES)
    )
    seen: list = []
    decision, _ = await decide(
        runtime, question, lang=lang, config=config, report_gaps=False, seen=seen
    )
    if not seen:  # a greeting, thanks, a request for a person: answered without a search
        return Trial(decision, [], None, None, None)
    ranking = seen[0]
    mode = ranking.assessment.mode
    threshold = config.threshold if config.threshold is not None else confidence.THRESHOLD[mode]
    sure = ranking.assessment.answer if ranking.hits else None
    return Trial(decision, list(ranking.hits), mode, sure, threshold)
