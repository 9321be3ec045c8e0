"""Privacy requests: everything one person submitted, found or erased by their email address."""

from __future__ import annotations

from service.core import Core
from service.identity import email_digest
from service.store.comments import Comment
from service.store.moderation import ANY_STATUS, DecisionRequest

# The name privacy erasures sign the moderation log with.
PRIVACY_MODERATOR = "privacy-request"
# Erasure looks again this many times for comments that arrived or moved meanwhile.
ERASE_PASSES = 5


def comments_by_email(core: Core, email: str) -> list[Comment]:
    """Every stored comment submitted with ``email`` (case-insensitive), in any status."""
    return core.store.comments.by_email(email_digest(core.secret_key, email))


def erase_by_email(core: Core, email: str) -> int:
    """Remove every comment submitted with ``email``, public copies included; return how many.

    Deletes whatever status each comment has by then, and looks again until none is left,
    so a decision or a submission racing the erasure cannot leave one behind.
    """
    digest = email_digest(core.secret_key, email)
    removed = 0
    for _ in range(ERASE_PASSES):
        found = core.store.comments.by_email(digest)
        if not found:
            break
        outcomes = core.store.moderation.decide(
            [DecisionRequest(comment.id, "delete", "privacy request", ANY_STATUS) for comment in found],
            moderator=PRIVACY_MODERATOR,
            now=core.now(),
        )
        removed += sum(1 for outcome in outcomes if outcome.decision is not None)
    core.store.comments.forget_missing_by_email(digest)
    return removed
