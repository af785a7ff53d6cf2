"""What happens in the knowledge base: the payload of each event."""

from __future__ import annotations

from dataclasses import dataclass

from tresen.events import Payload


@dataclass(frozen=True)
class ArticleChanged(Payload, type="kb.article.changed"):
    article_id: int


@dataclass(frozen=True)
class FeedbackGiven(Payload, type="kb.feedback"):
    article_id: int
    kind: str
    ticket_id: int | None = None


@dataclass(frozen=True)
class RequestDeflected(Payload, type="kb.deflected"):
    """A customer's request was answered by this article in the portal; no ticket was made."""

    article_id: int
