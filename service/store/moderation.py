"""The moderation queue, decisions on comments, the audit log, and keeping the indexes complete.

On a single Redis node a decision is one script: the comment's status, the thread's status
sets and log line, the site-wide queue and log and the author's trust count change
together. On Redis Cluster the thread's script marks the comment "to index" and the
site-wide writes follow, as ``keys.py`` explains; ``reconcile_indexes`` repairs what a
crash left between the two.

The queue, the log and the surge counter are split into ``keys.SHARDS`` shards by a hash
of the thread: a page of the queue merges the shards by score, a page of the log merges
them newest first (with the single log of earlier versions, read only, as one more).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from service.errors import CommentNotFound, DecisionConflict, Standing, StoreUnavailable
from service.store.comments import STATUSES, Comment, CommentStore, Page, queue_score, text
from service.store.connection import translate_errors
from service.store.keys import Keys, comment_id, shard_of, split_comment_id
from service.store.scripts import Scripts
from service.store.shards import every_member, merged_page, move_into_shards
from service.store.spam import TRUST_TTL

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

DAY = 86400

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """How long decided comments stay in the site-wide queues and decisions in the logs,
    in days (0: forever); both are trimmed as they are written. Pending ones always stay."""

    decided_days: int = 0
    log_days: int = 0

    def queue_cutoff(self, now: float) -> int:
        """The queue score below which decided comments leave their queue (0: none leave)."""
        return queue_score(now - self.decided_days * DAY) if self.decided_days else 0

    def log_ms(self) -> int:
        """How long log entries are kept, in milliseconds (0: forever)."""
        return self.log_days * DAY * 1000

    def log_min_id(self, now: float) -> str | None:
        """Redis Cluster, where the site-wide log is written apart from its script: the entry id
        below which log entries are dropped (None: none are), by the caller's clock."""
        return f"{int(now * 1000) - self.log_ms()}-0" if self.log_days else None


@dataclass(frozen=True)
class DecisionRules:
    """What a decision writes besides the comment: retention, and whether it counts toward trust."""

    retention: Retention = Retention()
    counts_trust: bool = False


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
        self._migrated = False

    # -- the queue ------------------------------------------------------------------

    @translate_errors
    def queue(self, status: str, *, thread_id: str | None, limit: int, cursor: str | None) -> Page:
        """Comments of one status, oldest first, across threads or in one thread."""
        if thread_id:
            ids, next_cursor, _ = self.comments.page_of_thread(thread_id, status, limit, cursor)
            return Page(self.comments.load(ids, with_votes=True, with_signals=True), next_cursor)

        if not self._migrated:
            self.migrate_legacy_indexes()
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
        """Queue ids after ``cursor`` ("<score>:<id>"), ties on the score broken by id, merged
        across the shards (``shards.merged_page``)."""
        after = None
        if cursor:
            score, _, after_id = cursor.partition(":")
            after = (float(score), after_id)
        picked = merged_page(self.redis, self.keys.queues(status), after=after, limit=limit)
        next_cursor = f"{int(picked[limit - 1][0])}:{picked[limit - 1][1]}" if len(picked) > limit else None
        return [member for _, member in picked[:limit]], next_cursor

    def _repair_queue_entry(self, listed_id: str, listed_as: str, comment: Comment | None) -> None:
        """Fix a site-wide queue entry left stale by a crash between a script and its index."""
        thread_id = split_comment_id(listed_id)[0]
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self.keys.queue_of(thread_id, listed_as), listed_id)
            if comment is not None:
                pipe.zadd(self.keys.queue_of(thread_id, comment.status), {listed_id: queue_score(comment.created_at)})
            pipe.execute()

    @translate_errors
    def pending_summary(self) -> tuple[int, float | None]:
        """How many comments wait site-wide, and when the oldest was submitted (None: none wait).

        Two O(1)/O(log n) reads of each queue shard in one round trip, cheap enough for every
        metrics scrape."""
        with self.redis.pipeline(transaction=False) as pipe:
            for key in self.keys.queues("pending"):
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
            replies = pipe.execute()
        count = sum(int(reply) for reply in replies[::2])
        oldest = min((rows[0][1] for rows in replies[1::2] if rows), default=None)
        return count, (oldest / 1_000_000 if oldest is not None else None)

    @translate_errors
    def submitted_this_hour(self, now: float) -> int:
        """Comments submitted site-wide in the hour holding ``now``: the sum of its shards."""
        with self.redis.pipeline(transaction=False) as pipe:
            for key in self.keys.surges(int(now // 3600)):
                pipe.get(key)
            return sum(int(count or 0) for count in pipe.execute())

    # -- earlier versions' single keys ------------------------------------------------

    @translate_errors
    def migrate_legacy_indexes(self) -> int:
        """Move the registries and queues earlier versions kept in one key each into their
        shards (the single log stays, read as one more shard); returns how many entries moved.
        Runs once per process from the first queue read, and from ``yaynay check --repair``."""
        self._migrated = True
        moves: list[tuple[str, Callable[[str], str]]] = [
            (self.keys.legacy_poll_registry(), self.keys.poll_registry),
            (self.keys.legacy_thread_registry(), self.keys.thread_registry),
            *((self.keys.legacy_queue(status), partial(self._queue_of_comment, status=status)) for status in STATUSES),
        ]
        with self.redis.pipeline(transaction=False) as pipe:
            for legacy, _ in moves:
                pipe.exists(legacy)
            present = pipe.execute()
        return sum(
            move_into_shards(self.redis, legacy, shard_key)
            for (legacy, shard_key), exists in zip(moves, present, strict=True)
            if exists
        )

    def _queue_of_comment(self, the_id: str, status: str) -> str:
        return self.keys.queue_of(split_comment_id(the_id)[0], status)

    # -- decisions ------------------------------------------------------------------

    @translate_errors
    def decide(
        self,
        requests: Sequence[DecisionRequest],
        *,
        moderator: str,
        now: float,
        rules: DecisionRules = DecisionRules(),
    ) -> list[DecisionOutcome]:
        """Apply each request to its comment if it is still in the status seen; the first decision wins.

        Each outcome holds the Decision, or its refusal: CommentNotFound, or
        DecisionConflict naming the decision that stands. With ``rules.counts_trust`` each
        decision also counts toward (or resets) its author's approvals in a row, in the
        same step on one node.
        """
        if self.scripts.on_one_node:
            outcomes, applied = self._decide_on_one_node(requests, moderator, now, rules)
        else:
            outcomes, applied = self._decide_in_two_steps(requests, moderator, now, rules)
        if applied:
            self.comments.published_changed(
                split_comment_id(done.decision.id)[0]
                for done in applied
                if "approved" in (done.decision.previous, done.decision.status)
            )
        return outcomes

    def _decide_on_one_node(
        self, requests: Sequence[DecisionRequest], moderator: str, now: float, rules: DecisionRules
    ) -> tuple[list[DecisionOutcome], list[_Applied]]:
        """One script a decision: the thread's keys, its shard of the site-wide queue and log,
        the email index and the author's trust count."""
        # A delete removes the comment from its email index and a decision counts toward its
        # author's trust, keys the script must be given: the digest is read first, in one
        # round trip for the whole batch.
        authors = [request.comment_id for request in requests if request.action == "delete" or rules.counts_trust]
        with self.redis.pipeline(transaction=False) as pipe:
            for one_id in authors:
                pipe.hget(self.keys.comment(*split_comment_id(one_id)), "email_digest")
            digests = {one_id: text(digest) or "" for one_id, digest in zip(authors, pipe.execute(), strict=True)}
        outcomes, applied = [], []
        for request in requests:
            thread_id, key = split_comment_id(request.comment_id)
            shard = shard_of(thread_id)
            assumed_digest = digests.get(request.comment_id, "")
            reply = self.scripts.decide_comment_on_one_node(
                keys=[
                    *self._thread_keys(thread_id, key),
                    *(self.keys.queue(status, shard) for status in STATUSES),
                    self.keys.moderation_log(shard),
                    self.keys.email_comments(assumed_digest or "-"),
                    self.keys.trust(assumed_digest or "-"),
                ],
                args=[
                    *self._decision_args(request, key, moderator, now),
                    request.comment_id,
                    assumed_digest,
                    "1" if rules.counts_trust else "",
                    TRUST_TTL,
                    rules.retention.queue_cutoff(now),
                    rules.retention.log_ms(),
                ],
            )
            outcome = _outcome(request, moderator, now, reply)
            if isinstance(outcome, _Applied):
                if outcome.email_digest not in ("", assumed_digest):
                    # Read too early (never, as an email is never edited): index and trust here.
                    with self.redis.pipeline(transaction=False) as pipe:
                        self._index_author(pipe, outcome, rules)
                        pipe.execute()
                applied.append(outcome)
                outcomes.append(DecisionOutcome(request.comment_id, decision=outcome.decision))
            else:
                outcomes.append(outcome)
        return outcomes, applied

    def _decide_in_two_steps(
        self, requests: Sequence[DecisionRequest], moderator: str, now: float, rules: DecisionRules
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
            reply = self.scripts.decide_comment(
                keys=[*self._thread_keys(thread_id, key), self.keys.index_marker(thread_id)],
                args=[*self._decision_args(request, key, moderator, now), rules.retention.log_ms()],
            )
            outcome = _outcome(request, moderator, now, reply)
            if isinstance(outcome, _Applied):
                applied.append(outcome)
                outcomes.append(DecisionOutcome(request.comment_id, decision=outcome.decision))
            else:
                outcomes.append(outcome)
        if applied:
            self._index_decisions(applied, now, rules)
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
        """The arguments both decide scripts take first."""
        return [key, request.action, request.seen or "", moderator, request.reason, repr(now)]

    def _index_decisions(self, applied: list[_Applied], now: float, rules: DecisionRules) -> None:
        """Redis Cluster: move each decided comment in its shard of the site-wide queue (trimmed
        to the retention), append to the shard's log, update the email index and trust."""
        cutoff, min_id = rules.retention.queue_cutoff(now), rules.retention.log_min_id(now)
        with self.redis.pipeline(transaction=False) as pipe:
            for done in applied:
                decision = done.decision
                thread_id = split_comment_id(decision.id)[0]
                pipe.zrem(self.keys.queue_of(thread_id, decision.previous), decision.id)
                if decision.status != "deleted":
                    queue = self.keys.queue_of(thread_id, decision.status)
                    pipe.zadd(queue, {decision.id: queue_score(done.created_at)})
                    if decision.status != "pending" and cutoff:
                        pipe.zremrangebyscore(queue, "-inf", f"({cutoff}")
                self._index_author(pipe, done, rules)
                pipe.xadd(
                    self.keys.moderation_log_of(thread_id),
                    {
                        "comment": decision.id,
                        "action": decision.action,
                        "from": decision.previous,
                        "moderator": decision.moderator,
                        "reason": done.reason,
                        "at": repr(decision.at),
                    },
                    minid=min_id,
                    approximate=False,
                )
            pipe.execute()

    def _index_author(self, pipe: Any, done: _Applied, rules: DecisionRules) -> None:
        """Queue the email index and trust changes of a decision on ``pipe`` (outside its thread's slot)."""
        if not done.email_digest:
            return
        if done.decision.status == "deleted":
            pipe.srem(self.keys.email_comments(done.email_digest), done.decision.id)
        elif rules.counts_trust:
            trust = self.keys.trust(done.email_digest)
            if done.decision.status == "approved":
                pipe.incr(trust)
                pipe.expire(trust, TRUST_TTL)
            else:
                pipe.delete(trust)

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
    def audit_thread(
        self, thread_id: str, *, repair: bool = False, now: float = 0.0, retention: Retention = Retention()
    ) -> list[IndexProblem]:
        """Every comment of the thread missing from the site-wide queue under its status (a
        decided one past the retention need not be there) or, when it has an email, from the
        email index; with ``repair``, index each of them."""
        cutoff = retention.queue_cutoff(now)
        with self.redis.pipeline(transaction=False) as pipe:
            for status in STATUSES:
                pipe.zrange(self.keys.thread_status(thread_id, status), 0, -1)
            keys = [member.decode() for members in pipe.execute() for member in members]
        problems = []
        for start in range(0, len(keys), AUDIT_BATCH):
            comments = self.comments.load([comment_id(thread_id, key) for key in keys[start : start + AUDIT_BATCH]])
            with self.redis.pipeline(transaction=False) as pipe:
                for comment in comments:
                    pipe.zscore(self.keys.queue_of(thread_id, comment.status), comment.id)
                    pipe.sismember(self.keys.email_comments(comment.email_digest or "-"), comment.id)
                answers = iter(pipe.execute())
            for comment in comments:
                queued, emailed = next(answers), next(answers)
                if queued is None and (comment.status == "pending" or queue_score(comment.created_at) >= cutoff):
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
        """Every thread that ever took a comment (the thread registry's shards), oldest first."""
        return [thread_id for thread_id, _ in every_member(self.redis, self.keys.thread_registries())]

    # -- the log --------------------------------------------------------------------

    @translate_errors
    def log(self, *, limit: int, cursor: str | None) -> Page:
        """Decisions across threads, newest first, merged from every shard of the log (and the
        single log of earlier versions); the cursor is "<entry id>.<shard>" of the last seen.

        Shards are ordered by entry id, then by shard, so entries of two shards with the
        same id are neither skipped nor repeated."""
        logs = self.keys.moderation_logs()
        tops = dict.fromkeys(range(len(logs)), "+")
        if cursor:
            entry_id, _, cursor_shard = cursor.partition(".")
            ms, seq = _stream_id(entry_id)
            last_shard = int(cursor_shard or len(logs) - 1)
            # A shard before the cursor's may hold the cursor's own id; Redis refuses "(0-0".
            tops = {n: f"{ms}-{seq}" if n < last_shard else f"({ms}-{seq}" for n in range(len(logs))}
            tops = {n: top for n, top in tops.items() if top != "(0-0"}
        with self.redis.pipeline(transaction=False) as pipe:
            for shard, top in tops.items():
                pipe.xrevrange(logs[shard], max=top, min="-", count=limit + 1)
            replies = pipe.execute()
        rows = [
            (_stream_id(entry_id.decode()), shard, entry_id.decode(), data)
            for shard, reply in zip(tops, replies, strict=True)
            for entry_id, data in reply
        ]
        rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
        entries = [
            LogEntry(
                id=entry_id,
                comment_id=_field(data, b"comment"),
                action=_field(data, b"action"),
                previous=_field(data, b"from"),
                moderator=_field(data, b"moderator"),
                reason=_field(data, b"reason"),
                at=float(data[b"at"]),
            )
            for _, _, entry_id, data in rows[:limit]
        ]
        next_cursor = f"{rows[limit - 1][2]}.{rows[limit - 1][1]}" if len(rows) > limit else None
        return Page(entries, next_cursor)


def _stream_id(entry_id: str) -> tuple[int, int]:
    """A stream entry id as numbers, for ordering ("1795696216473-0" -> (1795696216473, 0))."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


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
