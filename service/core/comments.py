"""Comments: a reader submits one (from the widget or a form), and anyone reads a thread."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from service import metrics
from service.core import Client, Core, events
from service.core.moderation import DecisionRequest, decide
from service.core.polls import count_refusal
from service.core.spam import Draft, count_screening, screen
from service.errors import CommentNotFound, EditRefused, YaynayError
from service.identity import edit_digest, email_digest, idempotency_digest, ip_digest, text_digest, voter_digest
from service.store.comments import Comment, Edited, NewComment, Page, SpamListsMoved, Submission
from service.store.keys import comment_id, new_comment_key, split_comment_id

__all__ = [
    "Comment",
    "CommentDraft",
    "Edited",
    "Page",
    "Submission",
    "approved_counts",
    "count_links",
    "delete_own_comment",
    "edit_own_comment",
    "own_comments",
    "read_thread",
    "submit_comment",
]

_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
# Longest Idempotency-Key and User-Agent kept; a longer one is cut, not refused.
IDEMPOTENCY_KEY_MAX = 255
USER_AGENT_MAX = 300
# What the moderation log names as the one who deleted a comment by its edit token.
AUTHOR = "(author)"
DELETED_BY_AUTHOR = "deleted by author"
# Times a post reloads the blocklist and bans that moved under it before it stops checking.
LISTS_RELOADS = 2


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

    A new comment's answer carries its ``edit_token``, shown this once. A retry (same
    Idempotency-Key, or the same text from the same client within the duplicate window)
    answers with the comment first stored, and no edit token. A filled honeypot is
    answered as if stored, with an id and a token of the same form, and dropped. Raises
    RateLimited (also past the new threads a client may start a day) or InvalidParent.

    On a single Redis node this is one round trip: the store's script checks that the
    blocklist and bans screened with are current (else they are reloaded and the comment
    screened again) and settles the surge hold and trust as it writes.
    """
    policy = core.policy
    edit_token = secrets.token_urlsafe(24)
    if draft.honeypot:
        metrics.COMMENTS.labels("dropped").inc()
        return Submission(
            id=comment_id(thread_id, new_comment_key()),
            status=policy.new_comment_status,
            created=False,
            edit_token=edit_token,
        )
    secret = core.secret_key
    ip = ip_digest(secret, client.ip)
    idempotency_key = (idempotency_key or "")[:IDEMPOTENCY_KEY_MAX]
    author_email = email_digest(secret, draft.email) if draft.email else None
    user_agent = client.user_agent[:USER_AGENT_MAX]
    screened = Draft(draft.author, draft.body, draft.website, draft.email, author_email, ip, user_agent, draft.page_url)
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
        edit_digest=edit_digest(secret, edit_token),
        page_url=draft.page_url,
    )
    try:
        submission = _screen_and_store(core, thread_id, comment, screened, client)
    except YaynayError as refusal:
        count_refusal(metrics.COMMENTS, refusal)
        raise
    count_screening(core, submission)
    metrics.COMMENTS.labels(submission.status if submission.created else "repeated").inc()
    if submission.created:
        events.comment_submitted(
            core,
            _event_data(thread_id, submission, draft, comment),
            submitted=submission.submitted_this_hour,
            endpoint_count=submission.webhook_endpoints,
        )
    if submission.status not in ("pending", "approved"):
        # Never tell a spammer: a rejected or spam comment is answered as held.
        submission = replace(submission, status="pending")
    return replace(submission, edit_token=edit_token) if submission.created else submission


def _screen_and_store(core: Core, thread_id: str, comment: NewComment, draft: Draft, client: Client) -> Submission:
    """Screen with this process's blocklist and bans and store; when the store finds they
    moved meanwhile, reload them and go again (a last try stores without the check, so a
    moderator editing the lists nonstop cannot stall posts)."""
    lists = core.store.spam.lists()
    for attempt in range(LISTS_RELOADS + 1):
        screening = screen(core, draft, client, lists)
        if attempt == LISTS_RELOADS:
            screening = replace(screening, lists_version=None)
        try:
            return core.store.comments.submit(
                thread_id, comment, status=screening, now=core.now(), limits=core.policy.comment_limits
            )
        except SpamListsMoved:
            lists = core.store.spam.reload()
    raise AssertionError("the last attempt does not check the lists")


def _event_data(thread_id: str, submission: Submission, draft: CommentDraft, comment: NewComment) -> dict[str, object]:
    """The ``comment.submitted`` payload; ``email`` and ``ip_digest`` reach private endpoints only."""
    return {
        "id": submission.id,
        "thread_id": thread_id,
        "status": submission.status,
        "author": draft.author,
        "body": draft.body,
        "website": draft.website,
        "parent_id": draft.parent_id,
        "page_url": draft.page_url,
        "email": draft.email,
        "ip_digest": comment.ip_digest,
    }


def edit_own_comment(core: Core, the_id: str, edit_token: str | None, body: str) -> Edited:
    """Replace the body of a reader's own comment, proven by its edit token, within EDIT_WINDOW.

    A published comment goes back to the queue under pre-moderation. Raises
    CommentNotFound, EditRefused (no or wrong token) or EditWindowClosed.
    """
    if not edit_token:
        raise EditRefused()
    secret = core.secret_key
    return core.store.comments.edit(
        the_id,
        edit_digest=edit_digest(secret, edit_token),
        body=body,
        text_digest=text_digest(secret, body),
        links=count_links(body),
        republish=core.policy.new_comment_status == "approved",
        now=core.now(),
        window=core.policy.edit_window,
    )


def delete_own_comment(core: Core, the_id: str, edit_token: str | None) -> None:
    """Delete a reader's own comment, proven by its edit token, at any time: a moderation
    decision (queue, indexes and log line together) logged as deleted by its author.

    Raises CommentNotFound or EditRefused (no or wrong token).
    """
    comment = core.store.comments.get(the_id)
    if comment is None or comment.thread_id != split_comment_id(the_id)[0]:
        raise CommentNotFound(the_id)
    expected = comment.edit_digest
    if not edit_token or not expected or not hmac.compare_digest(expected, edit_digest(core.secret_key, edit_token)):
        raise EditRefused()
    decide(core, DecisionRequest(the_id, "delete", reason=DELETED_BY_AUTHOR, seen="*"), moderator=AUTHOR)


def own_comments(core: Core, thread_id: str, edit_tokens: Mapping[str, str]) -> list[Comment]:
    """The thread's comments among ``edit_tokens`` (comment id -> edit token) whose token is
    theirs, in that order, in one round trip: what a reader sees of their own comments."""
    ids = [the_id for the_id in edit_tokens if split_comment_id(the_id)[0] == thread_id]
    secret = core.secret_key
    return [
        comment
        for comment in core.store.comments.load(ids)
        if comment.edit_digest
        and hmac.compare_digest(comment.edit_digest, edit_digest(secret, edit_tokens[comment.id]))
    ]


def read_thread(
    core: Core, thread_id: str, *, limit: int | None = None, cursor: str | None = None, newest_first: bool = False
) -> Page:
    """One page of a thread's published comments, oldest (or newest) first, each with its author's
    live vote; ``extra["count"]`` is how many the thread has. ``limit`` defaults to the page-size setting."""
    return core.store.comments.approved(
        thread_id, limit=limit or core.policy.page_size, cursor=cursor, newest_first=newest_first
    )


def approved_counts(core: Core, thread_ids: Sequence[str]) -> dict[str, int]:
    """How many published comments each thread has."""
    return core.store.comments.approved_counts(thread_ids)
