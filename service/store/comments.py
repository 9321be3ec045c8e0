"""Comments, their threads, the moderation queue and the audit log.

Each write runs one script in the thread's slot; the site-wide indexes (queue, log,
surge, text and email indexes) follow outside it, as ``keys.py`` explains.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field, replace

from service.errors import CommentNotFound, DecisionConflict, InvalidParent, RateLimited, ThreadLimitReached
from service.ratelimit import RateState
from service.store.cache import ReadCache
from service.store.connection import translate_errors
from service.store.keys import Keys
from service.store.polls import choice_of
from service.store.scripts import Scripts

STATUSES = ("pending", "approved", "rejected", "spam")
TEXT_SEEN_TTL = 30 * 86400
# Comments fetched per extra round trip when many queue entries share one timestamp.
_PAGE_SLACK = 50


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


@dataclass(frozen=True)
class CommentLimits:
    """Bounds on submissions: per-IP rates, the thread ceiling, the surge level."""

    rates: tuple  # of service.ratelimit.RateLimit
    max_threads: int
    surge_per_hour: int
    duplicate_window: int
    idempotency_ttl: int


@dataclass(frozen=True)
class Submission:
    id: str
    status: str
    created: bool
    rate: RateState | None = None


@dataclass(frozen=True)
class Decision:
    id: str
    action: str
    status: str
    previous: str
    moderator: str
    at: float
    log_id: str = ""


@dataclass(frozen=True)
class LogEntry:
    id: str
    comment_id: str
    action: str
    previous: str
    moderator: str
    reason: str
    at: float


@dataclass
class Page:
    items: list
    next_cursor: str | None
    extra: dict = field(default_factory=dict)


def queue_score(submitted_at: float) -> int:
    """A comment's place in the site-wide queue: its submission time in microseconds."""
    return int(submitted_at * 1_000_000)


def split_comment_id(comment_id: str) -> tuple[str, str]:
    """``"mini-backpacks.k3x9a2mq"`` -> thread id and comment key."""
    thread_id, _, key = comment_id.rpartition(".")
    return thread_id, key


def _text(value) -> str | None:
    return value.decode() if value is not None else None


class CommentStore:
    """Reads and writes comments; every method takes the current time as ``now`` where it matters."""

    def __init__(self, redis, keys: Keys, scripts: Scripts, read_cache: ReadCache):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.read_cache = read_cache
        self._registered_threads: set[str] = set()

    def _published_changed(self, thread_ids) -> None:
        """Tell every process (and this one at once) that these threads' public pages changed."""
        for thread_id in set(thread_ids):
            self.redis.publish(self.keys.change_channel(), thread_id)
            self.read_cache.changed(thread_id)

    # -- submitting -----------------------------------------------------------------

    @translate_errors
    def submit(self, thread_id: str, comment: NewComment, *, status: str, now: float,
               limits: CommentLimits) -> Submission:
        """Store a reader's comment with ``status`` (pending or approved), unless it repeats one.

        A repeat (same Idempotency-Key, or the same text from the same client within the
        duplicate window) answers with the stored comment and creates nothing. Raises
        RateLimited, ThreadLimitReached or InvalidParent.
        """
        repeat, rate, recent_from_ip = self._check_repeat_and_count(thread_id, comment, now, limits)
        if repeat:
            return repeat
        self._register_thread(thread_id, now, limits)

        key = base64.b32encode(os.urandom(5)).decode().lower()
        parent_key = split_comment_id(comment.parent_id)[1] if comment.parent_id else ""
        fields = {
            "author": comment.author, "body": comment.body, "email": comment.email or "",
            "website": comment.website or "", "parent_id": comment.parent_id or "",
            "voter": comment.voter or b"", "ip_digest": comment.ip_digest,
            "user_agent": comment.user_agent, "text_digest": comment.text_digest,
            "email_digest": comment.email_digest or "", "links": comment.links,
            "recent_from_ip": recent_from_ip,
        }
        reply = self.scripts.submit_comment(
            keys=[self.keys.comment(thread_id, key), self.keys.thread_seq(thread_id),
                  self.keys.thread_status(thread_id, status), self.keys.thread_status(thread_id, "approved"),
                  self._idempotency_key(thread_id, comment), self._duplicate_key(thread_id, comment)],
            args=[key, status, repr(now), parent_key, self._idempotency_ttl(comment, limits),
                  limits.duplicate_window, *[item for pair in fields.items() for item in pair]],
        )
        outcome = reply[0].decode()
        if outcome == "bad_parent":
            raise InvalidParent(comment.parent_id)
        if outcome == "existing":
            return self._existing(thread_id, reply[1].decode())
        comment_id = f"{thread_id}.{key}"
        self._index_new(thread_id, key, comment_id, comment, status, now, limits)
        if status == "approved":
            self._published_changed([thread_id])
        return Submission(id=comment_id, status=status, created=True, rate=rate)

    def _register_thread(self, thread_id: str, now: float, limits: CommentLimits) -> None:
        """Admit the thread under the MAX_THREADS ceiling; a thread is never unregistered,
        so each process asks Redis once per thread, not once per comment."""
        if thread_id in self._registered_threads:
            return
        if not self.scripts.register(keys=[self.keys.thread_registry()],
                                     args=[thread_id, repr(now), limits.max_threads]):
            raise ThreadLimitReached("This site takes no comments on new articles right now.")
        if len(self._registered_threads) >= 100_000:
            self._registered_threads.clear()
        self._registered_threads.add(thread_id)

    def _idempotency_key(self, thread_id: str, comment: NewComment) -> str:
        return self.keys.idempotency(thread_id, comment.idempotency_digest or "-")

    def _duplicate_key(self, thread_id: str, comment: NewComment) -> str:
        return self.keys.duplicate(thread_id, f"{comment.ip_digest}.{comment.text_digest}")

    def _check_repeat_and_count(self, thread_id: str, comment: NewComment, now: float,
                                limits: CommentLimits) -> tuple[Submission | None, RateState | None, int]:
        """Look for the comment this one repeats and count it against every per-IP limit, in
        one round trip: the repeat check is in the thread's slot, the limits in the client's.

        A repeat is answered with what it repeats and gives back the hit it was counted
        for, so a retry never uses up a reader's limit; otherwise the limits decide
        (RateLimited). Returns (the repeated submission or None, the rate state, the
        client's submissions this hour).
        """
        guards = [self._idempotency_key(thread_id, comment), self._duplicate_key(thread_id, comment)]
        guard_args = [repr(now), self._idempotency_ttl(comment, limits), limits.duplicate_window]
        windows = [(rate.count, rate.window) for rate in limits.rates] + [(2**31, 3600)]
        counters, counter_args = [], [repr(now)]
        for count, window in windows:
            start = int(now // window) * window
            counters.append(self.keys.comment_rate(comment.ip_digest, window, start))
            counter_args += [count, window, start]
        earlier, counted = self.scripts.run_together((self.scripts.find_repeat, guards, guard_args),
                                                     (self.scripts.rate_limit, counters, counter_args))
        if earlier:
            if counted[0] == 1:
                with self.redis.pipeline(transaction=False) as pipe:
                    for counter in counters:
                        pipe.decr(counter)
                    pipe.execute()
            return self._existing(thread_id, earlier.decode()), None, 0
        if counted[0] == 0:
            refused = limits.rates[counted[1] - 1]
            state = RateState("comments", refused.count, refused.window, 0, int(counted[2]))
            raise RateLimited(f"Too many comments from your network; try again in {counted[2]} s.", rate=state)
        _, remaining, reset, hour_hits = counted
        closest = min(limits.rates, key=lambda rate: rate.count)
        return None, RateState("comments", closest.count, closest.window, remaining, reset), hour_hits

    @staticmethod
    def _idempotency_ttl(comment: NewComment, limits: CommentLimits) -> int:
        return limits.idempotency_ttl if comment.idempotency_digest else 0

    def _existing(self, thread_id: str, key: str) -> Submission:
        status = self.redis.hget(self.keys.comment(thread_id, key), "status")
        # A removed comment is not revealed as removed to the reader who retries it.
        return Submission(id=f"{thread_id}.{key}", status=_text(status) or "pending", created=False)

    def _index_new(self, thread_id, key, comment_id, comment: NewComment, status, now, limits) -> None:
        """The site-wide indexes of a new comment: queue, surge, same-text and email."""
        hour = int(now // 3600)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.queue(status), {comment_id: queue_score(now)})
            pipe.incr(self.keys.surge(hour))
            pipe.expire(self.keys.surge(hour), 7200)
            pipe.incr(self.keys.text_seen(comment.text_digest))
            pipe.expire(self.keys.text_seen(comment.text_digest), TEXT_SEEN_TTL)
            if comment.email_digest:
                pipe.sadd(self.keys.email_comments(comment.email_digest), comment_id)
            _, submitted_this_hour, *_ = pipe.execute()
        if status == "pending" and submitted_this_hour > limits.surge_per_hour:
            self.redis.hset(self.keys.comment(thread_id, key), "surge", 1)

    # -- reading --------------------------------------------------------------------

    @translate_errors
    def approved(self, thread_id: str, *, limit: int, cursor: str | None) -> Page:
        """Approved comments of a thread, oldest first; ``extra["count"]`` is how many there are."""
        ids, next_cursor, count = self._page_thread(thread_id, "approved", limit, cursor)
        return Page(self._load(ids, with_votes=True), next_cursor, {"count": count})

    def _page_thread(self, thread_id: str, status: str, limit: int,
                     cursor: str | None) -> tuple[list[str], str | None, int]:
        """Ids of a thread's comments of one status after ``cursor`` (a sequence number), the next
        cursor, and how many the status holds, in one round trip."""
        after = int(cursor.split(":", 1)[0]) if cursor else 0
        status_key = self.keys.thread_status(thread_id, status)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(status_key, f"({after}", "+inf", byscore=True, offset=0, num=limit + 1, withscores=True)
            pipe.zcard(status_key)
            rows, count = pipe.execute()
        ids = [f"{thread_id}.{member.decode()}" for member, _ in rows[:limit]]
        return ids, str(int(rows[limit - 1][1])) if len(rows) > limit else None, count

    @translate_errors
    def approved_counts(self, thread_ids: list[str]) -> dict[str, int]:
        """How many approved comments each thread has, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                pipe.zcard(self.keys.thread_status(thread_id, "approved"))
            return dict(zip(thread_ids, pipe.execute(), strict=False))

    @translate_errors
    def get(self, comment_id: str) -> Comment | None:
        found = self._load([comment_id], with_votes=True, with_signals=True)
        return found[0] if found else None

    def _load(self, comment_ids: list[str], *, with_votes: bool = False,
              with_signals: bool = False) -> list[Comment]:
        """Comments by id, of any threads, in that order; missing ones are left out."""
        if not comment_ids:
            return []
        addresses = [split_comment_id(comment_id) for comment_id in comment_ids]
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id, key in addresses:
                pipe.hgetall(self.keys.comment(thread_id, key))
            rows = pipe.execute()
        comments = [_comment(thread_id, key, row) for (thread_id, key), row in zip(addresses, rows, strict=True)
                    if row]
        return self._decorate(comments, with_votes=with_votes, with_signals=with_signals)

    def _decorate(self, comments: list[Comment], *, with_votes: bool, with_signals: bool) -> list[Comment]:
        """Add each author's live vote on the thread's poll and the same-text count."""
        if not comments or not (with_votes or with_signals):
            return comments
        with self.redis.pipeline(transaction=False) as pipe:
            for comment in comments:
                if with_votes and comment.voter:
                    pipe.hget(*self.keys.voter_record(comment.thread_id, comment.voter))
                if with_signals:
                    pipe.get(self.keys.text_seen(comment.text_digest))
            answers = iter(pipe.execute())
        decorated = []
        for comment in comments:
            vote = same_text = None
            if with_votes and comment.voter:
                vote = choice_of(next(answers))
            if with_signals:
                same_text = int(next(answers) or 0)
            decorated.append(replace(comment, vote=vote, same_text_count=max(0, (same_text or 1) - 1)))
        return decorated

    # -- moderation -----------------------------------------------------------------

    @translate_errors
    def queue(self, status: str, *, thread_id: str | None, limit: int, cursor: str | None) -> Page:
        """Comments of one status, oldest first, across threads or in one thread."""
        if thread_id:
            ids, next_cursor, _ = self._page_thread(thread_id, status, limit, cursor)
            return Page(self._load(ids, with_votes=True, with_signals=True), next_cursor)

        entries, next_cursor = self._page_queue(status, limit, cursor)
        loaded = {comment.id: comment for comment in self._load(entries, with_votes=True, with_signals=True)}
        comments = []
        for comment_id in entries:
            comment = loaded.get(comment_id)
            if comment is not None and comment.status == status:
                comments.append(comment)
            else:
                self._repair_queue_entry(comment_id, status, comment)
        return Page(comments, next_cursor)

    def _page_queue(self, status: str, limit: int, cursor: str | None) -> tuple[list[str], str | None]:
        """Queue ids after ``cursor`` ("<score>:<id>"), ties on the score broken by id."""
        key = self.keys.queue(status)
        after_score, after_id = None, ""
        if cursor:
            score, _, after_id = cursor.partition(":")
            after_score = int(score)
        low = after_score if after_score is not None else "-inf"
        picked, offset = [], 0
        while len(picked) <= limit:
            rows = self.redis.zrange(key, low, "+inf", byscore=True, offset=offset,
                                     num=limit + 1 + _PAGE_SLACK, withscores=True)
            for member, score in rows:
                member = member.decode()
                if after_score is None or score > after_score or member > after_id:
                    picked.append((member, int(score)))
            if len(rows) < limit + 1 + _PAGE_SLACK:
                break
            offset += len(rows)
        next_cursor = f"{picked[limit - 1][1]}:{picked[limit - 1][0]}" if len(picked) > limit else None
        return [member for member, _ in picked[:limit]], next_cursor

    def _repair_queue_entry(self, comment_id: str, listed_as: str, comment: Comment | None) -> None:
        """Fix a site-wide queue entry left stale by a crash between a script and its index."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self.keys.queue(listed_as), comment_id)
            if comment is not None:
                pipe.zadd(self.keys.queue(comment.status), {comment_id: queue_score(comment.created_at)})
            pipe.execute()

    @translate_errors
    def surge(self, now: float, ceiling: int) -> dict:
        """Comments submitted site-wide this hour against the surge ceiling."""
        this_hour = int(self.redis.get(self.keys.surge(int(now // 3600))) or 0)
        return {"active": this_hour > ceiling, "this_hour": this_hour, "ceiling": ceiling}

    @translate_errors
    def decide(self, comment_id: str, action: str, *, moderator: str, now: float,
               reason: str = "", seen: str | None = None) -> Decision:
        """Apply ``action`` to a comment still in status ``seen`` (default pending).

        Raises CommentNotFound, or DecisionConflict naming the decision that stands.
        """
        return self._decide_many([(comment_id, action, reason, seen)], moderator=moderator, now=now)[0]

    @translate_errors
    def decide_many(self, decisions: list[tuple], *, moderator: str, now: float) -> list:
        """Like ``decide`` for (id, action, reason, seen) tuples; each result is a Decision or the error."""
        return self._decide_many(decisions, moderator=moderator, now=now, raise_errors=False)

    def _decide_many(self, decisions, *, moderator: str, now: float, raise_errors: bool = True) -> list:
        results, decided = [], []
        for comment_id, action, reason, seen in decisions:
            thread_id, key = split_comment_id(comment_id)
            # One script call each: scripts in a cluster pipeline are not reliably loaded.
            reply = self.scripts.decide(
                keys=[self.keys.comment(thread_id, key),
                      *(self.keys.thread_status(thread_id, status) for status in STATUSES),
                      self.keys.thread_log(thread_id)],
                args=[key, action, seen or "", moderator, reason or "", repr(now)])
            result = self._decision_result(comment_id, action, reason, moderator, now, reply)
            if isinstance(result, Exception) and raise_errors:
                raise result
            if isinstance(result, tuple):
                decided.append(result)
                result = result[0]
            results.append(result)
        if decided:
            self._index_decisions(decided)
            self._published_changed(split_comment_id(decision.id)[0] for decision, *_ in decided
                                    if "approved" in (decision.previous, decision.status))
        return results

    def _decision_result(self, comment_id, action, reason, moderator, now, reply):
        outcome = reply[0].decode()
        if outcome == "not_found":
            return CommentNotFound(comment_id)
        if outcome == "conflict":
            status, by, at, standing_reason = (_text(value) for value in reply[1:5])
            return DecisionConflict(comment_id, status=status, decided_by=by or None,
                                    decided_at=float(at) if at else None, reason=standing_reason or None)
        new_status, previous, created_at, email_digest, log_id = (_text(value) for value in reply[1:6])
        decision = Decision(id=comment_id, action=action, status=new_status, previous=previous,
                            moderator=moderator, at=now, log_id=log_id)
        return decision, float(created_at), email_digest, reason

    def _index_decisions(self, decided: list[tuple]) -> None:
        """Move each decided comment in the site-wide queue and append to the site-wide log."""
        with self.redis.pipeline(transaction=False) as pipe:
            for decision, created_at, email_digest, reason in decided:
                pipe.zrem(self.keys.queue(decision.previous), decision.id)
                if decision.status == "deleted":
                    if email_digest:
                        pipe.srem(self.keys.email_comments(email_digest), decision.id)
                else:
                    pipe.zadd(self.keys.queue(decision.status), {decision.id: queue_score(created_at)})
                pipe.xadd(self.keys.moderation_log(), {
                    "comment": decision.id, "action": decision.action, "from": decision.previous,
                    "moderator": decision.moderator, "reason": reason or "", "at": repr(decision.at)})
            pipe.execute()

    @translate_errors
    def log(self, *, limit: int, cursor: str | None) -> Page:
        """Decisions across threads, newest first; the cursor is the last entry id seen."""
        if cursor and set(cursor) <= {"0", "-"}:
            return Page([], None)  # nothing comes before 0-0, and Redis refuses "(0-0"
        rows = self.redis.xrevrange(self.keys.moderation_log(), max=f"({cursor}" if cursor else "+",
                                    min="-", count=limit + 1)
        entries = [LogEntry(id=entry_id.decode(), comment_id=_text(data[b"comment"]), action=_text(data[b"action"]),
                            previous=_text(data[b"from"]), moderator=_text(data[b"moderator"]),
                            reason=_text(data[b"reason"]), at=float(data[b"at"]))
                   for entry_id, data in rows[:limit]]
        return Page(entries, entries[-1].id if len(rows) > limit else None)

    # -- privacy --------------------------------------------------------------------

    @translate_errors
    def by_email(self, email_digest: str) -> list[Comment]:
        """Every stored comment submitted with the address whose digest is given."""
        ids = sorted(member.decode() for member in self.redis.smembers(self.keys.email_comments(email_digest)))
        return self._load(ids)

    @translate_errors
    def delete_by_email(self, email_digest: str, *, moderator: str, now: float) -> int:
        """Remove every comment submitted with that address, public copies included; return how many.

        Deletes whatever status each comment has by then, and looks again until none is left,
        so a decision or a submission racing the erasure cannot leave one behind.
        """
        removed = 0
        for _ in range(5):
            comments = self.by_email(email_digest)
            if not comments:
                break
            results = self._decide_many([(comment.id, "delete", "privacy request", "*") for comment in comments],
                                        moderator=moderator, now=now, raise_errors=False)
            removed += sum(1 for result in results if isinstance(result, Decision))
        self._forget_missing(email_digest)
        return removed

    def _forget_missing(self, email_digest: str) -> None:
        """Drop index entries whose comment no longer exists."""
        index = self.keys.email_comments(email_digest)
        listed = [member.decode() for member in self.redis.smembers(index)]
        existing = {comment.id for comment in self.by_email(email_digest)}
        missing = [comment_id for comment_id in listed if comment_id not in existing]
        if missing:
            self.redis.srem(index, *missing)

def _comment(thread_id: str, key: str, row: dict) -> Comment:
    value = {name.decode(): data for name, data in row.items()}

    def text(name):
        return _text(value.get(name)) or None

    return Comment(
        id=f"{thread_id}.{key}", thread_id=thread_id, status=text("status"), seq=int(value["seq"]),
        author=text("author") or "", body=text("body") or "", created_at=float(value["created_at"]),
        email=text("email"), website=text("website"), parent_id=text("parent_id"),
        ip_digest=text("ip_digest") or "", user_agent=text("user_agent") or "", voter=value.get("voter") or None,
        links=int(value.get("links") or 0), text_digest=text("text_digest") or "",
        recent_from_ip=int(value.get("recent_from_ip") or 0), surge=value.get("surge") == b"1",
        decided_by=text("decided_by"), decided_at=float(value["decided_at"]) if value.get("decided_at") else None,
        reason=text("reason"),
    )
