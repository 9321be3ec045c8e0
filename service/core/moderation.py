"""Moderation: the queue with its signals, decisions one by one or in bulk, and the log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.core import Core, events
from service.store.comments import Comment, Page
from service.store.moderation import (
    ACTIONS,
    Decision,
    DecisionOutcome,
    DecisionRequest,
    DecisionRules,
    LogEntry,
)

__all__ = [
    "ACTIONS",
    "Comment",
    "Decision",
    "DecisionOutcome",
    "DecisionRequest",
    "LogEntry",
    "QueuePage",
    "Surge",
    "decide",
    "decide_many",
    "log",
    "keep_indexes_complete",
    "pending_summary",
    "queue",
    "reconcile",
    "surge",
]


@dataclass(frozen=True)
class Surge:
    """Comments submitted site-wide this hour against the surge level."""

    active: bool
    this_hour: int
    ceiling: int


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, the next page's cursor, and the site-wide surge state."""

    comments: list[Comment]
    next_cursor: str | None
    surge: Surge


def surge(core: Core) -> Surge:
    """Whether comments site-wide run above the surge level this hour."""
    ceiling = core.policy.comment_limits.surge_per_hour
    this_hour = core.store.moderation.submitted_this_hour(core.now())
    return Surge(active=this_hour > ceiling, this_hour=this_hour, ceiling=ceiling)


def queue(
    core: Core,
    status: str = "pending",
    *,
    thread_id: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> QueuePage:
    """Comments of one status, oldest first, across threads or in one, with moderators' signals."""
    # Redis Cluster: the queue's readers also see that lost index writes get repaired.
    core.store.moderation.reconcile_now_and_then(core.now(), core.policy.index_repair_interval)
    page = core.store.moderation.queue(status, thread_id=thread_id, limit=limit or core.policy.page_size, cursor=cursor)
    return QueuePage(page.items, page.next_cursor, surge(core))


def decide(core: Core, request: DecisionRequest, *, moderator: str) -> Decision:
    """Apply one decision; the first decision wins. Raises CommentNotFound or DecisionConflict."""
    (outcome,) = decide_many(core, [request], moderator=moderator)
    if outcome.refusal is not None:
        raise outcome.refusal
    assert outcome.decision is not None
    return outcome.decision


def decide_many(core: Core, requests: Sequence[DecisionRequest], *, moderator: str) -> list[DecisionOutcome]:
    """Apply each decision in turn; each outcome holds its Decision or its refusal. With
    TRUSTED_AFTER_APPROVED on, each decision also counts toward (or resets) its author's
    trust, in the decision's own write on a single Redis node."""
    rules = DecisionRules(core.policy.retention, counts_trust=core.policy.trusted_after_approved > 0)
    outcomes = core.store.moderation.decide(requests, moderator=moderator, now=core.now(), rules=rules)
    for outcome in outcomes:
        if outcome.decision is not None:
            events.emit(core, "comment.decided", outcome.decision.__dict__)
    return outcomes


def log(core: Core, *, limit: int | None = None, cursor: str | None = None) -> Page:
    """Who decided what, when and why, newest first (items are LogEntry)."""
    return core.store.moderation.log(limit=limit or core.policy.page_size, cursor=cursor)


def reconcile(core: Core, now: float | None = None) -> int:
    """Redis Cluster: index the comments a crash left out of the site-wide queue and email
    index (marked "to index" for a while); returns how many. A single node needs none."""
    return core.store.moderation.reconcile_indexes(core.now() if now is None else now)


def keep_indexes_complete(core: Core) -> None:
    """Redis Cluster: reconcile every INDEX_REPAIR_INTERVAL seconds in the background of this
    process, at most one process a period doing the work. A single node needs none."""
    core.store.moderation.keep_indexes_complete(core.now, core.policy.index_repair_interval)


def pending_summary(core: Core) -> tuple[int, float | None]:
    """How many comments wait for a moderator, and the age in seconds of the oldest (None: none wait)."""
    count, oldest = core.store.moderation.pending_summary()
    return count, (max(0.0, core.now() - oldest) if oldest is not None else None)
