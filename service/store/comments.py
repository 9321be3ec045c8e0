"""Comments: submitting one to its thread, and reading threads.

On a single Redis node a submission is one script, one round trip: it checks the process
screened the comment with the current blocklist and bans, settles the surge hold and
trusted authors, and writes the thread and the site-wide indexes (queue, surge, text and
email indexes, thread registry). On Redis Cluster those follow the thread's script in
further steps, with a "to index" mark in between, as ``keys.py`` explains. The moderation
queue, decisions and the log are in ``moderation.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from service.errors import (
    CommentNotFound,
    EditRefused,
    EditWindowClosed,
    InvalidParent,
    RateLimited,
)
from service.ratelimit import RateLimit, RateState
from service.store.cache import ReadCache
from service.store.connection import translate_errors
from service.store.keys import SHARDS, Keys, comment_id, new_comment_key, shard_of, split_comment_id
from service.store.polls import DAY, choice_of
from service.store.scripts import Scripts
from service.store.shards import registry_page
from service.store.voters import VoterAddress, VoterReads

STATUSES = ("pending", "approved", "rejected", "spam")
# How long a comment body counts toward the "same text seen before" signal.
TEXT_SEEN_TTL = 30 * 86400
# The site-wide submissions counter of an hour lives through the next hour too.
SURGE_COUNTER_TTL = 2 * 3600
# Redis Cluster: each process remembers this many threads it registered, then starts over.
REGISTERED_THREADS_REMEMBERED = 100_000
# Counts a client's comments in the hour (the "recent from this IP" signal); never refuses.
HOURLY_SUBMISSIONS = RateLimit.counter(3600)
# What a submission without a lists version passes the script: never stale.
_ANY_LISTS = "*"


@dataclass(frozen=True)
class Comment:
    """One stored comment, with everything a moderator may see."""

    id: str
    thread_id: str
    status: str
    seq: int
    author: str
    body: str
    created_at: float
    email: str | None = None
    website: str | None = None
    parent_id: str | None = None
    ip_digest: str = ""
    user_agent: str = ""
    voter: bytes | None = None
    links: int = 0
    text_digest: str = ""
    recent_from_ip: int = 0
    surge: bool = False
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    vote: str | None = None
    same_text_count: int = 0
    email_digest: str = ""
    edited_at: float | None = None
    edit_digest: str = ""
    held_reason: str = ""


@dataclass(frozen=True)
class Edited:
    """A reader's edit that was applied: the comment's status now and before."""

    id: str
    status: str
    previous: str


@dataclass(frozen=True)
class NewComment:
    """What a reader submitted, already validated, with the derived digests."""

    author: str
    body: str
    email: str | None
    website: str | None
    parent_id: str | None
    voter: bytes | None
    ip_digest: str
    user_agent: str
    text_digest: str
    email_digest: str | None
    idempotency_digest: str | None
    links: int
    # Keyed hash of the edit token handed to the reader; "" when none was handed out.
    edit_digest: str = ""
    # The article it was written on: recorded as the thread's page_url unless one is.
    page_url: str | None = None


class SpamListsMoved(Exception):
    """The blocklist or the bans changed since this process loaded them: reload, screen again."""


@dataclass(frozen=True)
class Screening:
    """What the spam tools decided before the store, and what the store settles as it stores.

    ``status`` is the tools' verdict, or the moderation setting when none decided
    (``settle``): then the surge hold and trusted authors settle it in the same step as the
    write. ``lists_version`` is the blocklist and bans version screened with; the store
    refuses with SpamListsMoved when it moved (None: no check).
    """

    status: str
    held_reason: str = ""
    settle: bool = False
    trusted_after: int = 0
    lists_version: str | None = None


@dataclass(frozen=True)
class CommentLimits:
    """Bounds on submissions: per-IP rates (site-wide), the thread ceiling, the surge level, repeats."""

    rates: tuple[RateLimit, ...]
    # Threads one client IP may start (first comments on new articles) in a UTC day; 0: no limit.
    new_threads_per_day: int
    surge_per_hour: int
    duplicate_window: int
    idempotency_ttl: int


@dataclass(frozen=True)
class Submission:
    """The answer to a submission: the comment's id and status, and whether it is new."""

    id: str
    status: str
    created: bool
    rate: RateState | None = None
    # Why the spam tools or the surge hold held or rejected it ('' when nothing did).
    held_reason: str = ""
    # Known from the write on one node (None: not read): comments site-wide this hour, with
    # this one, and how many webhook endpoints exist, so the events need no read of their own.
    submitted_this_hour: int | None = None
    webhook_endpoints: int | None = None
    # Handed to the reader once, with the first answer; a retry gets None.
    edit_token: str | None = None


@dataclass(frozen=True)
class ThreadSummary:
    """A thread as the console lists it: its comments counted by status, and its article."""

    id: str
    first_comment_at: float
    counts: dict[str, int]
    page_url: str | None = None


@dataclass
class Page:
    """One page of a list, and the cursor of the next (None at the end)."""

    items: list[Any]
    next_cursor: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def queue_score(submitted_at: float) -> int:
    """A comment's place in the site-wide queue: its submission time in microseconds."""
    return int(submitted_at * 1_000_000)


def text(value: bytes | None) -> str | None:
    """A Redis reply as text (None stays None)."""
    return value.decode() if value is not None else None


class CommentStore:
    """Writes new comments and reads threads; every method takes the current time as ``now``."""

    def __init__(self, redis: Any, keys: Keys, scripts: Scripts, read_cache: ReadCache, voter_reads: VoterReads):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.read_cache = read_cache
        self.voter_reads = voter_reads
        self._registered_threads: set[str] = set()

    def published_changed(self, thread_ids: Iterable[str]) -> None:
        """Tell every process (and this one at once) that these threads' public pages changed."""
        for thread_id in set(thread_ids):
            self.redis.spublish(self.keys.change_channel(thread_id), thread_id)
            self.read_cache.changed(thread_id)

    # -- submitting -----------------------------------------------------------------

    @translate_errors
    def submit(
        self,
        thread_id: str,
        comment: NewComment,
        *,
        status: str | Screening,
        now: float,
        limits: CommentLimits,
    ) -> Submission:
        """Store a reader's comment with the status screening gave it (a Screening, or a bare
        status to store as it is), unless it repeats one.

        A repeat (same Idempotency-Key, or the same text from the same client within the
        duplicate window) answers with the stored comment, creates nothing and uses none of
        the client's limits; a repeat of a comment whose indexes were lost heals them.
        Raises RateLimited (also past the new threads a client may start a day),
        InvalidParent, or SpamListsMoved (nothing stored: reload the lists, screen again).
        """
        screening = status if isinstance(status, Screening) else Screening(status)
        if self.scripts.on_one_node:
            submission = self._submit_on_one_node(thread_id, comment, screening, now, limits)
        else:
            submission = self._submit_in_steps(thread_id, comment, screening, now, limits)
        if submission.created and submission.status == "approved":
            self.published_changed([thread_id])
        return submission

    def _submit_on_one_node(
        self, thread_id: str, comment: NewComment, screening: Screening, now: float, limits: CommentLimits
    ) -> Submission:
        """One script, one round trip: lists version, repeat check, limits, new-thread limit,
        surge hold and trust, store and indexes."""
        key = new_comment_key()
        new_id = comment_id(thread_id, key)
        counters, limit_args = self._rate_counters(comment, now, limits)
        new_threads, new_threads_args = self._new_threads_counter(comment, now, limits)
        hour, shard = int(now // 3600), shard_of(thread_id)
        surges = [self.keys.surge(hour, shard), *(self.keys.surge(hour, n) for n in range(SHARDS) if n != shard)]
        reply = self.scripts.replicated.run(
            self.scripts.submit_comment_on_one_node,
            keys=[
                self.keys.comment(thread_id, key),
                self.keys.thread_seq(thread_id),
                *(self.keys.thread_status(thread_id, one) for one in STATUSES),
                self._idempotency_key(thread_id, comment),
                self._duplicate_key(thread_id, comment),
                *(self.keys.queue(one, shard) for one in STATUSES),
                self.keys.text_seen(comment.text_digest),
                self.keys.email_comments(comment.email_digest or "-"),
                self.keys.thread_registry(thread_id),
                new_threads,
                self.keys.spam_version(),
                self.keys.trust(comment.email_digest or "-"),
                self.keys.webhook_endpoints(),
                self.keys.thread_meta(thread_id),
                *surges,
                *counters,
            ],
            args=[
                key,
                screening.status,
                repr(now),
                self._parent_key(comment),
                self._idempotency_ttl(comment, limits),
                limits.duplicate_window,
                new_id,
                queue_score(now),
                SURGE_COUNTER_TTL,
                TEXT_SEEN_TTL,
                "1" if comment.email_digest else "",
                limits.surge_per_hour,
                thread_id,
                *new_threads_args,
                _ANY_LISTS if screening.lists_version is None else screening.lists_version,
                "1" if screening.settle else "",
                screening.trusted_after if comment.email_digest else 0,
                screening.held_reason,
                comment.page_url or "",
                len(surges),
                len(counters),
                *limit_args,
                *self._fields(comment),
            ],
        )
        outcome = reply[0].decode()
        if outcome == "stale":
            raise SpamListsMoved()
        if outcome == "existing":
            return self._existing(thread_id, reply[1].decode())
        if outcome == "limited":
            raise self._refusal(limits, int(reply[1]), int(reply[2]))
        if outcome == "bad_parent":
            raise InvalidParent(comment.parent_id or "")
        if outcome == "thread_limit":
            raise self._thread_refusal(limits, int(reply[1]))
        return Submission(
            id=new_id,
            status=reply[4].decode(),
            created=True,
            rate=self._rate_state(limits, reply[2], reply[3]),
            held_reason=reply[5].decode(),
            submitted_this_hour=int(reply[6]),
            webhook_endpoints=int(reply[7]),
        )

    def _submit_in_steps(
        self, thread_id: str, comment: NewComment, screening: Screening, now: float, limits: CommentLimits
    ) -> Submission:
        """Redis Cluster: what screening reads (lists version, surge, trust) first; then the
        repeat check and the limits; the thread's registry shard; the thread's script stores
        the comment marked "to index", the site-wide indexes follow, then the mark is
        cleared. ``reconcile_indexes`` finishes what a crash between the steps left.
        Concurrent retries may each be counted once against the client's limits here (the
        repeat check and the count run before the store script)."""
        screening, surge = self._settle_in_python(screening, comment, now, limits)
        repeat, rate, recent_from_ip = self._check_repeat_and_count(thread_id, comment, now, limits)
        if repeat:
            return repeat
        self._register_thread(thread_id, comment, now, limits)
        self.redis.zadd(self.keys.marked_threads(), {thread_id: now})

        key = new_comment_key()
        mark = f"{now!r} {comment.email_digest or ''}"
        fields = [*self._fields(comment), "recent_from_ip", recent_from_ip]
        if screening.held_reason:
            fields += ["held_reason", screening.held_reason]
        if screening.status == "pending" and surge > limits.surge_per_hour:
            fields += ["surge", 1]
        reply = self.scripts.replicated.run(
            self.scripts.submit_comment,
            keys=[
                *self._thread_keys(thread_id, key, screening.status, comment),
                self.keys.index_marker(thread_id),
                self.keys.thread_meta(thread_id),
            ],
            args=[
                key,
                screening.status,
                repr(now),
                self._parent_key(comment),
                self._idempotency_ttl(comment, limits),
                limits.duplicate_window,
                comment.email_digest or "",
                comment.page_url or "",
                *fields,
            ],
        )
        outcome = reply[0].decode()
        if outcome == "bad_parent":
            raise InvalidParent(comment.parent_id or "")
        if outcome == "existing":
            return self._existing(thread_id, reply[1].decode())
        new_id = comment_id(thread_id, key)
        self._index_new(thread_id, new_id, comment, screening.status, now)
        self.clear_index_marks(thread_id, {key: mark})
        return Submission(
            id=new_id, status=screening.status, created=True, rate=rate, held_reason=screening.held_reason
        )

    def _settle_in_python(
        self, screening: Screening, comment: NewComment, now: float, limits: CommentLimits
    ) -> tuple[Screening, int]:
        """Redis Cluster: read the lists version, the hour's surge shards and the author's trust
        in one pipeline (several slots) and settle the status as ``lib/settle.lua`` does on
        one node; returns the settled screening and the surge count with this comment.
        Raises SpamListsMoved."""
        trusting = screening.trusted_after > 0 and bool(comment.email_digest)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.keys.spam_version())
            for surge_key in self.keys.surges(int(now // 3600)):
                pipe.get(surge_key)
            if trusting:
                pipe.get(self.keys.trust(comment.email_digest or "-"))
            version, *counts = pipe.execute()
        approvals = int(counts.pop() or 0) if trusting else 0
        if screening.lists_version is not None and (version or b"").decode() != screening.lists_version:
            raise SpamListsMoved()
        surge = 1 + sum(int(count or 0) for count in counts)
        if not screening.settle:
            return screening, surge
        if surge > limits.surge_per_hour:
            return replace(screening, status="pending", held_reason="surge"), surge
        if trusting and screening.status == "pending" and approvals >= screening.trusted_after:
            return replace(screening, status="approved"), surge
        return screening, surge

    def _thread_keys(self, thread_id: str, key: str, status: str, comment: NewComment) -> list[str]:
        """The thread's keys a new comment writes, in the order both submit scripts take them."""
        return [
            self.keys.comment(thread_id, key),
            self.keys.thread_seq(thread_id),
            self.keys.thread_status(thread_id, status),
            self.keys.thread_status(thread_id, "approved"),
            self._idempotency_key(thread_id, comment),
            self._duplicate_key(thread_id, comment),
        ]

    @staticmethod
    def _parent_key(comment: NewComment) -> str:
        return split_comment_id(comment.parent_id)[1] if comment.parent_id else ""

    @staticmethod
    def _fields(comment: NewComment) -> list[Any]:
        """The comment's stored fields as a flat list of name, value pairs."""
        fields: dict[str, Any] = {
            "author": comment.author,
            "body": comment.body,
            "email": comment.email or "",
            "website": comment.website or "",
            "parent_id": comment.parent_id or "",
            "voter": comment.voter or b"",
            "ip_digest": comment.ip_digest,
            "user_agent": comment.user_agent,
            "text_digest": comment.text_digest,
            "email_digest": comment.email_digest or "",
            "links": comment.links,
            "edit_digest": comment.edit_digest,
        }
        return [item for pair in fields.items() for item in pair]

    @translate_errors
    def page_urls(self, thread_ids: Sequence[str]) -> dict[str, str | None]:
        """Each thread's recorded article URL (or None), in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                pipe.hget(self.keys.thread_meta(thread_id), "page_url")
            return {thread_id: text(url) for thread_id, url in zip(thread_ids, pipe.execute(), strict=True)}

    @translate_errors
    def thread_page(self, *, cursor: str | None, limit: int) -> tuple[list[ThreadSummary], str | None, int]:
        """Threads newest first, ``limit`` of them past ``cursor``, each with its comments
        counted by status and its article URL; the next page's cursor; and how many threads
        there are."""
        rows, next_cursor, total = registry_page(self.redis, self.keys.thread_registries(), cursor=cursor, limit=limit)
        threads = [(thread_id, score) for score, thread_id in rows]
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id, _ in threads:
                for status in STATUSES:
                    pipe.zcard(self.keys.thread_status(thread_id, status))
                pipe.hget(self.keys.thread_meta(thread_id), "page_url")
            replies = pipe.execute()
        width = len(STATUSES) + 1
        summaries = []
        for index, (thread_id, score) in enumerate(threads):
            *counts, page_url = replies[index * width : (index + 1) * width]
            summaries.append(
                ThreadSummary(
                    thread_id, float(score), dict(zip(STATUSES, map(int, counts), strict=True)), text(page_url)
                )
            )
        return summaries, next_cursor, total

    def _register_thread(self, thread_id: str, comment: NewComment, now: float, limits: CommentLimits) -> None:
        """Redis Cluster: register a new thread in its shard, counted against the threads the
        client may start today (RateLimited past them). A thread is never unregistered, so
        each process asks Redis once per thread, not once per comment."""
        if thread_id in self._registered_threads:
            return
        registry = self.keys.thread_registry(thread_id)
        if self.redis.zscore(registry, thread_id) is None and limits.new_threads_per_day > 0:
            counter, args = self._new_threads_counter(comment, now, limits)
            counted = self.scripts.count_rate_limits(keys=[counter], args=[repr(now), *args])
            if counted[0] == 0:
                raise self._thread_refusal(limits, int(counted[2]))
        self.redis.zadd(registry, {thread_id: now}, nx=True)
        if len(self._registered_threads) >= REGISTERED_THREADS_REMEMBERED:
            self._registered_threads.clear()
        self._registered_threads.add(thread_id)

    def _new_threads_counter(self, comment: NewComment, now: float, limits: CommentLimits) -> tuple[str, list[int]]:
        """The client's counter of threads started today, and its limit's count, window and start."""
        start = RateLimit(max(1, limits.new_threads_per_day), DAY).window_start(now)
        return self.keys.new_threads(comment.ip_digest, start), [limits.new_threads_per_day, DAY, start]

    @staticmethod
    def _thread_refusal(limits: CommentLimits, reset: int) -> RateLimited:
        count = limits.new_threads_per_day
        state = RateState("new threads", count, DAY, 0, reset)
        return RateLimited(
            f"Your network has started comments on {count} new articles today; try again in {reset} s.", rate=state
        )

    def _idempotency_key(self, thread_id: str, comment: NewComment) -> str:
        return self.keys.idempotency(thread_id, comment.idempotency_digest or "-")

    def _duplicate_key(self, thread_id: str, comment: NewComment) -> str:
        return self.keys.duplicate(thread_id, f"{comment.ip_digest}.{comment.text_digest}")

    def _rate_counters(self, comment: NewComment, now: float, limits: CommentLimits) -> tuple[list[str], list[Any]]:
        """The client's counter of each comment limit (the hourly signal last), and each
        limit's count, window and window start."""
        counters: list[str] = []
        args: list[Any] = []
        for limit in (*limits.rates, HOURLY_SUBMISSIONS):
            start = limit.window_start(now)
            counters.append(self.keys.comment_rate(comment.ip_digest, limit.window, start))
            args += [limit.count, limit.window, start]
        return counters, args

    @staticmethod
    def _refusal(limits: CommentLimits, index: int, reset: int) -> RateLimited:
        refused = limits.rates[index - 1]
        state = RateState("comments", refused.count, refused.window, 0, reset)
        return RateLimited(f"Too many comments from your network; try again in {reset} s.", rate=state)

    @staticmethod
    def _rate_state(limits: CommentLimits, remaining: int, reset: int) -> RateState:
        closest = min(limits.rates, key=lambda rate: rate.count)
        return RateState("comments", closest.count, closest.window, int(remaining), int(reset))

    def _check_repeat_and_count(
        self, thread_id: str, comment: NewComment, now: float, limits: CommentLimits
    ) -> tuple[Submission | None, RateState | None, int]:
        """Redis Cluster: look for the comment this one repeats and count it against every
        per-IP limit, in one round trip: the repeat check is in the thread's slot, the
        limits in the client's.

        A repeat is answered with what it repeats and gives back the hit it was counted
        for, so a retry never uses up a reader's limit; otherwise the limits decide
        (RateLimited). Returns (the repeated submission or None, the rate state, the
        client's submissions this hour).
        """
        guards = [self._idempotency_key(thread_id, comment), self._duplicate_key(thread_id, comment)]
        guard_args = [repr(now), self._idempotency_ttl(comment, limits), limits.duplicate_window]
        counters, limit_args = self._rate_counters(comment, now, limits)
        earlier, counted = self.scripts.run_together(
            (self.scripts.find_repeat, guards, guard_args),
            (self.scripts.count_rate_limits, counters, [repr(now), *limit_args]),
        )
        if earlier:
            if counted[0] == 1:
                with self.redis.pipeline(transaction=False) as pipe:
                    for counter in counters:
                        pipe.decr(counter)
                    pipe.execute()
            return self._existing(thread_id, earlier.decode()), None, 0
        if counted[0] == 0:
            raise self._refusal(limits, counted[1], counted[2])
        _, remaining, reset, hour_hits = counted
        return None, self._rate_state(limits, remaining, reset), hour_hits

    @staticmethod
    def _idempotency_ttl(comment: NewComment, limits: CommentLimits) -> int:
        return limits.idempotency_ttl if comment.idempotency_digest else 0

    def _existing(self, thread_id: str, key: str) -> Submission:
        """The answer to a repeat; on Redis Cluster a repeat of a comment still marked "to
        index" (its first submission died between the two steps) indexes it at once."""
        if self.scripts.on_one_node:
            status = self.redis.hget(self.keys.comment(thread_id, key), "status")
        else:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(self.keys.comment(thread_id, key), "status")
                pipe.hget(self.keys.index_marker(thread_id), key)
                status, mark = pipe.execute()
            if mark is not None:
                self.repair_index(thread_id, {key: mark.decode()})
        # The reader who retries learns whether the comment is published, never that a
        # moderator rejected, marked or removed it: to them it still awaits moderation.
        shown = "approved" if status == b"approved" else "pending"
        return Submission(id=comment_id(thread_id, key), status=shown, created=False)

    def _index_new(self, thread_id: str, new_id: str, comment: NewComment, status: str, now: float) -> None:
        """Redis Cluster: the site-wide indexes of a new comment: queue, surge, same-text and email."""
        surge = self.keys.surge(int(now // 3600), shard_of(thread_id))
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.queue_of(thread_id, status), {new_id: queue_score(now)})
            pipe.incr(surge)
            pipe.expire(surge, SURGE_COUNTER_TTL)
            pipe.incr(self.keys.text_seen(comment.text_digest))
            pipe.expire(self.keys.text_seen(comment.text_digest), TEXT_SEEN_TTL)
            if comment.email_digest:
                pipe.sadd(self.keys.email_comments(comment.email_digest), new_id)
            pipe.execute()

    # -- keeping the site-wide indexes complete ----------------------------------------

    def clear_index_marks(self, thread_id: str, marks: Mapping[str, str]) -> None:
        """Clear "to index" marks whose indexes are written, unless a later write re-marked one;
        first the queue's replicas confirm its entries, so a failover cannot lose one unmarked."""
        if marks:
            self.scripts.replicated.confirm(self.keys.queue_probe(shard_of(thread_id)))
            self.scripts.clear_index_marker(
                keys=[self.keys.index_marker(thread_id)], args=[item for pair in marks.items() for item in pair]
            )

    def index_marks(self, thread_id: str) -> dict[str, str]:
        """Redis Cluster: the thread's comments marked "to index": key -> "<time> <email digest>"."""
        return {
            key.decode(): mark.decode() for key, mark in self.redis.hgetall(self.keys.index_marker(thread_id)).items()
        }

    def repair_index(self, thread_id: str, marks: Mapping[str, str]) -> None:
        """Put marked comments where they belong in the site-wide queue and email index, as their
        thread says now, then clear their marks.

        The queue and the email index are sets, so writing them again is harmless; the
        surge and same-text counters are not replayed (a lost step may or may not have
        counted them, and they are signals), nor is the site-wide log (the thread's log
        holds every decision).
        """
        keys = list(marks)
        found = {comment.id: comment for comment in self.load([comment_id(thread_id, key) for key in keys])}
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                the_id = comment_id(thread_id, key)
                comment = found.get(the_id)
                for status in STATUSES:
                    if comment is None or status != comment.status:
                        pipe.zrem(self.keys.queue_of(thread_id, status), the_id)
                marked_digest = marks[key].partition(" ")[2]
                if comment is not None:
                    pipe.zadd(self.keys.queue_of(thread_id, comment.status), {the_id: queue_score(comment.created_at)})
                    if comment.email_digest:
                        pipe.sadd(self.keys.email_comments(comment.email_digest), the_id)
                elif marked_digest:
                    pipe.srem(self.keys.email_comments(marked_digest), the_id)
            pipe.execute()
        self.clear_index_marks(thread_id, marks)

    # -- a reader's own comment ------------------------------------------------------

    @translate_errors
    def edit(
        self,
        the_id: str,
        *,
        edit_digest: str,
        body: str,
        text_digest: str,
        links: int,
        republish: bool,
        now: float,
        window: int,
    ) -> Edited:
        """Replace a comment's body if ``edit_digest`` is the one stored with it and the window
        is open; a published comment returns to pending unless ``republish``.

        Raises CommentNotFound, EditRefused or EditWindowClosed."""
        thread_id, key = split_comment_id(the_id)
        thread_keys = [
            self.keys.comment(thread_id, key),
            self.keys.thread_status(thread_id, "pending"),
            self.keys.thread_status(thread_id, "approved"),
        ]
        if self.scripts.on_one_node:
            keys = [*thread_keys, self.keys.queue_of(thread_id, "pending"), self.keys.queue_of(thread_id, "approved")]
        else:
            self.redis.zadd(self.keys.marked_threads(), {thread_id: now})
            keys = [*thread_keys, self.keys.index_marker(thread_id)]
        reply = self.scripts.replicated.run(
            self.scripts.edit_comment,
            keys=keys,
            args=[
                key,
                edit_digest,
                repr(now),
                window,
                body,
                text_digest,
                links,
                "" if republish else "pending",
                "one_node" if self.scripts.on_one_node else "cluster",
                the_id,
            ],
        )
        outcome = reply[0].decode()
        if outcome == "not_found":
            raise CommentNotFound(the_id)
        if outcome == "forbidden":
            raise EditRefused()
        if outcome == "closed":
            raise EditWindowClosed()
        status, previous, email_digest = (value.decode() for value in reply[1:4])
        if status != previous and not self.scripts.on_one_node:
            self.repair_index(thread_id, {key: f"{now!r} {email_digest}"})
        if "approved" in (status, previous):
            self.published_changed([thread_id])
        return Edited(the_id, status, previous)

    # -- reading --------------------------------------------------------------------

    @translate_errors
    def approved(self, thread_id: str, *, limit: int, cursor: str | None, newest_first: bool = False) -> Page:
        """Approved comments of a thread, oldest (or newest) first; ``extra["count"]`` is how many there are."""
        ids, next_cursor, count = self.page_of_thread(thread_id, "approved", limit, cursor, newest_first=newest_first)
        return Page(self.load(ids, with_votes=True), next_cursor, {"count": count})

    def page_of_thread(
        self, thread_id: str, status: str, limit: int, cursor: str | None, *, newest_first: bool = False
    ) -> tuple[list[str], str | None, int]:
        """Ids of a thread's comments of one status past ``cursor`` (a sequence number), the next
        cursor, and how many the status holds, in one round trip."""
        status_key = self.keys.thread_status(thread_id, status)
        with self.redis.pipeline(transaction=False) as pipe:
            if newest_first:
                before = f"({int(cursor)}" if cursor else "+inf"
                pipe.zrange(
                    status_key, before, "-inf", desc=True, byscore=True, offset=0, num=limit + 1, withscores=True
                )
            else:
                after = int(cursor.split(":", 1)[0]) if cursor else 0
                pipe.zrange(status_key, f"({after}", "+inf", byscore=True, offset=0, num=limit + 1, withscores=True)
            pipe.zcard(status_key)
            rows, count = pipe.execute()
        ids = [comment_id(thread_id, member.decode()) for member, _ in rows[:limit]]
        return ids, str(int(rows[limit - 1][1])) if len(rows) > limit else None, count

    @translate_errors
    def approved_counts(self, thread_ids: Sequence[str]) -> dict[str, int]:
        """How many approved comments each thread has, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                pipe.zcard(self.keys.thread_status(thread_id, "approved"))
            return dict(zip(thread_ids, pipe.execute(), strict=False))

    @translate_errors
    def get(self, comment_id: str) -> Comment | None:
        """One comment of any status, with its author's vote and its signals; None when there is none."""
        found = self.load([comment_id], with_votes=True, with_signals=True)
        return found[0] if found else None

    @translate_errors
    def by_email(self, email_digest: str) -> list[Comment]:
        """Every stored comment submitted with the address whose digest is given."""
        ids = sorted(member.decode() for member in self.redis.smembers(self.keys.email_comments(email_digest)))
        return self.load(ids)

    @translate_errors
    def forget_missing_by_email(self, email_digest: str) -> None:
        """Drop email index entries whose comment no longer exists."""
        index = self.keys.email_comments(email_digest)
        listed = [member.decode() for member in self.redis.smembers(index)]
        existing = {comment.id for comment in self.load(listed)}
        missing = [listed_id for listed_id in listed if listed_id not in existing]
        if missing:
            self.redis.srem(index, *missing)

    def load(
        self, comment_ids: Sequence[str], *, with_votes: bool = False, with_signals: bool = False
    ) -> list[Comment]:
        """Comments by id, of any threads, in that order; missing ones are left out."""
        if not comment_ids:
            return []
        addresses = [split_comment_id(one_id) for one_id in comment_ids]
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id, key in addresses:
                pipe.hgetall(self.keys.comment(thread_id, key))
            rows = pipe.execute()
        comments = [_comment(thread_id, key, row) for (thread_id, key), row in zip(addresses, rows, strict=True) if row]
        return self._decorate(comments, with_votes=with_votes, with_signals=with_signals)

    def _decorate(self, comments: list[Comment], *, with_votes: bool, with_signals: bool) -> list[Comment]:
        """Add each author's live vote on the thread's poll and the same-text count."""
        if not comments or not (with_votes or with_signals):
            return comments
        guesses: list[VoterAddress] = []
        with self.redis.pipeline(transaction=False) as pipe:
            for comment in comments:
                if with_votes and comment.voter:
                    guesses.append(self.voter_reads.queue(pipe, comment.thread_id, comment.voter))
                if with_signals:
                    pipe.get(self.keys.text_seen(comment.text_digest))
            answers = iter(pipe.execute())
        guessed = iter(guesses)
        decorated = []
        for comment in comments:
            vote = same_text = None
            if with_votes and comment.voter:
                layout, code = next(answers), next(answers)
                vote = choice_of(
                    self.voter_reads.resolve(comment.thread_id, comment.voter, next(guessed), layout, code)
                )
            if with_signals:
                same_text = int(next(answers) or 0)
            decorated.append(replace(comment, vote=vote, same_text_count=max(0, (same_text or 1) - 1)))
        return decorated


def _comment(thread_id: str, key: str, row: dict[bytes, bytes]) -> Comment:
    value = {name.decode(): data for name, data in row.items()}

    def field_text(name: str) -> str | None:
        return text(value.get(name)) or None

    return Comment(
        id=comment_id(thread_id, key),
        thread_id=thread_id,
        status=field_text("status") or "pending",
        seq=int(value["seq"]),
        author=field_text("author") or "",
        body=field_text("body") or "",
        created_at=float(value["created_at"]),
        email=field_text("email"),
        website=field_text("website"),
        parent_id=field_text("parent_id"),
        ip_digest=field_text("ip_digest") or "",
        user_agent=field_text("user_agent") or "",
        voter=value.get("voter") or None,
        links=int(value.get("links") or 0),
        text_digest=field_text("text_digest") or "",
        recent_from_ip=int(value.get("recent_from_ip") or 0),
        surge=value.get("surge") == b"1",
        decided_by=field_text("decided_by"),
        decided_at=float(value["decided_at"]) if value.get("decided_at") else None,
        reason=field_text("reason"),
        email_digest=field_text("email_digest") or "",
        edited_at=float(value["edited_at"]) if value.get("edited_at") else None,
        edit_digest=field_text("edit_digest") or "",
        held_reason=field_text("held_reason") or "",
    )
