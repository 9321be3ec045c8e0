"""``yaynay check``: every poll's tally against its voter records, every thread's comments
against the site-wide queue and email index."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.core import Core
from service.core.polls import check_tally
from service.errors import PollNotFound

__all__ = ["Problem", "check_everything"]


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: what it concerns (a poll or a comment id) and what is wrong."""

    subject: str
    description: str
    repaired: bool = False


@dataclass
class Summary:
    """How much was checked, filled in while ``check_everything`` runs."""

    polls: int = 0
    threads: int = 0


def check_everything(core: Core, summary: Summary, *, repair: bool = False) -> Iterator[Problem]:
    """Each problem as it is found: a tally that differs from the voter records (choice by
    choice), a comment missing from the queue under its status or from its email index.
    With ``repair``, missing index entries are written (tallies are only reported: which
    side is wrong takes a person), after the single-key registries and queues of earlier
    versions are moved into their shards (the queue's first read moves them too)."""
    if repair:
        moved = core.store.moderation.migrate_legacy_indexes()
        if moved:
            yield Problem("site-wide indexes", f"{moved} entries moved from single keys to shards", repaired=True)
    for poll_id in core.store.polls.ids():
        try:
            check = check_tally(core, poll_id)
        except PollNotFound:
            continue  # registered by a creation that failed before its hash: it only lowers the ceiling
        summary.polls += 1
        for choice in ("yay", "nay"):
            tallied, recorded = getattr(check.poll, choice), check.records[choice]
            if tallied != recorded:
                yield Problem(f"poll {poll_id}", f"{choice} tally {tallied}, voter records {recorded}")
    for thread_id in core.store.moderation.thread_ids():
        summary.threads += 1
        found = core.store.moderation.audit_thread(
            thread_id, repair=repair, now=core.now(), retention=core.policy.retention
        )
        for problem in found:
            yield Problem(f"comment {problem.comment_id}", problem.problem, repaired=repair)
