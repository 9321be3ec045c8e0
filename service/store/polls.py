"""Polls, their tallies and their voters' records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.errors import (
    PollClosed,
    PollNotFound,
    RateLimited,
    VoteChangeNotAllowed,
)
from service.ratelimit import RateLimit, RateState
from service.store.cache import ReadCache
from service.store.connection import translate_errors
from service.store.keys import VOTER_BUCKETS, Keys
from service.store.scripts import Scripts

CHOICES = ("yay", "nay")
DAY = 86400
# A new-voter counter lives through its UTC day, plus an hour for clocks that disagree.
NEW_VOTER_COUNTER_TTL = DAY + 3600
_CHOICE_CODES = {"yay": 1, "nay": 2}
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
class VoteResult:
    """What a vote did: the poll's new tally, the live choice, and whether it moved."""

    poll: Poll
    vote: str
    changed: bool
    rate: RateState | None = field(default=None)
    repeated: bool = False  # the voter's live vote was this choice already


@dataclass(frozen=True)
class VoteLimits:
    """The abuse bounds a vote is checked against, per client IP and poll."""

    rate: RateLimit
    new_voters_per_day: int


class PollStore:
    """Reads and writes polls; every method takes the current time as ``now``."""

    def __init__(self, redis: Any, keys: Keys, scripts: Scripts, read_cache: ReadCache):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.read_cache = read_cache

    @translate_errors
    def save(
        self, poll_id: str, *, question: str, closes_at: float | None, allow_change: bool, now: float
    ) -> tuple[Poll, bool]:
        """Create or update a poll's settings, keeping its tally; return it and whether it is new."""
        self.redis.zadd(self.keys.poll_registry(), {poll_id: now}, nx=True)
        key = self.keys.poll(poll_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "created_at", repr(now))
            pipe.hset(
                key,
                mapping={
                    "question": question,
                    "closes_at": "" if closes_at is None else repr(closes_at),
                    "allow_change": "1" if allow_change else "0",
                },
            )
            pipe.hsetnx(key, "yay", 0)
            pipe.hsetnx(key, "nay", 0)
            pipe.hmget(key, _POLL_FIELDS)
            created, *_, values = pipe.execute()
        self.redis.publish(self.keys.change_channel(), poll_id)
        self.read_cache.changed(poll_id)
        poll = _poll_from_fields(poll_id, values)
        assert poll is not None  # created_at was just set
        return poll, bool(created)

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
    ) -> VoteResult:
        """Record ``voter``'s live vote, moving it when the choice changes.

        ``voter`` is the voter's keyed digest and ``ip`` the client's keyed IP digest.
        With ``auto_create_up_to`` set, an unknown poll is created while fewer polls exist.
        Raises PollNotFound, PollClosed, VoteChangeNotAllowed or RateLimited.
        """
        bucket_key, field = self.keys.voter_record(poll_id, voter)
        rate = limits.rate
        window_start = rate.window_start(now)
        day = int(now // DAY)
        keys = [
            self.keys.poll(poll_id),
            bucket_key,
            self.keys.vote_rate(poll_id, ip, window_start),
            self.keys.new_voters(poll_id, ip, day),
        ]
        args: list[Any] = [
            field,
            _CHOICE_CODES[choice],
            repr(now),
            rate.count,
            rate.window,
            window_start,
            limits.new_voters_per_day,
            max(1, int((day + 1) * DAY - now)),
            0,
            self.keys.change_channel(),
            poll_id,
            NEW_VOTER_COUNTER_TTL,
        ]
        reply = self.scripts.cast_vote(keys=keys, args=args)
        if reply[0] == b"not_found" and auto_create_up_to and self._admit(poll_id, now, auto_create_up_to):
            args[8] = 1
            reply = self.scripts.cast_vote(keys=keys, args=args)
        result = _vote_result(poll_id, choice, reply, limits)
        # The script announced the change; this process need not wait for the message.
        self.read_cache.changed(poll_id)
        return result

    def _admit(self, poll_id: str, now: float, ceiling: int) -> bool:
        return bool(
            self.scripts.admit_to_registry(keys=[self.keys.poll_registry()], args=[poll_id, repr(now), ceiling])
        )

    @translate_errors
    def vote_of(self, poll_id: str, voter: bytes) -> str | None:
        """The live choice of the voter with this digest, or None."""
        return choice_of(self.redis.hget(*self.keys.voter_record(poll_id, voter)))

    @translate_errors
    def count_voter_records(self, poll_id: str) -> dict[str, int]:
        """Count the stored voter records by choice: the truth the tally must equal."""
        counts = {"yay": 0, "nay": 0}
        with self.redis.pipeline(transaction=False) as pipe:
            for bucket in range(VOTER_BUCKETS):
                pipe.hvals(self.keys.voter_bucket(poll_id, bucket))
            for values in pipe.execute():
                for value in values:
                    counts[CHOICES[int(value) - 1]] += 1
        return counts


def choice_of(code: bytes | None) -> str | None:
    """The choice a stored voter record holds (b"1" yay, b"2" nay), or None for no record."""
    return CHOICES[int(code) - 1] if code else None


def _vote_result(poll_id: str, choice: str, reply: list, limits: VoteLimits) -> VoteResult:
    status = reply[0].decode()
    if status == "ok":
        _, yay, nay, previous, remaining, reset, version = reply
        poll = Poll(id=poll_id, question="", yay=yay, nay=nay, version=version)
        rate = RateState("votes", limits.rate.count, limits.rate.window, remaining, reset)
        code = _CHOICE_CODES[choice]
        return VoteResult(
            poll=poll, vote=choice, changed=previous not in (0, code), rate=rate, repeated=previous == code
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
