"""The rules the settings set, derived once when the app (or a CLI command) starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.ratelimit import RateLimit
from service.store.comments import CommentLimits
from service.store.moderation import Retention
from service.store.polls import NO_POLL_CEILING, VoteLimits


@dataclass(frozen=True)
class CommentLengths:
    """The most characters a comment's author name and body may have."""

    author: int
    body: int


@dataclass(frozen=True)
class Notifying:
    """How moderators and publishers hear of events: webhooks' reach, mail and links."""

    # Webhook URLs may resolve to loopback, private or link-local addresses.
    allow_private_webhooks: bool = False
    digest_minutes: int = 30
    smtp_url: str = ""
    smtp_from: str = ""
    # Absolute links in mail start with it; empty: paths only.
    public_url: str = ""


@dataclass(frozen=True)
class ContentCheck:
    """Where and how to ask an Akismet-compatible service about a comment."""

    key: str
    endpoint: str
    blog: str
    timeout: float


@dataclass(frozen=True)
class Policy:
    """Every limit, window and ceiling the use cases apply, parsed from the settings once."""

    vote_limits: VoteLimits
    # 0: the first vote on an unknown poll is a 404; above 0, it creates the poll while fewer exist.
    auto_create_polls_up_to: int
    comment_limits: CommentLimits
    # The status a new comment gets: "pending" (pre-moderation) or "approved".
    new_comment_status: str
    comment_lengths: CommentLengths
    honeypot_field: str
    page_size: int
    # Redis Cluster: seconds between two repairs of lost site-wide index writes (any worker).
    index_repair_interval: int = 30
    # Polls one client IP may create by first votes in a UTC day (AUTO_CREATE_POLLS).
    auto_created_polls_per_ip_per_day: int = 10
    # Seconds after posting during which a reader may edit their own comment.
    edit_window: int = 900
    notifying: Notifying = Notifying()
    # Approved comments in a row that make an email trusted (0: off).
    trusted_after_approved: int = 0
    # The Akismet-compatible content check: key ("" turns it off), endpoint, blog, timeout.
    content_check: ContentCheck | None = None
    # Days decided comments stay in the site-wide queues and decisions in the logs.
    retention: Retention = Retention()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """The policy the settings describe (they are validated by ``service.settings``)."""
        rates = settings["COMMENT_RATE_LIMITS"]
        return cls(
            vote_limits=VoteLimits(RateLimit.parse(settings["VOTE_RATE_LIMIT"]), settings["VOTERS_PER_IP_PER_DAY"]),
            auto_create_polls_up_to=(settings["MAX_POLLS"] or NO_POLL_CEILING) if settings["AUTO_CREATE_POLLS"] else 0,
            comment_limits=CommentLimits(
                rates=tuple(RateLimit.parse(text) for text in rates),
                new_threads_per_day=settings["NEW_THREADS_PER_IP_PER_DAY"],
                surge_per_hour=settings["PENDING_SURGE_PER_HOUR"],
                duplicate_window=settings["DUPLICATE_WINDOW"],
                idempotency_ttl=settings["IDEMPOTENCY_TTL"],
            ),
            new_comment_status="pending" if settings["MODERATION"] == "pre" else "approved",
            comment_lengths=CommentLengths(settings["COMMENT_AUTHOR_MAX_LENGTH"], settings["COMMENT_BODY_MAX_LENGTH"]),
            honeypot_field=settings["HONEYPOT_FIELD"],
            page_size=settings["COMMENTS_PAGE_SIZE"],
            index_repair_interval=settings["INDEX_REPAIR_INTERVAL"],
            auto_created_polls_per_ip_per_day=settings["AUTO_CREATE_POLLS_PER_IP_PER_DAY"],
            edit_window=settings["EDIT_WINDOW"],
            notifying=Notifying(
                allow_private_webhooks=settings["WEBHOOK_ALLOW_PRIVATE"],
                digest_minutes=settings["DIGEST_MINUTES"],
                smtp_url=settings["SMTP_URL"],
                smtp_from=settings["SMTP_FROM"],
                public_url=str(settings["PUBLIC_URL"]).rstrip("/"),
            ),
            trusted_after_approved=settings["TRUSTED_AFTER_APPROVED"],
            retention=Retention(settings["DECIDED_RETENTION_DAYS"], settings["LOG_RETENTION_DAYS"]),
            content_check=ContentCheck(
                settings["AKISMET_KEY"],
                settings["AKISMET_ENDPOINT"].rstrip("/"),
                settings["AKISMET_BLOG"],
                settings["AKISMET_TIMEOUT"],
            )
            if settings["AKISMET_KEY"]
            else None,
        )
