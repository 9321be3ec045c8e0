"""Polls and votes: create or update a poll, read tallies, cast a vote, check a tally."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from service import metrics
from service.core import Client, Core, events
from service.errors import PollNotFound, RateLimited, YaynayError
from service.identity import ip_digest, voter_digest
from service.store.polls import Poll, VoteResult
from service.store.voters import LEGACY

__all__ = [
    "Poll",
    "TallyCheck",
    "VoteResult",
    "PollPage",
    "cast_vote",
    "check_tally",
    "announce_due_closings",
    "close_poll",
    "compact_voters",
    "delete_poll",
    "find_poll",
    "find_polls",
    "get_poll",
    "list_polls",
    "reopen_poll",
    "save_poll",
    "vote_of",
]


def save_poll(
    core: Core, poll_id: str, *, question: str, closes_at: dt.datetime | None, allow_change: bool
) -> tuple[Poll, bool]:
    """Create or update a poll, keeping its tally; return it and whether it was created.
    Announces ``poll.created`` for a new poll, and ``poll.closed`` when the save closes an
    open one (a closing time now past).

    The question is kept without surrounding blank space; ``closes_at`` without a time
    zone is UTC.
    """
    if closes_at is not None and closes_at.tzinfo is None:
        closes_at = closes_at.replace(tzinfo=dt.timezone.utc)
    saved = core.store.polls.save(
        poll_id,
        question=question.strip(),
        closes_at=closes_at.timestamp() if closes_at else None,
        allow_change=allow_change,
        now=core.now(),
    )
    if saved.created:
        events.emit(core, "poll.created", _poll_event(saved.poll))
    if saved.closed:
        events.emit(core, "poll.closed", _poll_event(saved.poll))
    return saved.poll, saved.created


def _poll_event(poll: Poll) -> dict[str, object]:
    return {"id": poll.id, "question": poll.question, "closes_at": poll.closes_at, "tally": poll.tally}


def ensure_poll(core: Core, poll_id: str, question: str) -> None:
    """Create the poll unless it exists; an existing one (and its tally) is left alone."""
    if core.store.polls.get(poll_id) is None:
        save_poll(core, poll_id, question=question, closes_at=None, allow_change=True)


def find_poll(core: Core, poll_id: str) -> Poll | None:
    """The poll with its tally, or None."""
    return core.store.polls.get(poll_id)


def get_poll(core: Core, poll_id: str) -> Poll:
    """The poll with its tally; raises PollNotFound."""
    poll = core.store.polls.get(poll_id)
    if poll is None:
        raise PollNotFound(poll_id)
    return poll


def find_polls(core: Core, poll_ids: Sequence[str]) -> list[Poll]:
    """The polls that exist among ``poll_ids``, in that order, in one round trip."""
    return core.store.polls.get_many(list(poll_ids))


def cast_vote(core: Core, poll_id: str, choice: str, voter_token: str, client: Client) -> VoteResult:
    """Cast, repeat or change a reader's vote under the configured limits.

    Raises PollNotFound, PollClosed, VoteChangeNotAllowed or RateLimited; with AUTO_CREATE_POLLS,
    a vote that would create a poll past the client's daily budget raises RateLimited, past
    MAX_POLLS PollLimitReached.
    """
    policy = core.policy
    try:
        result = core.store.polls.cast_vote(
            poll_id,
            voter=voter_digest(core.secret_key, poll_id, voter_token),
            choice=choice,
            ip=ip_digest(core.secret_key, client.ip),
            now=core.now(),
            limits=policy.vote_limits,
            auto_create_up_to=policy.auto_create_polls_up_to,
            auto_create_per_ip_per_day=policy.auto_created_polls_per_ip_per_day,
        )
    except YaynayError as refusal:
        count_refusal(metrics.VOTES_REFUSED, refusal)
        raise
    (metrics.VOTE_CHANGED if result.changed else metrics.VOTE_REPEATED if result.repeated else metrics.VOTE_CAST).inc()
    if result.created:
        events.emit(core, "poll.created", _poll_event(result.poll))
    return result


def count_refusal(counter: metrics.Counter, refusal: YaynayError) -> None:
    """Count a refusal under its class name (a handful of values), and a rate limit under its limit."""
    counter.labels(type(refusal).__name__).inc()
    if isinstance(refusal, RateLimited):
        metrics.RATE_LIMITED.labels(refusal.rate.policy).inc()


def vote_of(core: Core, poll_id: str, voter_token: str) -> str | None:
    """The live choice of the reader holding ``voter_token``, or None."""
    return core.store.polls.vote_of(poll_id, voter_digest(core.secret_key, poll_id, voter_token))


@dataclass(frozen=True)
class TallyCheck:
    """A poll's tally beside a count of its voter records."""

    poll: Poll
    records: dict[str, int]

    @property
    def matches(self) -> bool:
        """True when yay and nay each equal the records of that choice."""
        return self.records == {"yay": self.poll.yay, "nay": self.poll.nay}


def check_tally(core: Core, poll_id: str) -> TallyCheck:
    """Count the poll's voter records by choice, to compare with its tally; raises PollNotFound."""
    poll = get_poll(core, poll_id)
    return TallyCheck(poll, core.store.polls.count_voter_records(poll_id))


@dataclass(frozen=True)
class PollPage:
    """One page of polls, newest first, the next page's cursor (None at the end), and how many exist."""

    polls: list[Poll]
    next_cursor: str | None
    total: int


def list_polls(core: Core, *, limit: int, cursor: str | None = None) -> PollPage:
    """Polls newest first with their tallies; ``cursor`` is the previous page's ``next_cursor``.

    The cursor is the last poll's place in the registry, so a page costs the same at any
    depth and a poll created or deleted between two pages shifts nothing.
    """
    found, next_cursor, total = core.store.polls.page(cursor=cursor, limit=limit)
    return PollPage(found, next_cursor, total)


# How often the worker looks for polls whose closing time has passed: ``poll.closed`` is
# emitted at most this many seconds late. A sweep is one script call on a small sorted set.
CLOSING_SWEEP_SECONDS = 30
# Polls announced by one script call; a sweep repeats until fewer are due.
CLOSINGS_TAKEN = 100


def announce_due_closings(core: Core) -> int:
    """Emit ``poll.closed`` for each poll whose scheduled ``closes_at`` has passed; how many.

    The schedule (``Keys.closing_schedule``) is in Redis, so closings that fell due while
    no worker ran are announced by the next sweep; each is taken out of it by the one
    sweep that announces it, so none is announced twice. A poll whose closing time was
    cleared since is skipped; one whose closing time is still to come is scheduled again
    at that time: the schedule is in another slot than the poll, so two saves at once can
    leave it holding the earlier save's time, and the sweep puts it right. (One holding a
    later time than the poll's, left by a race that ``schedule_closing``'s second read
    narrows to a few microseconds, is announced late, at that time.)
    """
    announced = 0
    while True:
        now = core.now()
        due = core.store.polls.take_due_closings(now, CLOSINGS_TAKEN)
        for poll in find_polls(core, due):
            if poll.state(now) == "closed":
                events.emit(core, "poll.closed", _poll_event(poll))
                announced += 1
            elif poll.closes_at is not None:
                core.store.polls.schedule_closing(poll.id, poll.closes_at, now)
        if len(due) < CLOSINGS_TAKEN:
            return announced


def schedule_closing_sweep(core: Core, *, delay: float = CLOSING_SWEEP_SECONDS) -> bool:
    """Schedule the next sweep unless one is scheduled; True when scheduled."""
    return events.schedule_once(core, "closing-sweep", sweep_closings, delay)


def sweep_closings() -> None:
    """RQ job: announce the due closings, then schedule the next sweep (even after a failure,
    so that one Redis outage does not end the sweeps)."""
    core = events.worker_core()
    try:
        announce_due_closings(core)
    finally:
        events.release_schedule(core, "closing-sweep")
        schedule_closing_sweep(core)


def close_poll(core: Core, poll_id: str) -> Poll:
    """Stop the poll taking votes from now on (its tally stays) and announce it; a poll closed
    already is left as it was, and not announced again. Raises PollNotFound."""
    poll, closed_now = core.store.polls.close(poll_id, core.now())
    if poll is None:
        raise PollNotFound(poll_id)
    if closed_now:
        events.emit(core, "poll.closed", _poll_event(poll))
    return poll


def reopen_poll(core: Core, poll_id: str) -> Poll:
    """Let the poll take votes again, with no closing time; raises PollNotFound."""
    return _set_closing(core, poll_id, None)


def _set_closing(core: Core, poll_id: str, closes_at: float | None) -> Poll:
    poll = core.store.polls.set_closing(poll_id, closes_at)
    if poll is None:
        raise PollNotFound(poll_id)
    return poll


def delete_poll(core: Core, poll_id: str) -> None:
    """Delete the poll, its tally and every voter record (its comments stay); raises PollNotFound."""
    if not core.store.polls.delete(poll_id):
        raise PollNotFound(poll_id)


# Legacy polls larger than this are left alone by default: their 16,384 buckets are full
# enough to cost about 16 bytes a voter (13.6 B at 500,000 voters, 29 B at 100,000), and
# compacting one holds Redis for the script's run (1.45 s for 500,000 voters, 0.03 s for
# 1,000, on the shared 2-core machine).
COMPACT_MAX_VOTERS = 300_000


@dataclass(frozen=True)
class Compaction:
    """What ``compact_voters`` did to one poll: ``buckets`` it now has, or why it was skipped."""

    poll_id: str
    voters: int
    buckets: int = 0
    skipped: str = ""


def compact_voters(
    core: Core, poll_ids: list[str] | None = None, *, max_voters: int = COMPACT_MAX_VOTERS
) -> Iterator[Compaction]:
    """Rewrite polls stored in the legacy fixed voter buckets into buckets that split, one
    poll at a time: ``poll_ids``, or every poll; polls of more than ``max_voters`` voters
    and polls already compact are skipped. Raises PollNotFound for a named poll missing."""
    for poll_id in core.store.polls.ids() if poll_ids is None else poll_ids:
        poll = get_poll(core, poll_id)
        if core.store.polls.layout(poll_id) != LEGACY:
            yield Compaction(poll_id, poll.total, skipped="already compact")
        elif poll.total > max_voters:
            yield Compaction(poll_id, poll.total, skipped=f"more than {max_voters:,} voters")
        else:
            done = core.store.polls.compact_voters(poll_id)
            if done is None:
                yield Compaction(poll_id, poll.total, skipped="already compact")
            else:
                yield Compaction(poll_id, *done)
