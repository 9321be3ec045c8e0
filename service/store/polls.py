"""Polls, their tallies and their voters' records."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from service.errors import (
    PollClosed,
    PollLimitReached,
    PollNotFound,
    RateLimited,
    VoteChangeNotAllowed,
)
from service.ratelimit import RateLimit, RateState
from service.store.cache import ReadCache
from service.store.connection import translate_errors
from service.store.keys import Keys
from service.store.scripts import Scripts
from service.store.shards import every_member, registry_page
from service.store.spam import INTEGRITY_TTL, TOP_IPS_KEPT
from service.store.voters import (
    LAYOUT_FIELD,
    LEGACY,
    VOTERS_PER_BUCKET,
    Layouts,
    VoterReads,
    address,
    bucket_keys,
    buckets_for,
    layout_of,
    split_pair,
)

CHOICES = ("yay", "nay")
DAY = 86400
# A new-voter counter lives through its UTC day, plus an hour for clocks that disagree.
NEW_VOTER_COUNTER_TTL = DAY + 3600
# The auto-creation ceiling that counts nothing: MAX_POLLS = 0, polls bounded per client a day only.
NO_POLL_CEILING = 2**62
_CHOICE_CODES = {"yay": 1, "nay": 2}
log = logging.getLogger(__name__)
# Voter buckets one UNLINK (or one pipeline of HVALS) names: 16 round trips for 16,384.
BUCKET_BATCH = 1024
# New buckets a compaction names beyond what the tally it read needs, for the votes cast
# between that read and the script.
COMPACT_SLACK = 16
# Vote attempts while other votes keep splitting the poll under this one's layout; one
# split happens in the time of about VOTERS_PER_BUCKET votes, so a second try succeeds.
MOVED_RETRIES = 4
_POLL_FIELDS = ("question", "closes_at", "allow_change", "created_at", "yay", "nay", "version")


@dataclass(frozen=True)
class Poll:
    """A poll as stored: its settings and its tally."""

    id: str
    question: str
    yay: int = 0
    nay: int = 0
    closes_at: float | None = None
    allow_change: bool = True
    created_at: float | None = None
    # Counts tally changes: the id of live tally events.
    version: int = 0

    @property
    def total(self) -> int:
        return self.yay + self.nay

    @property
    def tally(self) -> dict[str, int]:
        return {"yay": self.yay, "nay": self.nay, "total": self.total}

    def state(self, now: float) -> str:
        """``"closed"`` once ``closes_at`` has passed, else ``"open"``."""
        return "closed" if self.closes_at is not None and now >= self.closes_at else "open"

    @property
    def percent(self) -> dict[str, int]:
        """Whole percentages that add up to 100 (largest remainder), or 0 and 0 without votes."""
        if not self.total:
            return {"yay": 0, "nay": 0}
        yay = (200 * self.yay + self.total) // (2 * self.total)  # rounds half up
        return {"yay": yay, "nay": 100 - yay}


@dataclass(frozen=True)
class SavedPoll:
    """A poll as saved, whether the save created it, and whether it closed an open poll."""

    poll: Poll
    created: bool
    closed: bool


@dataclass(frozen=True)
class VoteResult:
    """What a vote did: the poll's new tally, the live choice, and whether it moved."""

    poll: Poll
    vote: str
    changed: bool
    rate: RateState | None = field(default=None)
    repeated: bool = False  # the voter's live vote was this choice already
    created: bool = False  # this vote created the poll (AUTO_CREATE_POLLS)


@dataclass(frozen=True)
class VoteLimits:
    """The abuse bounds a vote is checked against, per client IP and poll."""

    rate: RateLimit
    new_voters_per_day: int


class PollStore:
    """Reads and writes polls; every method takes the current time as ``now``."""

    def __init__(self, redis: Any, keys: Keys, scripts: Scripts, read_cache: ReadCache, layouts: Layouts):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.read_cache = read_cache
        self.layouts = layouts
        self.voter_reads = VoterReads(redis, keys, layouts)

    @translate_errors
    def ids(self) -> list[str]:
        """Every registered poll id, oldest first."""
        return [poll_id for poll_id, _ in every_member(self.redis, self.keys.poll_registries())]

    @translate_errors
    def save(
        self, poll_id: str, *, question: str, closes_at: float | None, allow_change: bool, now: float
    ) -> SavedPoll:
        """Create or update a poll's settings, keeping its tally: the poll, whether it is new,
        and whether this save closed it (it was open, and ``closes_at`` is past)."""
        self.redis.zadd(self.keys.poll_registry(poll_id), {poll_id: now}, nx=True)
        created, closed_before, *values = self.scripts.save_poll(
            keys=[self.keys.poll(poll_id)],
            args=[question, "" if closes_at is None else repr(closes_at), "1" if allow_change else "0", repr(now)],
        )
        self.schedule_closing(poll_id, closes_at, now)
        self._announce(poll_id)
        poll = _poll_from_fields(poll_id, values)
        assert poll is not None  # created_at was just set
        was_open = not created and not (closed_before and float(closed_before) <= now)
        return SavedPoll(poll, bool(created), was_open and poll.state(now) == "closed")

    @translate_errors
    def get(self, poll_id: str) -> Poll | None:
        """The poll, or None when there is none with that id."""
        return _poll_from_fields(poll_id, self.redis.hmget(self.keys.poll(poll_id), _POLL_FIELDS))

    @translate_errors
    def get_many(self, poll_ids: list[str]) -> list[Poll]:
        """The polls that exist among ``poll_ids``, in that order, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for poll_id in poll_ids:
                pipe.hmget(self.keys.poll(poll_id), _POLL_FIELDS)
            rows = pipe.execute()
        polls = (_poll_from_fields(poll_id, row) for poll_id, row in zip(poll_ids, rows, strict=False))
        return [poll for poll in polls if poll is not None]

    @translate_errors
    def page(self, *, cursor: str | None, limit: int) -> tuple[list[Poll], str | None, int]:
        """Polls newest first, ``limit`` of them past ``cursor``, the next page's cursor, and
        how many the registry holds. A registry entry without a poll (see ``keys.py``) is skipped."""
        rows, next_cursor, total = registry_page(self.redis, self.keys.poll_registries(), cursor=cursor, limit=limit)
        return self.get_many([poll_id for _, poll_id in rows]), next_cursor, total

    @translate_errors
    def set_closing(self, poll_id: str, closes_at: float | None) -> Poll | None:
        """Set (or with None clear) when the poll stops taking votes; None when there is no such poll."""
        return self._set_closing(poll_id, closes_at, "")[0]

    @translate_errors
    def close(self, poll_id: str, now: float) -> tuple[Poll | None, bool]:
        """Close the poll at ``now`` unless it is closed already (then it keeps its closing
        time); the poll (None when there is none) and whether this call closed it."""
        return self._set_closing(poll_id, now, repr(now))

    def _set_closing(self, poll_id: str, closes_at: float | None, closing_now: str) -> tuple[Poll | None, bool]:
        changed = self.scripts.set_poll_closing(
            keys=[self.keys.poll(poll_id)], args=["" if closes_at is None else repr(closes_at), closing_now]
        )
        if changed == 2:
            return self.get(poll_id), False
        if not changed:
            return None, False
        # Closed now (announced by the caller) or reopened with no closing time: nothing to sweep.
        self.redis.zrem(self.keys.closing_schedule(), poll_id)
        self._announce(poll_id)
        return self.get(poll_id), True

    @translate_errors
    def schedule_closing(self, poll_id: str, closes_at: float | None, now: float) -> None:
        """Keep a closing time still to come in the schedule; a past or no closing time leaves it.

        The schedule is in another slot than the poll, so a save or a close of the poll may
        land between the two: after adding a time, the poll's own is read again and, when it
        differs, put in its place (a poll closed meanwhile leaves the schedule). What is left
        is a race within that read, which the sweep heals when the time it meets is early.
        """
        if closes_at is not None and closes_at > now:
            self.redis.zadd(self.keys.closing_schedule(), {poll_id: closes_at})
            held = self.redis.hget(self.keys.poll(poll_id), "closes_at")
            if (float(held) if held else None) == closes_at:
                return
            closes_at = float(held) if held else None
            if closes_at is not None and closes_at > now:
                self.redis.zadd(self.keys.closing_schedule(), {poll_id: closes_at})
                return
        self.redis.zrem(self.keys.closing_schedule(), poll_id)

    @translate_errors
    def schedule_closings(self, now: float) -> int:
        """Put every poll whose closing time is still to come in the closing schedule (a
        restore writes polls without it); how many. One pass over the registries."""
        poll_ids = [poll_id for poll_id, _ in every_member(self.redis, self.keys.poll_registries())]
        scheduled = 0
        for start in range(0, len(poll_ids), BUCKET_BATCH):
            batch = poll_ids[start : start + BUCKET_BATCH]
            with self.redis.pipeline(transaction=False) as pipe:
                for poll_id in batch:
                    pipe.hget(self.keys.poll(poll_id), "closes_at")
                closing = {
                    poll_id: float(closes_at)
                    for poll_id, closes_at in zip(batch, pipe.execute(), strict=True)
                    if closes_at and float(closes_at) > now
                }
            if closing:
                self.redis.zadd(self.keys.closing_schedule(), closing)
                scheduled += len(closing)
        return scheduled

    @translate_errors
    def take_due_closings(self, now: float, limit: int) -> list[str]:
        """Ids of polls whose scheduled closing time has come, at most ``limit``, each taken
        out of the schedule so that no other sweep takes it again."""
        taken = self.scripts.take_due(keys=[self.keys.closing_schedule()], args=[repr(now), limit])
        return [poll_id.decode() for poll_id in taken]

    @translate_errors
    def delete(self, poll_id: str) -> bool:
        """Delete the poll, its voter records and its registry entry; False when there was no poll.

        The hash goes first, read in the same step, so votes are refused from then on and
        its layout names every voter bucket; the buckets follow with UNLINK (freed off
        Redis's main thread) in batches of BUCKET_BATCH. The rate counters are left to expire
        within the day: finding them would need a SCAN of the whole keyspace.
        """
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.poll(poll_id), LAYOUT_FIELD)
            pipe.unlink(self.keys.poll(poll_id))
            layout, unlinked = pipe.execute()
        existed = bool(unlinked)
        buckets = bucket_keys(self.keys, poll_id, layout_of(layout))
        for start in range(0, len(buckets), BUCKET_BATCH):
            # The buckets share the poll's hash tag, so one UNLINK may name a batch of them; not
            # pipelined, as redis-py refuses a multi-key UNLINK in a Redis Cluster pipeline.
            self.redis.unlink(*buckets[start : start + BUCKET_BATCH])
        self.layouts.forget(poll_id)
        existed = bool(self.redis.zrem(self.keys.poll_registry(poll_id), poll_id)) or existed
        self.redis.zrem(self.keys.closing_schedule(), poll_id)
        self._announce(poll_id)
        return existed

    def _announce(self, poll_id: str) -> None:
        """Every worker drops what it cached of the poll (and this one at once)."""
        self.redis.spublish(self.keys.change_channel(poll_id), poll_id)
        self.read_cache.changed(poll_id)

    @translate_errors
    def cast_vote(
        self,
        poll_id: str,
        *,
        voter: bytes,
        choice: str,
        ip: str,
        now: float,
        limits: VoteLimits,
        auto_create_up_to: int = 0,
        auto_create_per_ip_per_day: int = 0,
    ) -> VoteResult:
        """Record ``voter``'s live vote, moving it when the choice changes.

        ``voter`` is the voter's keyed digest and ``ip`` the client's keyed IP digest.
        With ``auto_create_up_to`` set, an unknown poll is created while fewer polls exist
        and while the client has created fewer than ``auto_create_per_ip_per_day`` today.
        Raises PollNotFound, PollClosed, VoteChangeNotAllowed, RateLimited or
        PollLimitReached.
        """
        rate = limits.rate
        window_start = rate.window_start(now)
        day = int(now // DAY)
        hour = int(now // 3600)
        keys = [
            self.keys.poll(poll_id),
            "",  # the voter's bucket, named from the layout (below)
            self.keys.vote_rate(poll_id, ip, window_start),
            self.keys.new_voters(poll_id, ip, day),
            self.keys.vote_integrity(poll_id, hour),
            self.keys.vote_ips(poll_id, hour),
            "",  # the bucket the next split divides
            "",  # the bucket it creates
        ]
        args: list[Any] = [
            b"",  # the voter's field
            _CHOICE_CODES[choice],
            repr(now),
            rate.count,
            rate.window,
            window_start,
            limits.new_voters_per_day,
            max(1, int((day + 1) * DAY - now)),
            0,
            self.keys.change_channel(poll_id),
            poll_id,
            NEW_VOTER_COUNTER_TTL,
            ip,
            int(now // 60),
            INTEGRITY_TTL,
            TOP_IPS_KEPT,
            0,  # the layout assumed
            0,  # the bucket number of the voter's bucket
            VOTERS_PER_BUCKET,
        ]
        reply = self._run_vote(poll_id, voter, self.layouts.get(poll_id), keys, args)
        if reply[0] == b"not_found" and auto_create_up_to:
            self._create_by_vote(poll_id, ip, now, auto_create_up_to, auto_create_per_ip_per_day)
            args[8] = 1
            reply = self._run_vote(poll_id, voter, self.layouts.get(poll_id), keys, args)
        if reply[0] == b"ok":
            self.layouts.saw(poll_id, int(reply[7]))
        result = _vote_result(poll_id, choice, reply, limits)
        # The script announced the change; this process need not wait for the message.
        self.read_cache.changed(poll_id)
        return result

    def _run_vote(self, poll_id: str, voter: bytes, layout: int, keys: list[str], args: list[Any]) -> list:
        """The vote script with the voter's bucket and the next split named from ``layout``,
        run again with the layout it answers while the poll's layout moved under the guess."""
        created = 0
        for _ in range(MOVED_RETRIES):
            where = address(self.keys, poll_id, voter, layout)
            keys[1], args[0], args[16], args[17] = where.key, where.field, layout, where.bucket
            if layout == LEGACY:
                keys[6] = keys[7] = where.key  # unused: legacy buckets never split
            else:
                keys[6], keys[7] = (self.keys.voter_bucket(poll_id, bucket) for bucket in split_pair(layout))
            reply = self.scripts.replicated_votes.run(self.scripts.cast_vote, keys=keys, args=args)
            if reply[0] != b"moved":
                if created and reply[0] == b"ok":
                    reply[-1] = 1  # an earlier try created the poll, then found its layout moved
                return reply
            created = created or int(reply[2])
            layout = int(reply[1])
            self.layouts.saw(poll_id, layout)
        raise RuntimeError(f"poll {poll_id}: its voter layout kept moving ({MOVED_RETRIES} tries)")

    def _create_by_vote(self, poll_id: str, ip: str, now: float, ceiling: int, per_ip_per_day: int) -> None:
        """Admit a poll a first vote creates: one of the client's polls for the day, then one
        under the site's ceiling (the day's hit is given back when the ceiling refuses).
        Raises RateLimited or PollLimitReached, each logged with the poll and the IP digest."""
        budget = RateLimit(per_ip_per_day, DAY)
        start = budget.window_start(now)
        counter = self.keys.auto_created_polls(ip, start)
        counted = self.scripts.count_rate_limits(keys=[counter], args=[repr(now), budget.count, budget.window, start])
        if counted[0] == 0:
            log.warning("poll %s not created by a vote: client %s created %d today", poll_id, ip, budget.count)
            state = RateState("poll creations", budget.count, budget.window, 0, int(counted[2]))
            raise RateLimited(
                f"Your network has created {budget.count} polls by voting today; this poll was not created.",
                rate=state,
            )
        if not self._admit(poll_id, now, ceiling):
            self.redis.decr(counter)
            log.warning("poll %s not created by a vote from client %s: MAX_POLLS (%d) reached", poll_id, ip, ceiling)
            raise PollLimitReached(
                f"This site holds as many polls as votes may create ({ceiling}); {poll_id} was not created."
            )

    def _admit(self, poll_id: str, now: float, ceiling: int) -> bool:
        """Register the poll in its registry shard unless it is new and ``ceiling`` polls exist
        (NO_POLL_CEILING: none is counted). The count sums every shard before the write, so
        creations racing at the ceiling may pass it by as many as race."""
        registry = self.keys.poll_registry(poll_id)
        if ceiling < NO_POLL_CEILING:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.zscore(registry, poll_id)
                for shard in self.keys.poll_registries():
                    pipe.zcard(shard)
                known, *counts = pipe.execute()
            if known is None and sum(counts) >= ceiling:
                return False
        self.redis.zadd(registry, {poll_id: now}, nx=True)
        return True

    @translate_errors
    def vote_of(self, poll_id: str, voter: bytes) -> str | None:
        """The live choice of the voter with this digest, or None."""
        return choice_of(self.voter_reads.read(poll_id, voter))

    @translate_errors
    def count_voter_records(self, poll_id: str) -> dict[str, int]:
        """Count the stored voter records by choice: the truth the tally must equal."""
        counts = {"yay": 0, "nay": 0}
        buckets = bucket_keys(self.keys, poll_id, layout_of(self.redis.hget(self.keys.poll(poll_id), LAYOUT_FIELD)))
        for start in range(0, len(buckets), BUCKET_BATCH):
            with self.redis.pipeline(transaction=False) as pipe:
                for bucket in buckets[start : start + BUCKET_BATCH]:
                    pipe.hvals(bucket)
                for values in pipe.execute():
                    for value in values:
                        counts[CHOICES[int(value) - 1]] += 1
        return counts

    @translate_errors
    def layout(self, poll_id: str) -> int:
        """The poll's voter bucket count, or LEGACY (0) for a poll in the old fixed buckets."""
        return layout_of(self.redis.hget(self.keys.poll(poll_id), LAYOUT_FIELD))

    @translate_errors
    def compact_voters(self, poll_id: str) -> tuple[int, int] | None:
        """Rewrite a legacy poll's voters into buckets that split (store/voters.py), in one
        script; its voters and its new bucket count, or None when the poll is not legacy.
        Redis runs nothing else meanwhile: 1.45 s for 500,000 voters (README)."""
        poll = self.get(poll_id)
        if poll is None:
            raise PollNotFound(poll_id)
        expected = buckets_for(poll.total) + COMPACT_SLACK
        while True:
            reply = self.scripts.compact_voters(
                keys=[
                    self.keys.poll(poll_id),
                    *bucket_keys(self.keys, poll_id, LEGACY),
                    *bucket_keys(self.keys, poll_id, expected),
                ],
                args=[VOTERS_PER_BUCKET],
            )
            if reply[0] != b"more_buckets":
                break
            expected = buckets_for(int(reply[1])) + COMPACT_SLACK
        if reply[0] == b"not_found":
            raise PollNotFound(poll_id)
        if reply[0] == b"not_legacy":
            return None
        self.layouts.saw(poll_id, int(reply[2]))
        return int(reply[1]), int(reply[2])


def choice_of(code: bytes | None) -> str | None:
    """The choice a stored voter record holds (b"1" yay, b"2" nay), or None for no record."""
    return CHOICES[int(code) - 1] if code else None


def _vote_result(poll_id: str, choice: str, reply: list, limits: VoteLimits) -> VoteResult:
    status = reply[0].decode()
    if status == "ok":
        _, yay, nay, previous, remaining, reset, version, _layout, created = reply
        poll = Poll(id=poll_id, question="", yay=yay, nay=nay, version=version)
        rate = RateState("votes", limits.rate.count, limits.rate.window, remaining, reset)
        code = _CHOICE_CODES[choice]
        return VoteResult(
            poll=poll,
            vote=choice,
            changed=previous not in (0, code),
            rate=rate,
            repeated=previous == code,
            created=created == 1,
        )
    if status == "not_found":
        raise PollNotFound(poll_id)
    if status == "closed":
        raise PollClosed(poll_id)
    if status == "change_not_allowed":
        raise VoteChangeNotAllowed(poll_id, CHOICES[reply[1] - 1])
    retry_after = int(reply[1])
    if status == "rate_limited":
        rate = RateState("votes", limits.rate.count, limits.rate.window, 0, retry_after)
        message = f"Too many votes from your network; try again in {retry_after} s."
    else:
        rate = RateState("new-voters", limits.new_voters_per_day, DAY, 0, retry_after)
        message = "Too many different voters from your network on this poll today."
    raise RateLimited(message, rate=rate)


def _poll_from_fields(poll_id: str, values: list) -> Poll | None:
    question, closes_at, allow_change, created_at, yay, nay, version = values
    if created_at is None:
        return None
    return Poll(
        id=poll_id,
        question=question.decode(),
        yay=int(yay or 0),
        nay=int(nay or 0),
        closes_at=float(closes_at) if closes_at else None,
        allow_change=allow_change != b"0",
        created_at=float(created_at),
        version=int(version or 0),
    )
