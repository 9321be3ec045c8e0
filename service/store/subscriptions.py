"""Sharded subscriptions: a worker hears only the changes of the ids it serves.

Every poll or thread id has a change channel of its own, ``Keys.change_channel(id)``,
hash-tagged like the id's keys, and writes SPUBLISH to it: on Redis Cluster a change
goes to the one shard that owns the id (a classic PUBLISH is copied over the cluster bus
to every node), and a worker SSUBSCRIBEs only to the channels of the ids it holds a live
stream or a cached answer for, letting each go once it has been idle a while.

A shard channel is served only by the master that owns its slot, so the subscriptions
are grouped by master: one connection and one reading thread (a greenlet under gevent)
per master, opened as channels need it. Whether a change can have been missed is known
per id: ``live_since(id)`` is when Redis last confirmed the id's subscription, None while
it is unconfirmed. When a master's connection fails, only that master's ids lose it;
every other master's keep flowing. The subscriber then asks the cluster for its slots
again, since a worker with no other Redis traffic would otherwise keep the map it had
before the failover (issue 14: one worker's streams never resumed), and subscribes those
ids again wherever their slots now live, every ``reconnect_delay`` seconds until they
are confirmed. A slot that moves away (resharding, or a master demoted while cut off)
makes Redis end its channels' subscriptions with ``sunsubscribe``; they follow the slot
the same way.

On a single Redis node or behind Sentinel there is one "master": the client's own pool
resolves where it is.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

from service import metrics
from service.store.connection import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

# Errors that mean a channel cannot be placed now: Redis is away, or the cluster's map
# has a hole while a failover is under way.
NOT_PLACEABLE = (*UNAVAILABLE_ERRORS, redis.exceptions.RedisClusterException, OSError)


class _Channel:
    """One id's subscription: where it was sent and since when Redis confirmed it."""

    __slots__ = ("tag", "name", "shard", "live_since", "wanted_at", "confirmed", "was_lost")

    def __init__(self, tag: str, name: bytes, wanted_at: float):
        self.tag = tag
        self.name = name
        self.shard: _Shard | None = None  # the master its SSUBSCRIBE went to; None: still to send
        self.live_since: float | None = None
        self.wanted_at = wanted_at
        self.confirmed: threading.Event | None = None  # made only when someone waits
        self.was_lost = False  # its subscription was lost since it was last confirmed


class _SlotwisePubSub(redis.client.PubSub):
    """redis-py's PubSub, but after a reconnect it subscribes to its shard channels again one
    command each: on Redis Cluster one SSUBSCRIBE may name the channels of one slot only."""

    def on_connect(self, connection: Any) -> None:
        shard_channels, self.shard_channels = self.shard_channels, {}
        super().on_connect(connection)
        for name in shard_channels:
            self.ssubscribe(name)


class _Shard:
    """One master's subscription connection, and what it carries."""

    def __init__(self, name: str, pubsub: Any):
        self.name = name
        self.pubsub = pubsub
        self.channels: set[bytes] = set()
        self.dropping: set[bytes] = set()  # SUNSUBSCRIBEs we sent: their replies are no news
        self.lost = False


class ShardedSubscriber:
    """SSUBSCRIBEs to the change channel of each id asked for, grouped by master.

    ``on_message(tag, payload)`` runs on a reading thread for every message, and
    ``on_resumed(tag)`` when a subscription is confirmed again after it was lost (changes
    made meanwhile went unheard); both must be quick. Threads start on the first ``want``.
    """

    def __init__(
        self,
        client: Any,
        channel_of: Callable[[str], str],
        on_message: Callable[[str, bytes], None],
        *,
        on_resumed: Callable[[str], None] = lambda tag: None,
        reconnect_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.channel_of = channel_of
        self.on_message = on_message
        self.on_resumed = on_resumed
        self.reconnect_delay = reconnect_delay
        self.clock = clock
        self._channels: dict[str, _Channel] = {}
        self._by_name: dict[bytes, _Channel] = {}
        self._shards: dict[str, _Shard] = {}
        self._to_send: set[str] = set()
        self._to_drop: list[tuple[_Shard, bytes]] = []
        self._stale_map = False  # the cluster's slot map must be read again
        self._failed_node: str | None = None  # the master whose failure made it stale
        self._outage = False
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()
        self._work = threading.Event()
        self._stopped = threading.Event()
        self._started = False

    # -- what callers use -----------------------------------------------------------

    def want(self, tag: str) -> float | None:
        """Subscribe to ``tag``'s changes unless already done; since when (clock) they are
        confirmed, or None while they are not (then a change may go unseen)."""
        if self._stopped.is_set():
            return None
        channel = self._channels.get(tag)
        if channel is None:
            with self._lock:
                channel = self._channels.get(tag)
                if channel is None:
                    channel = _Channel(tag, self.channel_of(tag).encode(), self.clock())
                    self._channels[tag] = channel
                    self._by_name[channel.name] = channel
                    self._to_send.add(tag)
            self._start()
            self._work.set()
        channel.wanted_at = self.clock()
        return channel.live_since

    def wait_live(self, tag: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``tag``'s subscription (``want`` it first)."""
        with self._lock:
            channel = self._channels.get(tag)
            if channel is None or channel.live_since is not None:
                return channel is not None
            if channel.confirmed is None:
                channel.confirmed = threading.Event()
            confirmed = channel.confirmed
        return confirmed.wait(timeout)

    def subscribed_on(self, tag: str) -> str | None:
        """The master (``host:port``; ``redis`` off a cluster) ``tag``'s subscription is confirmed
        on, or None."""
        channel = self._channels.get(tag)
        if channel is None or channel.shard is None or channel.live_since is None:
            return None
        return channel.shard.name

    def release_idle(self, keep: set[str], idle: float) -> list[str]:
        """Unsubscribe from every id not in ``keep`` and not wanted for ``idle`` seconds; those ids."""
        cutoff = self.clock() - idle
        released = []
        with self._lock:
            for tag, channel in list(self._channels.items()):
                if tag in keep or channel.wanted_at > cutoff:
                    continue
                released.append(tag)
                del self._channels[tag]
                del self._by_name[channel.name]
                self._to_send.discard(tag)
                shard = channel.shard
                if shard is not None and not shard.lost:
                    shard.channels.discard(channel.name)
                    shard.dropping.add(channel.name)
                    self._to_drop.append((shard, channel.name))
        if released:
            self._work.set()
        return released

    def stop(self) -> None:
        """Drop every subscription and end the threads within about a second."""
        self._stopped.set()
        self._work.set()
        with self._lock:
            for channel in self._channels.values():
                channel.live_since = None
            shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            self._close(shard)

    # -- threads ----------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._route, name="yaynay-subscriptions", daemon=True).start()

    def _route(self) -> None:
        """The one thread that sends SSUBSCRIBE and SUNSUBSCRIBE, so a connection's writes never
        interleave; the reading threads only read."""
        while not self._stopped.is_set():
            self._work.wait(self.reconnect_delay)
            self._work.clear()
            if self._stopped.is_set():
                return
            if self._stale_map:
                self._refresh_topology()
            with self._lock:
                to_send, self._to_send = self._to_send, set()
                to_drop, self._to_drop = self._to_drop, []
            for shard, name in to_drop:
                try:
                    shard.pubsub.sunsubscribe(name)
                except Exception as error:  # noqa: BLE001 -- this thread must outlive any refusal
                    self._failed(shard, error)
            unreachable: set[str] = set()
            for tag in to_send:
                self._send(tag, unreachable)

    def _send(self, tag: str, unreachable: set[str]) -> None:
        """SSUBSCRIBE to ``tag``'s channel on the master owning it, unless that master was
        found unreachable in this pass; a failure puts it back for the next pass."""
        channel = self._channels.get(tag)
        if channel is None or channel.shard is not None:
            return  # released meanwhile, or already sent
        shard = None
        try:
            shard = self._shard_for(channel.name, unreachable)
            with self._lock:
                if self._channels.get(tag) is not channel or shard.lost:
                    raise redis.exceptions.ConnectionError("changed meanwhile")
                channel.shard = shard
                shard.channels.add(channel.name)
                shard.dropping.discard(channel.name)
            shard.pubsub.ssubscribe(channel.name)
        except Exception as error:  # noqa: BLE001 -- a dead router would subscribe nothing more
            with self._lock:
                if channel.shard is shard:
                    channel.shard = None
                if self._channels.get(tag) is channel:
                    self._to_send.add(tag)
            if shard is not None:
                unreachable.add(shard.name)
                self._failed(shard, error)
            self._stale_map = True

    def _failed(self, shard: _Shard, error: Exception) -> None:
        """A command on ``shard``'s connection failed: start it afresh (tried again in
        ``reconnect_delay``). An error other than Redis being away is logged: seen once, an
        answer of a connection's handshake read by the command after it, two threads having
        reconnected the one connection at once."""
        if not isinstance(error, NOT_PLACEABLE):
            log.exception("change subscriptions on %s: a command failed", shard.name)
        self._lose(shard)

    def _shard_for(self, name: bytes, unreachable: set[str]) -> _Shard:
        """The subscription connection of the master that owns channel ``name``, opened if new;
        raises ConnectionError for a master in ``unreachable``."""
        cluster = isinstance(self.client, RedisCluster)
        node = self.client.get_node_from_key(name) if cluster else None
        key = node.name if node is not None else "redis"
        if key in unreachable:
            raise redis.exceptions.ConnectionError(f"{key} is unreachable")
        with self._lock:
            shard = self._shards.get(key)
        if shard is not None:
            return shard
        if node is not None:
            # A pool of its own: redis-py drops the node pools it knows whenever it reads
            # the slot map again, which would cut every master's subscriptions at once.
            nodes = self.client.nodes_manager
            pool = nodes.create_redis_node(node.host, node.port, **nodes.connection_kwargs).connection_pool
        else:
            pool = self.client.connection_pool
        shard = _Shard(key, _SlotwisePubSub(connection_pool=pool))
        with self._lock:
            self._shards[key] = shard
        threading.Thread(target=self._read, args=(shard,), name=f"yaynay-changes-{key}", daemon=True).start()
        return shard

    def _read(self, shard: _Shard) -> None:
        """Read one master's messages until its connection fails or the subscriber stops."""
        while not self._stopped.is_set() and not shard.lost:
            try:
                message = shard.pubsub.get_message(timeout=1.0)
            except Exception as error:  # noqa: BLE001 -- a dead reader would leave its ids "live"
                if not (isinstance(error, NOT_PLACEABLE) or shard.lost or self._stopped.is_set()):
                    log.exception("change subscriptions on %s failed", shard.name)
                self._lose(shard)
                return
            if message is None:
                continue
            kind, name = message["type"], message["channel"]
            if kind == "smessage":
                channel = self._by_name.get(name)
                if channel is not None:
                    self.on_message(channel.tag, message["data"])
            elif kind == "ssubscribe":
                self._confirm(shard, name)
            elif kind == "sunsubscribe":
                self._unsubscribed(shard, name)

    def _confirm(self, shard: _Shard, name: bytes) -> None:
        """Redis confirmed a subscription (a first one, or again after redis-py reconnected)."""
        with self._lock:
            channel = self._by_name.get(name)
            if channel is None or channel.shard is not shard:
                return
            resumed = channel.live_since is not None or channel.was_lost
            channel.live_since = self.clock()
            channel.was_lost = False
            confirmed = channel.confirmed
            recovered, self._outage = self._outage, False
        if confirmed is not None:
            confirmed.set()
        if resumed:
            self.on_resumed(channel.tag)
        if recovered:
            metrics.REDIS_RECONNECTS.inc()
            log.warning("change subscriptions are being restored; cached reads of their ids start afresh")

    def _unsubscribed(self, shard: _Shard, name: bytes) -> None:
        """Our own SUNSUBSCRIBE answered, or Redis ended the subscription because the slot moved."""
        with self._lock:
            if name in shard.dropping:
                shard.dropping.discard(name)
                return
            channel = self._by_name.get(name)
            if channel is None or channel.shard is not shard:
                return
            self._unplace(channel)
            shard.channels.discard(name)
            shard.pubsub.shard_channels.pop(name, None)  # not to be replayed on a reconnect
            self._stale_map = True
        log.info("the slot of %s moved; subscribing where it lives now", name.decode())
        self._work.set()

    def _unplace(self, channel: _Channel) -> None:
        """Mark ``channel`` unconfirmed and due to be sent again (hold the lock)."""
        channel.shard = None
        channel.live_since = None
        channel.confirmed = None
        channel.was_lost = True
        self._to_send.add(channel.tag)

    def _lose(self, shard: _Shard) -> None:
        """``shard``'s connection failed: its ids are unconfirmed until subscribed again,
        wherever the cluster then says their slots are."""
        with self._lock:
            if shard.lost:
                return
            shard.lost = True
            if self._shards.get(shard.name) is shard:
                del self._shards[shard.name]
            for name in shard.channels:
                channel = self._by_name.get(name)
                if channel is not None and channel.shard is shard:
                    self._unplace(channel)
            affected = len(shard.channels)
            self._stale_map, self._failed_node = True, shard.name
        if not self._stopped.is_set():
            self._outage = True
            metrics.REDIS_ERRORS.inc()
            log.warning(
                "change subscriptions on %s lost (%d ids); their reads skip the cache and their live "
                "tallies pause until they are subscribed again, tried every %s s",
                shard.name,
                affected,
                self.reconnect_delay,
            )
        self._close(shard)

    def _refresh_topology(self) -> None:
        """Read the cluster's slot map again, at most once every ``reconnect_delay`` seconds."""
        if not isinstance(self.client, RedisCluster):
            self._stale_map = False
            return
        if self.clock() - self._last_refresh < self.reconnect_delay:
            return
        self._last_refresh = self.clock()
        self._stale_map = False
        try:
            self.client.nodes_manager.initialize(last_failed_node_name=self._failed_node)
        except NOT_PLACEABLE as error:
            self._stale_map = True
            log.debug("cluster slots not read (%s); trying again", error)

    def _close(self, shard: _Shard) -> None:
        with contextlib.suppress(Exception):
            shard.pubsub.reset()
            if isinstance(self.client, RedisCluster):  # the shard's own pool
                shard.pubsub.connection_pool.disconnect()
