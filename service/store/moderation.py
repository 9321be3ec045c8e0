"""The moderation queue, decisions on comments, and the audit log.

A decision runs one script in the thread's slot (the comment's status, the thread's
status sets and the thread's log line change together); the site-wide queue and log
are indexes written right after, as ``keys.py`` explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import CommentNotFound, DecisionConflict, Standing
from service.store.comments import STATUSES, Comment, CommentStore, Page, queue_score, text
from service.store.connection import translate_errors
from service.store.keys import Keys, split_comment_id
from service.store.scripts import Scripts

# Comments fetched per extra round trip when many queue entries share one timestamp.
_PAGE_SLACK = 50
ACTIONS = {"approve": "approved", "reject": "rejected", "spam": "spam", "delete": "deleted"}
# The status a moderator names to re-decide whatever status a comment has by then (privacy erasure).
ANY_STATUS = "*"


@dataclass(frozen=True)
class Decision:
    """A decision that was applied: what it did to which comment, who made it and when."""

    id: str
    action: str
    status: str
    previous: str
    moderator: str
    at: float
    log_id: str = ""


@dataclass(frozen=True)
class DecisionRequest:
    """One decision to make: ``seen`` is the status the moderator saw (None: pending)."""

    comment_id: str
    action: str
    reason: str = ""
    seen: str | None = None


@dataclass(frozen=True)
class DecisionOutcome:
    """What became of one DecisionRequest: the decision applied, or why it was refused."""

    comment_id: str
    decision: Decision | None = None
    refusal: CommentNotFound | DecisionConflict | None = None


@dataclass(frozen=True)
class LogEntry:
    """One line of the moderation log."""

    id: str
    comment_id: str
    action: str
    previous: str
    moderator: str
    reason: str
    at: float


@dataclass(frozen=True)
class _Applied:
    """A decision the thread's script applied, with what its site-wide indexes need."""

    decision: Decision
    created_at: float
    email_digest: str
    reason: str


class ModerationStore:
    """The queue, decisions and the log; every method takes the current time as ``now``."""

    def __init__(self, redis: Any, keys: Keys, scripts: Scripts, comments: CommentStore):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.comments = comments

    # -- the queue ------------------------------------------------------------------

    @translate_errors
    def queue(self, status: str, *, thread_id: str | None, limit: int, cursor: str | None) -> Page:
        """Comments of one status, oldest first, across threads or in one thread."""
        if thread_id:
            ids, next_cursor, _ = self.comments.page_of_thread(thread_id, status, limit, cursor)
            return Page(self.comments.load(ids, with_votes=True, with_signals=True), next_cursor)

        entries, next_cursor = self._page_queue(status, limit, cursor)
        loaded = {comment.id: comment for comment in self.comments.load(entries, with_votes=True, with_signals=True)}
        comments = []
        for entry in entries:
            comment = loaded.get(entry)
            if comment is not None and comment.status == status:
                comments.append(comment)
            else:
                self._repair_queue_entry(entry, status, comment)
        return Page(comments, next_cursor)

    def _page_queue(self, status: str, limit: int, cursor: str | None) -> tuple[list[str], str | None]:
        """Queue ids after ``cursor`` ("<score>:<id>"), ties on the score broken by id."""
        key = self.keys.queue(status)
        after_score, after_id = None, ""
        if cursor:
            score, _, after_id = cursor.partition(":")
            after_score = int(score)
        low = after_score if after_score is not None else "-inf"
        picked: list[tuple[str, int]] = []
        offset = 0
        while len(picked) <= limit:
            rows = self.redis.zrange(
                key, low, "+inf", byscore=True, offset=offset, num=limit + 1 + _PAGE_SLACK, withscores=True
            )
            for raw_member, score in rows:
                member = raw_member.decode()
                if after_score is None or score > after_score or member > after_id:
                    picked.append((member, int(score)))
            if len(rows) < limit + 1 + _PAGE_SLACK:
                break
            offset += len(rows)
        next_cursor = f"{picked[limit - 1][1]}:{picked[limit - 1][0]}" if len(picked) > limit else None
        return [member for member, _ in picked[:limit]], next_cursor

    def _repair_queue_entry(self, listed_id: str, listed_as: str, comment: Comment | None) -> None:
        """Fix a site-wide queue entry left stale by a crash between a script and its index."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self.keys.queue(listed_as), listed_id)
            if comment is not None:
                pipe.zadd(self.keys.queue(comment.status), {listed_id: queue_score(comment.created_at)})
            pipe.execute()

    @translate_errors
    def pending_summary(self) -> tuple[int, float | None]:
        """How many comments wait site-wide, and when the oldest was submitted (None: none wait).

        Two O(1)/O(log n) reads of the queue index, cheap enough for every metrics scrape."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.queue("pending"))
            pipe.zrange(self.keys.queue("pending"), 0, 0, withscores=True)
            count, oldest = pipe.execute()
        return int(count), (oldest[0][1] / 1_000_000 if oldest else None)

    @translate_errors
    def submitted_this_hour(self, now: float) -> int:
        """Comments submitted site-wide in the hour holding ``now``."""
        return int(self.redis.get(self.keys.surge(int(now // 3600))) or 0)

    # -- decisions ------------------------------------------------------------------

    @translate_errors
    def decide(self, requests: Sequence[DecisionRequest], *, moderator: str, now: float) -> list[DecisionOutcome]:
        """Apply each request to its comment if it is still in the status seen; the first decision wins.

        Each outcome holds the Decision, or its refusal: CommentNotFound, or
        DecisionConflict naming the decision that stands.
        """
        outcomes, applied = [], []
        for request in requests:
            thread_id, key = split_comment_id(request.comment_id)
            # One script call each: scripts in a cluster pipeline are not reliably loaded.
            reply = self.scripts.decide_comment(
                keys=[
                    self.keys.comment(thread_id, key),
                    *(self.keys.thread_status(thread_id, status) for status in STATUSES),
                    self.keys.thread_log(thread_id),
                ],
                args=[key, request.action, request.seen or "", moderator, request.reason, repr(now)],
            )
            outcome = _outcome(request, moderator, now, reply)
            if isinstance(outcome, _Applied):
                applied.append(outcome)
                outcomes.append(DecisionOutcome(request.comment_id, decision=outcome.decision))
            else:
                outcomes.append(outcome)
        if applied:
            self._index_decisions(applied)
            self.comments.published_changed(
                split_comment_id(done.decision.id)[0]
                for done in applied
                if "approved" in (done.decision.previous, done.decision.status)
            )
        return outcomes

    def _index_decisions(self, applied: list[_Applied]) -> None:
        """Move each decided comment in the site-wide queue and append to the site-wide log."""
        with self.redis.pipeline(transaction=False) as pipe:
            for done in applied:
                decision = done.decision
                pipe.zrem(self.keys.queue(decision.previous), decision.id)
                if decision.status == "deleted":
                    if done.email_digest:
                        pipe.srem(self.keys.email_comments(done.email_digest), decision.id)
                else:
                    pipe.zadd(self.keys.queue(decision.status), {decision.id: queue_score(done.created_at)})
                pipe.xadd(
                    self.keys.moderation_log(),
                    {
                        "comment": decision.id,
                        "action": decision.action,
                        "from": decision.previous,
                        "moderator": decision.moderator,
                        "reason": done.reason,
                        "at": repr(decision.at),
                    },
                )
            pipe.execute()

    # -- the log --------------------------------------------------------------------

    @translate_errors
    def log(self, *, limit: int, cursor: str | None) -> Page:
        """Decisions across threads, newest first; the cursor is the last entry id seen."""
        if cursor and set(cursor) <= {"0", "-"}:
            return Page([], None)  # nothing comes before 0-0, and Redis refuses "(0-0"
        rows = self.redis.xrevrange(
            self.keys.moderation_log(), max=f"({cursor}" if cursor else "+", min="-", count=limit + 1
        )
        entries = [
            LogEntry(
                id=entry_id.decode(),
                comment_id=_field(data, b"comment"),
                action=_field(data, b"action"),
                previous=_field(data, b"from"),
                moderator=_field(data, b"moderator"),
                reason=_field(data, b"reason"),
                at=float(data[b"at"]),
            )
            for entry_id, data in rows[:limit]
        ]
        return Page(entries, entries[-1].id if len(rows) > limit else None)


def _field(data: dict[bytes, bytes], name: bytes) -> str:
    return text(data.get(name)) or ""


def _outcome(request: DecisionRequest, moderator: str, now: float, reply: list[Any]) -> _Applied | DecisionOutcome:
    kind = reply[0].decode()
    if kind == "not_found":
        return DecisionOutcome(request.comment_id, refusal=CommentNotFound(request.comment_id))
    if kind == "conflict":
        status, by, at, standing_reason = (text(value) or "" for value in reply[1:5])
        standing = Standing(
            status=status, decided_by=by or None, decided_at=float(at) if at else None, reason=standing_reason or None
        )
        return DecisionOutcome(request.comment_id, refusal=DecisionConflict(request.comment_id, standing))
    new_status, previous, created_at, email_digest, log_id = (text(value) or "" for value in reply[1:6])
    decision = Decision(
        id=request.comment_id,
        action=request.action,
        status=new_status,
        previous=previous,
        moderator=moderator,
        at=now,
        log_id=log_id,
    )
    return _Applied(decision, float(created_at), email_digest, request.reason)
