"""Spam tools: the blocklist, bans, trusted authors, the surge hold and the content check,
applied to each comment before it is stored; and each poll's vote-integrity figures.

A comment is never refused for being spam: it is stored as rejected, as spam or as
pending with a ``held_reason`` a moderator sees, and the reader is answered as if it
awaited moderation, so a spammer learns nothing from the answer.
"""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from service import metrics
from service.core import Client, Core
from service.core.policy import ContentCheck
from service.errors import CommentNotFound, InvalidInput, NothingToBan, PollNotFound, SpamToolNotFound
from service.identity import email_digest
from service.store.comments import Screening, Submission
from service.store.spam import RULE_ACTIONS, RULE_KINDS, Ban, Integrity, Rule, SpamLists, new_id

__all__ = [
    "RULE_ACTIONS",
    "RULE_KINDS",
    "Ban",
    "ContentCheckFailed",
    "Draft",
    "Integrity",
    "IntegrityReport",
    "Rule",
    "Screening",
    "Verdict",
    "add_rule",
    "ask_content_check",
    "ban_from_comment",
    "integrity",
    "lift_ban",
    "list_bans",
    "list_rules",
    "count_screening",
    "remove_rule",
    "screen",
]

log = logging.getLogger(__name__)

# Hosts of links in a body: after a scheme, or a bare www. name.
_LINK_HOST = re.compile(r"(?:https?://|(?=www\.))([^\s/:?#<>\"']+)", re.IGNORECASE)
# Busiest IP digests the integrity report lists.
BUSIEST_IPS = 10


class ContentCheckFailed(Exception):
    """The content check did not answer "true" or "false" in time."""


@dataclass(frozen=True)
class Draft:
    """What the screening looks at: the texts and the author's digests."""

    author: str
    body: str
    website: str | None
    email: str | None
    email_digest: str | None
    ip_digest: str
    user_agent: str
    page_url: str | None


@dataclass(frozen=True)
class Verdict:
    """The status to store a comment with, and why it is held or rejected ('' when it is not)."""

    status: str
    held_reason: str = ""


def _normalised(kind: str, value: str, secret_key: str) -> str:
    value = value.strip()
    if kind == "email":
        return email_digest(secret_key, value)
    if kind == "domain":
        return value.lower().removeprefix("www.").strip(".")
    if kind == "word":
        return " ".join(value.lower().split())
    return value


def add_rule(core: Core, kind: str, value: str, action: str, *, moderator: str = "") -> Rule:
    """Add a blocklist rule (an email is kept only as its keyed digest); every worker applies
    it from its next comment on. Raises InvalidInput for an empty value."""
    if not any(character > " " and character != "\x7f" for character in value):
        raise InvalidInput("The value is empty.", fields={"value": ["Give a word, domain, email or IP digest."]})
    # Python calls more characters space than the schema's pattern does: never store nothing.
    normalised = _normalised(kind, value, core.secret_key) or value
    rule = Rule(new_id(), kind, normalised, action, core.now(), moderator)
    core.store.spam.add_rule(rule)
    return rule


def list_rules(core: Core) -> list[Rule]:
    """Every blocklist rule, oldest first."""
    return core.store.spam.rules()


def remove_rule(core: Core, rule_id: str) -> None:
    """Delete a blocklist rule. Raises SpamToolNotFound."""
    if not core.store.spam.remove_rule(rule_id):
        raise SpamToolNotFound("blocklist rule", rule_id)


def ban_from_comment(core: Core, comment_id: str, *, ip: bool, email: bool, duration: int, moderator: str = "") -> Ban:
    """Ban the IP digest and/or the email digest a comment was sent with, for ``duration``
    seconds. Raises CommentNotFound, or NothingToBan when neither is asked for or the
    comment has no email to ban."""
    comment = core.store.comments.get(comment_id)
    if comment is None:
        raise CommentNotFound(comment_id)
    if not ip and not email:
        raise NothingToBan("Nothing to ban: set ip, email or both to true.")
    if email and not comment.email_digest:
        raise NothingToBan("Nothing to ban: that comment was sent without an email.")
    now = core.now()
    ban = Ban(
        new_id(),
        comment_id,
        comment.ip_digest if ip else None,
        comment.email_digest if email else None,
        now + duration,
        now,
        moderator,
    )
    core.store.spam.add_ban(ban)
    return ban


def list_bans(core: Core) -> list[Ban]:
    """Bans still in force, oldest first."""
    return core.store.spam.bans(core.now())


def lift_ban(core: Core, ban_id: str) -> None:
    """End a ban now. Raises SpamToolNotFound."""
    if not core.store.spam.remove_ban(ban_id):
        raise SpamToolNotFound("ban", ban_id)


# -- screening a comment ----------------------------------------------------------------


def _hosts(draft: Draft) -> set[str]:
    texts = [draft.body, draft.website or ""]
    return {match.lower().removeprefix("www.").rstrip(".") for text in texts for match in _LINK_HOST.findall(text)}


def _rule_hit(rule: Rule, draft: Draft, words: str, hosts: set[str]) -> bool:
    if rule.kind == "word":
        return re.search(rf"(?<!\w){re.escape(rule.value)}(?!\w)", words) is not None
    if rule.kind == "domain":
        return any(host == rule.value or host.endswith("." + rule.value) for host in hosts)
    if rule.kind == "email":
        return draft.email_digest == rule.value
    return draft.ip_digest == rule.value


def _blocked(lists: SpamLists, draft: Draft, now: float) -> Verdict | None:
    """The verdict of the bans and the blocklist; a rejection outweighs a hold."""
    for ban in lists.bans:
        if ban.until > now and (
            (ban.ip_digest and ban.ip_digest == draft.ip_digest)
            or (ban.email_digest and ban.email_digest == draft.email_digest)
        ):
            return Verdict("rejected", "banned")
    words = " ".join(f"{draft.author} {draft.body}".lower().split())
    hosts = _hosts(draft)
    hits = [rule for rule in lists.rules if _rule_hit(rule, draft, words, hosts)]
    if not hits:
        return None
    worst = next((rule for rule in hits if rule.action == "reject"), hits[0])
    shown = "(email digest)" if worst.kind == "email" else worst.value
    return Verdict("rejected" if worst.action == "reject" else "pending", f"blocklist {worst.kind}: {shown}")


def ask_content_check(check: ContentCheck, draft: Draft, client_ip: str) -> bool:
    """Ask the Akismet-compatible service whether the comment is spam (its comment-check call).
    Raises ContentCheckFailed on any answer but "true" or "false", or past the timeout."""
    form = {
        "api_key": check.key,
        "blog": check.blog,
        "user_ip": client_ip,
        "user_agent": draft.user_agent,
        "permalink": draft.page_url or "",
        "comment_type": "comment",
        "comment_author": draft.author,
        "comment_author_email": draft.email or "",
        "comment_author_url": draft.website or "",
        "comment_content": draft.body,
    }
    request = urllib.request.Request(
        f"{check.endpoint}/1.1/comment-check",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=check.timeout) as response:  # noqa: S310 (a setting)
            answer = response.read(64).decode(errors="replace").strip()
    except (OSError, ValueError) as error:
        raise ContentCheckFailed(str(error)) from error
    if answer not in ("true", "false"):
        raise ContentCheckFailed(f"answered {answer!r}")
    return answer == "true"


def _tool(held_reason: str) -> str:
    """The metrics label of the tool that decided (``yaynay_spam_tools_total{tool}``)."""
    if held_reason.startswith("blocklist"):
        return "blocklist"
    return {"content check: spam": "content_check", "content check failed": "content_check_failed"}.get(
        held_reason, held_reason or "trusted"
    )


def count_screening(core: Core, submission: Submission) -> None:
    """Count in metrics the spam tool (or surge hold, or trust) that decided a stored comment."""
    if submission.created and (submission.held_reason or submission.status != core.policy.new_comment_status):
        metrics.SPAM_TOOLS.labels(_tool(submission.held_reason)).inc()


def screen(core: Core, draft: Draft, client: Client, lists: SpamLists) -> Screening:
    """How a new comment is to be stored: the bans and the blocklist (``lists``, this
    process's copy, whose version the store checks as it writes) first, then the content
    check; when neither decides, the moderation setting, which the store settles with the
    surge hold, then trusted authors, in the same step as the write."""
    policy = core.policy
    blocked = _blocked(lists, draft, core.now())
    if blocked is not None:
        return Screening(blocked.status, blocked.held_reason, lists_version=lists.version)
    if policy.content_check is not None:
        try:
            if ask_content_check(policy.content_check, draft, client.ip):
                return Screening("spam", "content check: spam", lists_version=lists.version)
        except ContentCheckFailed as failure:
            log.warning("content check failed: %s", failure)
            return Screening("pending", "content check failed", lists_version=lists.version)
    trusting = policy.trusted_after_approved if policy.new_comment_status == "pending" else 0
    return Screening(policy.new_comment_status, settle=True, trusted_after=trusting, lists_version=lists.version)


# -- vote integrity ---------------------------------------------------------------------


@dataclass(frozen=True)
class IntegrityReport:
    """A poll's figures over the current and the previous UTC hour."""

    since: float
    votes_by_minute: list[tuple[float, int]]
    new_voters: int
    refused_new_voters: int
    refused_share: float
    changes: int
    busiest_ips: list[tuple[str, int]]


def integrity(core: Core, poll_id: str, *, minutes: int = 60) -> IntegrityReport:
    """Votes a minute over the last ``minutes`` (at most 60), and over this hour and the last:
    new voters, those refused by the per-IP ceiling and their share, vote changes, and
    the ten busiest IP digests. Raises PollNotFound."""

    now = core.now()
    hour = int(now // 3600)
    found = core.store.spam.integrity(poll_id, [hour - 1, hour], BUSIEST_IPS)
    if found is None:
        raise PollNotFound(poll_id)
    this_minute = int(now // 60)
    series = [
        (minute * 60.0, found.votes_by_minute.get(minute, 0))
        for minute in range(this_minute - minutes + 1, this_minute + 1)
    ]
    asked = found.new_voters + found.refused_new_voters
    return IntegrityReport(
        since=(hour - 1) * 3600.0,
        votes_by_minute=series,
        new_voters=found.new_voters,
        refused_new_voters=found.refused_new_voters,
        refused_share=round(found.refused_new_voters / asked, 4) if asked else 0.0,
        changes=found.changes,
        busiest_ips=found.busiest_ips,
    )
