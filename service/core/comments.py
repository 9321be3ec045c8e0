"""Comments: a reader submits one (from the widget or a form), and anyone reads a thread."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from service import metrics
from service.core import Client, Core
from service.core.polls import count_refusal
from service.core.spam import Draft, screen
from service.errors import YaynayError
from service.identity import email_digest, idempotency_digest, ip_digest, text_digest, voter_digest
from service.store.comments import Comment, NewComment, Page, Submission
from service.store.keys import comment_id, new_comment_key

__all__ = [
    "Comment",
    "CommentDraft",
    "Page",
    "Submission",
    "approved_counts",
    "count_links",
    "read_thread",
    "submit_comment",
]

_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
# Longest Idempotency-Key and User-Agent kept; a longer one is cut, not refused.
IDEMPOTENCY_KEY_MAX = 255
USER_AGENT_MAX = 300


@dataclass(frozen=True)
class CommentDraft:
    """What a reader sent, as the schema loaded it (lengths and formats already checked)."""

    author: str
    body: str
    email: str | None = None
    website: str | None = None
    parent_id: str | None = None
    voter: str | None = None
    # The honeypot field's value: people leave it empty, bots fill it in.
    honeypot: str = ""
    # The article the comment was written on (its origin already checked by the web layer).
    page_url: str | None = None


def count_links(body: str) -> int:
    """How many links a comment body holds (a moderator's signal)."""
    return len(_LINK.findall(body))


def submit_comment(
    core: Core, thread_id: str, draft: CommentDraft, client: Client, idempotency_key: str | None = None
) -> Submission:
    """Store a reader's comment, pending or published as the moderation setting and the spam
    tools say (``core.spam.screen``); a rejected or spam one is answered as pending.

    A retry (same Idempotency-Key, or the same text from the same client within the
    duplicate window) answers with the comment first stored. A filled honeypot is
    answered as if stored, with an id of the same form, and dropped. Raises
    RateLimited, ThreadLimitReached or InvalidParent.
    """
    policy = core.policy
    if draft.honeypot:
        metrics.COMMENTS.labels("dropped").inc()
        return Submission(id=comment_id(thread_id, new_comment_key()), status=policy.new_comment_status, created=False)
    secret = core.secret_key
    ip = ip_digest(secret, client.ip)
    idempotency_key = (idempotency_key or "")[:IDEMPOTENCY_KEY_MAX]
    author_email = email_digest(secret, draft.email) if draft.email else None
    user_agent = client.user_agent[:USER_AGENT_MAX]
    verdict = screen(
        core,
        Draft(draft.author, draft.body, draft.website, draft.email, author_email, ip, user_agent, draft.page_url),
        client,
    )
    comment = NewComment(
        author=draft.author,
        body=draft.body,
        email=draft.email,
        website=draft.website,
        parent_id=draft.parent_id,
        voter=voter_digest(secret, thread_id, draft.voter) if draft.voter else None,
        ip_digest=ip,
        user_agent=user_agent,
        text_digest=text_digest(secret, draft.body),
        email_digest=author_email,
        idempotency_digest=idempotency_digest(secret, ip, idempotency_key) if idempotency_key else None,
        links=count_links(draft.body),
        held_reason=verdict.held_reason,
    )
    try:
        submission = core.store.comments.submit(
            thread_id, comment, status=verdict.status, now=core.now(), limits=policy.comment_limits
        )
    except YaynayError as refusal:
        count_refusal(metrics.COMMENTS, refusal)
        raise
    metrics.COMMENTS.labels(submission.status if submission.created else "repeated").inc()
    if submission.status not in ("pending", "approved"):
        # Never tell a spammer: a rejected or spam comment is answered as held.
        submission = replace(submission, status="pending")
    if submission.created and draft.page_url:
        core.store.comments.remember_page(thread_id, draft.page_url)
    return submission


def read_thread(core: Core, thread_id: str, *, limit: int | None = None, cursor: str | None = None) -> Page:
    """One page of a thread's published comments, oldest first, each with its author's live vote;
    ``extra["count"]`` is how many the thread has. ``limit`` defaults to the page-size setting."""
    return core.store.comments.approved(thread_id, limit=limit or core.policy.page_size, cursor=cursor)


def approved_counts(core: Core, thread_ids: Sequence[str]) -> dict[str, int]:
    """How many published comments each thread has."""
    return core.store.comments.approved_counts(thread_ids)
