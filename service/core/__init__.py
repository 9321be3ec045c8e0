"""The use cases the API, the pages and the CLI share: votes, polls, comments, moderation, privacy, tokens.

Each is a function taking the ``Core`` first. The core holds the rules (limits, trims,
digests, ids) and calls ``service.store`` for everything kept in Redis; it knows
nothing of HTTP, HTML or argv.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.core.policy import Policy
from service.core.streams import StreamBudget
from service.store import Store
from service.store.cache import ReadCache
from service.store.connection import problem_with, redacted
from service.store.events import KEEP_ALIVE, ChangeFeed, Inbox, TallyUpdate

__all__ = [
    "KEEP_ALIVE",
    "ChangeFeed",
    "Client",
    "Core",
    "Inbox",
    "Policy",
    "ReadCache",
    "StreamBudget",
    "TallyUpdate",
    "store_problem",
]


def store_problem(settings: Mapping[str, Any]) -> str | None:
    """One line saying why the configured Redis cannot be used and how to fix it, or None."""
    problem = problem_with(
        str(settings["REDIS_URL"]),
        cluster=bool(settings["REDIS_CLUSTER"]),
        sentinels=settings["REDIS_SENTINELS"],
        sentinel_master=settings["REDIS_SENTINEL_MASTER"],
    )
    if problem is None:
        return None
    if settings["REDIS_SENTINELS"]:
        return (
            f"YAYNAY_REDIS_SENTINELS={','.join(settings['REDIS_SENTINELS'])} (master "
            f"{settings['REDIS_SENTINEL_MASTER']!r}) {problem}; check the sentinels, the master's name and the "
            "credentials in YAYNAY_REDIS_URL"
        )
    return (
        f"YAYNAY_REDIS_URL={redacted(str(settings['REDIS_URL']))} {problem}; "
        "fix the URL (redis://host:6379/0, rediss://..., unix:///path) or start that Redis"
    )


@dataclass(frozen=True)
class Client:
    """Who sent a request, as far as the service may know: the address and the user agent.

    The address is used only through a keyed digest (``identity.ip_digest``).
    """

    ip: str
    user_agent: str = ""


@dataclass
class Core:
    """The store, the policy built from the settings, the secret key and the clock."""

    store: Store
    policy: Policy
    secret_key: str
    admin_token: str = ""
    clock: Callable[[], float] = field(default=time.time)
    # This process's live streams (core/streams.py); one Core per worker process.
    streams: StreamBudget = field(default_factory=lambda: StreamBudget(per_client=20, per_worker=3000))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Core:
        """Connect to Redis and derive every limit once, as the settings say."""
        return cls(
            store=Store.from_settings(settings),
            policy=Policy.from_settings(settings),
            secret_key=str(settings["SECRET_KEY"]),
            admin_token=str(settings["ADMIN_TOKEN"] or ""),
            clock=settings.get("CLOCK") or time.time,
            streams=StreamBudget(settings["STREAMS_PER_IP"], settings["STREAMS_PER_WORKER"]),
        )

    def now(self) -> float:
        """The current time (tests pin it)."""
        return self.clock()

    @property
    def read_cache(self) -> ReadCache:
        """This process's cache of public reads (``store/cache.py``)."""
        return self.store.read_cache

    @property
    def changes(self) -> ChangeFeed:
        """This process's change feed: live tallies and cache invalidation (``store/events.py``)."""
        return self.store.changes

    def is_ready(self) -> bool:
        """True when Redis answers."""
        return self.store.is_ready()

    def close(self) -> None:
        """Stop the change feed and drop the connections."""
        self.store.close()
