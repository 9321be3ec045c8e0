"""Everything yaynay keeps in Redis; the only package that imports redis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.store.archive import ArchiveStore
from service.store.comments import CommentStore
from service.store.connection import UNAVAILABLE_ERRORS, connect
from service.store.events import ChangeFeed, TallyUpdate
from service.store.jobs import Jobs
from service.store.keys import Keys
from service.store.moderation import ModerationStore
from service.store.polls import PollStore
from service.store.replication import ReplicaWait
from service.store.scripts import Scripts
from service.store.spam import SpamStore
from service.store.tokens import TokenStore
from service.store.voters import Layouts
from service.store.webhooks import WebhookStore


class Store:
    """One Redis client and the repositories that share it."""

    def __init__(
        self,
        redis: Any,
        prefix: str = "yaynay",
        *,
        read_cache_ttl: float = 5.0,
        keepalive: float = 15.0,
        events_interval: float = 0.25,
        replicas: int = 1,
        replica_wait_ms: int = 250,
        replicated_votes: bool = False,
    ):
        self.redis = redis
        self.keys = Keys(prefix)
        self.scripts = Scripts(
            redis,
            replicated=ReplicaWait(redis, replicas=replicas, timeout_ms=replica_wait_ms),
            replicated_votes=ReplicaWait(
                redis, replicas=replicas if replicated_votes else 0, timeout_ms=replica_wait_ms
            ),
        )
        self.changes = ChangeFeed(
            redis,
            self.keys.change_channel,
            tally_of=self._tally,
            cache_ttl=read_cache_ttl,
            keepalive=keepalive,
            interval=events_interval,
        )
        self.read_cache = self.changes.cache
        self.polls = PollStore(redis, self.keys, self.scripts, self.read_cache, Layouts())
        self.comments = CommentStore(redis, self.keys, self.scripts, self.read_cache, self.polls.voter_reads)
        self.moderation = ModerationStore(redis, self.keys, self.scripts, self.comments)
        self.tokens = TokenStore(redis, self.keys)
        self.archive = ArchiveStore(redis, self.keys, self.scripts, self.comments)
        self.webhooks = WebhookStore(redis, self.keys)
        self.jobs = Jobs(redis)
        self.spam = SpamStore(redis, self.keys)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Store:
        """Connect as the settings say (``REDIS_URL``, ``REDIS_CLUSTER`` or ``REDIS_SENTINELS``,
        timeouts, ``KEY_PREFIX``)."""
        client = connect(
            settings["REDIS_URL"],
            cluster=settings["REDIS_CLUSTER"],
            sentinels=settings["REDIS_SENTINELS"],
            sentinel_master=settings["REDIS_SENTINEL_MASTER"],
            socket_timeout=settings["REDIS_SOCKET_TIMEOUT"],
            connect_timeout=settings["REDIS_CONNECT_TIMEOUT"],
            max_connections=settings["REDIS_MAX_CONNECTIONS"],
            pool_timeout=settings["REDIS_POOL_TIMEOUT"],
        )
        return cls(
            client,
            settings["KEY_PREFIX"],
            read_cache_ttl=settings["READ_CACHE_TTL"],
            keepalive=settings["EVENTS_KEEPALIVE"],
            events_interval=settings["EVENTS_INTERVAL"],
            replicas=settings["REPLICA_WAIT_COUNT"],
            replica_wait_ms=settings["REPLICA_WAIT_MS"],
            replicated_votes=settings["REPLICA_WAIT_VOTES"],
        )

    def _tally(self, poll_id: str) -> TallyUpdate | None:
        """The poll's tally as Redis holds it now, for streams whose subscription came back."""
        poll = self.polls.get(poll_id)
        return None if poll is None else TallyUpdate(poll_id, poll.version, poll.yay, poll.nay)

    def close(self) -> None:
        """Stop the change feed and drop the connections (a worker's end, or a test's)."""
        self.changes.stop()
        self.moderation.stop()
        self.jobs.close()
        self.redis.close()

    def is_ready(self) -> bool:
        """True when Redis answers a PING."""
        try:
            return bool(self.redis.ping())
        except UNAVAILABLE_ERRORS:
            return False
