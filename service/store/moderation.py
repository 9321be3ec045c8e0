"""The moderation queue, decisions on comments, the audit log, and keeping the indexes complete.

On a single Redis node a decision is one script: the comment's status, the thread's status
sets and log line, the site-wide queue and log change together. On Redis Cluster the
thread's script marks the comment "to index" and the site-wide writes follow, as
``keys.py`` explains; ``reconcile_indexes`` repairs what a crash left between the two.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import CommentNotFound, DecisionConflict, Standing, StoreUnavailable
from service.store.comments import STATUSES, Comment, CommentStore, Page, queue_score, text
from service.store.connection import translate_errors
from service.store.keys import Keys, comment_id, split_comment_id
from service.store.scripts import Scripts

# Comments fetched per extra round trip when many queue entries share one timestamp.
_PAGE_SLACK = 50
ACTIONS = {"approve": "approved", "reject": "rejected", "spam": "spam", "delete": "deleted"}
# The status a moderator names to re-decide whatever status a comment has by then (privacy erasure).
ANY_STATUS = "*"
# Redis Cluster: a "to index" mark older than this is a write whose second step never ran
# (a request takes well under a second, and its Redis calls time out sooner); with the
# repair running at most every 50 s (INDEX_REPAIR_INTERVAL), an orphan waits under 60 s.
REPAIR_AGE = 10.0
# Threads with marks looked at by one reconcile; the rest wait for the next.
MARKED_THREADS_PER_RUN = 1000
# Comments loaded at once by an audit.
AUDIT_BATCH = 500

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexProblem:
    """A stored comment missing from a site-wide index."""

    comment_id: str
    problem: str


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
        self._next_reconcile_at = 0.0
        self._stopped = threading.Event()
        self._repairing: threading.Thread | None = None

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
        if self.scripts.on_one_node:
            outcomes, applied = self._decide_on_one_node(requests, moderator, now)
        else:
            outcomes, applied = self._decide_in_two_steps(requests, moderator, now)
        if applied:
            self.comments.published_changed(
                split_comment_id(done.decision.id)[0]
                for done in applied
                if "approved" in (done.decision.previous, done.decision.status)
            )
        return outcomes

    def _decide_on_one_node(
        self, requests: Sequence[DecisionRequest], moderator: str, now: float
    ) -> tuple[list[DecisionOutcome], list[_Applied]]:
        """One script a decision: the thread's keys, the site-wide queue and log, the email index."""
        # A delete removes the comment from its email index, whose key the script must be
        # given: the digest is read first, in one round trip for the whole batch.
        deletes = [request.comment_id for request in requests if request.action == "delete"]
        with self.redis.pipeline(transaction=False) as pipe:
            for one_id in deletes:
                pipe.hget(self.keys.comment(*split_comment_id(one_id)), "email_digest")
            digests = {one_id: text(digest) or "" for one_id, digest in zip(deletes, pipe.execute(), strict=True)}
        outcomes, applied = [], []
        for request in requests:
            thread_id, key = split_comment_id(request.comment_id)
            assumed_digest = digests.get(request.comment_id, "")
            reply = self.scripts.replicated.run(
                self.scripts.decide_comment_on_one_node,
                keys=[
                    *self._thread_keys(thread_id, key),
                    *(self.keys.queue(status) for status in STATUSES),
                    self.keys.moderation_log(),
                    self.keys.email_comments(assumed_digest or "-"),
                ],
                args=[*self._decision_args(request, key, moderator, now), request.comment_id, assumed_digest],
            )
            outcome = _outcome(request, moderator, now, reply)
            if isinstance(outcome, _Applied):
                if outcome.decision.status == "deleted" and outcome.email_digest not in ("", assumed_digest):
                    self.redis.srem(self.keys.email_comments(outcome.email_digest), request.comment_id)
                applied.append(outcome)
                outcomes.append(DecisionOutcome(request.comment_id, decision=outcome.decision))
            else:
                outcomes.append(outcome)
        return outcomes, applied

    def _decide_in_two_steps(
        self, requests: Sequence[DecisionRequest], moderator: str, now: float
    ) -> tuple[list[DecisionOutcome], list[_Applied]]:
        """Redis Cluster: each thread's script decides and marks the comment "to index"; the
        site-wide queue and log follow, then the marks are cleared (``reconcile_indexes``
        finishes what a crash between the steps left)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in {split_comment_id(request.comment_id)[0] for request in requests}:
                pipe.zadd(self.keys.marked_threads(), {thread_id: now})
            pipe.execute()
        outcomes, applied = [], []
        for request in requests:
            thread_id, key = split_comment_id(request.comment_id)
            # One script call each: scripts in a cluster pipeline are not reliably loaded.
            reply = self.scripts.replicated.run(
                self.scripts.decide_comment,
                keys=[*self._thread_keys(thread_id, key), self.keys.index_marker(thread_id)],
                args=self._decision_args(request, key, moderator, now),
            )
            outcome = _outcome(request, moderator, now, reply)
            if isinstance(outcome, _Applied):
                applied.append(outcome)
                outcomes.append(DecisionOutcome(request.comment_id, decision=outcome.decision))
            else:
                outcomes.append(outcome)
        if applied:
            self._index_decisions(applied)
            marks: dict[str, dict[str, str]] = {}
            for done in applied:
                thread_id, key = split_comment_id(done.decision.id)
                marks.setdefault(thread_id, {})[key] = f"{now!r} {done.email_digest}"
            for thread_id, thread_marks in marks.items():
                self.comments.clear_index_marks(thread_id, thread_marks)
        return outcomes, applied

    def _thread_keys(self, thread_id: str, key: str) -> list[str]:
        """The thread's keys a decision writes, in the order both decide scripts take them."""
        return [
            self.keys.comment(thread_id, key),
            *(self.keys.thread_status(thread_id, status) for status in STATUSES),
            self.keys.thread_log(thread_id),
        ]

    @staticmethod
    def _decision_args(request: DecisionRequest, key: str, moderator: str, now: float) -> list[str]:
        return [key, request.action, request.seen or "", moderator, request.reason, repr(now)]

    def _index_decisions(self, applied: list[_Applied]) -> None:
        """Redis Cluster: move each decided comment in the site-wide queue and append to the site-wide log."""
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

    # -- keeping the site-wide indexes complete ----------------------------------------

    @translate_errors
    def reconcile_indexes(self, now: float, *, older_than: float = REPAIR_AGE) -> int:
        """Redis Cluster: index every comment marked "to index" more than ``older_than`` seconds
        ago (a write whose second step never ran) and forget threads left without marks.
        Returns how many comments were repaired; on a single node there is never any."""
        if self.scripts.on_one_node:
            return 0
        cutoff = now - older_than
        repaired = 0
        registry = self.keys.marked_threads()
        for raw_thread in self.redis.zrange(registry, 0, MARKED_THREADS_PER_RUN - 1):
            thread_id = raw_thread.decode()
            marks = self.comments.index_marks(thread_id)
            due = {key: mark for key, mark in marks.items() if float(mark.partition(" ")[0]) <= cutoff}
            if due:
                self.comments.repair_index(thread_id, due)
                repaired += len(due)
            if len(due) == len(marks):
                self.scripts.forget_indexed_thread(keys=[registry], args=[thread_id, repr(cutoff)])
        return repaired

    @translate_errors
    def reconcile_now_and_then(self, now: float, interval: float) -> int:
        """Run ``reconcile_indexes`` unless this process or another ran it in the last ``interval``
        seconds (a lock in Redis with that lifetime); returns how many comments were repaired."""
        if self.scripts.on_one_node or now < self._next_reconcile_at:
            return 0
        self._next_reconcile_at = now + interval
        if not self.redis.set(self.keys.index_repair_lock(), repr(now), nx=True, ex=max(1, int(interval))):
            return 0
        return self.reconcile_indexes(now)

    def keep_indexes_complete(self, clock: Callable[[], float], interval: float) -> None:
        """Redis Cluster: reconcile in the background of this process every ``interval`` seconds
        (at most one process a period does the work); stopped by ``stop``."""
        if self.scripts.on_one_node or self._repairing is not None:
            return

        def repair_forever() -> None:
            while not self._stopped.wait(interval):
                try:
                    self.reconcile_now_and_then(clock(), interval)
                except StoreUnavailable:
                    log.warning("index repair skipped: Redis unavailable")
                except Exception:  # the loop must outlive any one failure; the next period retries
                    log.exception("index repair failed")

        self._repairing = threading.Thread(target=repair_forever, name="yaynay-index-repair", daemon=True)
        self._repairing.start()

    def stop(self) -> None:
        """Stop the background index repair, if it runs."""
        self._stopped.set()

    @translate_errors
    def audit_thread(self, thread_id: str, *, repair: bool = False) -> list[IndexProblem]:
        """Every comment of the thread missing from the site-wide queue under its status or,
        when it has an email, from the email index; with ``repair``, index each of them."""
        with self.redis.pipeline(transaction=False) as pipe:
            for status in STATUSES:
                pipe.zrange(self.keys.thread_status(thread_id, status), 0, -1)
            keys = [member.decode() for members in pipe.execute() for member in members]
        problems = []
        for start in range(0, len(keys), AUDIT_BATCH):
            comments = self.comments.load([comment_id(thread_id, key) for key in keys[start : start + AUDIT_BATCH]])
            with self.redis.pipeline(transaction=False) as pipe:
                for comment in comments:
                    pipe.zscore(self.keys.queue(comment.status), comment.id)
                    pipe.sismember(self.keys.email_comments(comment.email_digest or "-"), comment.id)
                answers = iter(pipe.execute())
            for comment in comments:
                queued, emailed = next(answers), next(answers)
                if queued is None:
                    problems.append(IndexProblem(comment.id, f"not in the {comment.status} queue"))
                if comment.email_digest and not emailed:
                    problems.append(IndexProblem(comment.id, "not in its email index"))
        if repair and problems:
            self.comments.repair_index(
                thread_id, {split_comment_id(problem.comment_id)[1]: "0 " for problem in problems}
            )
        return problems

    @translate_errors
    def thread_ids(self) -> list[str]:
        """Every thread that ever took a comment (the MAX_THREADS registry)."""
        return [member.decode() for member in self.redis.zrange(self.keys.thread_registry(), 0, -1)]

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
