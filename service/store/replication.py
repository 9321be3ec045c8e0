"""Writes that must outlive their master: a script, then ``WAIT`` for a replica, in one round trip.

Redis replicates asynchronously: a master killed right after it answered may take the
write with it, and the replica promoted in its place never saw it. ``WAIT n ms`` after the
write answers once ``n`` replicas have it, or after ``ms`` with how many did. ``WAIT``
counts the writes of the connection it is sent on, so it goes in the same pipeline as the
script, on the master of the script's slot, never as a second call that the pool may hand
another connection. Writes made elsewhere (a Redis Cluster pipeline over several slots)
are confirmed by a short write of a probe key in their slot, then ``WAIT``: a master's
replication stream is one sequence, so replicas that have the probe have all before it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import AskError, ConnectionError, MovedError, NoScriptError, RedisError, TimeoutError

from service.errors import StoreUnavailable

# How long a master's count of connected replicas is trusted: a replica that left is
# noticed within this (its master stops waiting for it), at one INFO a master this often.
REPLICA_COUNT_TTL = 5.0


class ReplicaTimeout(Exception):
    """Fewer replicas than wanted confirmed a write in time; the write stays on its master."""


class ReplicaWait:
    """Runs a script so that it returns only once ``replicas`` replicas of the master that
    took it have it, waiting at most ``timeout_ms``; raises ``StoreUnavailable`` (503) when
    they did not confirm in time. The retry is safe: the writes it guards are idempotent.

    A master with fewer connected replicas than ``replicas`` is waited on for those it
    has, so a Redis without replicas pays nothing; ``replicas`` 0 never waits.
    """

    def __init__(self, redis: Any, *, replicas: int = 1, timeout_ms: int = 250, clock: Any = time.monotonic):
        self.redis = redis
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.clock = clock
        self._connected: dict[str, tuple[int, float]] = {}

    def run(self, script: Script, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """``script(keys=keys, args=args)``, confirmed by replicas as described above."""
        return self._write_and_wait(
            keys[0],
            lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args),
            unwaited=lambda: script(keys=keys, args=args),
            load=script,
        )

    def confirm(self, probe: str) -> None:
        """Return once replicas have every write that the master of ``probe``'s slot took
        so far, from any connection: a short-lived write of ``probe`` then ``WAIT``, which
        counts up to it. For index writes made in a pipeline of several slots (Redis Cluster)."""
        self._write_and_wait(probe, lambda pipe: pipe.set(probe, 1, px=1000), unwaited=lambda: None, load=None)

    def _write_and_wait(
        self, key: Any, write: Callable[[Any], Any], *, unwaited: Callable[[], Any], load: Script | None
    ) -> Any:
        """``write(pipe)`` then ``WAIT`` in one pipeline on the master of ``key``'s slot; its reply.
        ``unwaited()`` instead when there is no replica to wait for; ``load`` is the script
        to load when the master answers NOSCRIPT."""
        if self.replicas <= 0:
            return unwaited()
        for _ in range(3):
            node_name, client = self._master_of(key)
            try:
                wanted = min(self.replicas, self._connected_replicas(node_name, client))
                if wanted == 0:
                    return unwaited()
                with client.pipeline(transaction=False) as pipe:
                    write(pipe)
                    pipe.wait(wanted, self.timeout_ms)
                    reply, confirmed = pipe.execute(raise_on_error=False)
            except (ConnectionError, TimeoutError):
                # The master is gone: this call bypassed the cluster client, which would have
                # looked for its successor, so look for it here (the answer is a 503 anyway).
                self._refresh_cluster(failed=node_name)
                raise
            if isinstance(reply, NoScriptError) and load is not None:  # a restarted or promoted master
                client.script_load(load.script)
                continue
            if isinstance(reply, (MovedError, AskError)):  # the slot moved (a failover): look again
                self._refresh_cluster(failed=None)
                continue
            if isinstance(reply, Exception):
                raise reply
            if isinstance(confirmed, Exception):
                raise confirmed
            if confirmed < wanted:
                self._connected.pop(node_name, None)  # perhaps a replica left: count them again
                raise StoreUnavailable(
                    "The write is not yet safe on a replica; try again shortly."
                ) from ReplicaTimeout(f"{confirmed} of {wanted} replicas in {self.timeout_ms} ms")
            return reply
        return unwaited()  # the cluster kept moving: the plain call follows it

    def _refresh_cluster(self, *, failed: str | None) -> None:
        """Redis Cluster: learn which masters own which slots now, trying ``failed`` last."""
        if not isinstance(self.redis, RedisCluster):
            return
        with contextlib.suppress(RedisError):  # no node answers now: the next call tries again
            self.redis.nodes_manager.initialize(last_failed_node_name=failed)

    def _master_of(self, key: Any) -> tuple[str, Any]:
        """The name and the plain client of the master that owns ``key`` (one node: itself)."""
        if isinstance(self.redis, RedisCluster):
            node = self.redis.get_node_from_key(key)
            return node.name, self.redis.get_redis_connection(node)
        return "", self.redis

    def _connected_replicas(self, node_name: str, client: Any) -> int:
        count, expires = self._connected.get(node_name, (0, 0.0))
        if self.clock() >= expires:
            count = int(client.info("replication").get("connected_slaves", 0))
            self._connected[node_name] = (count, self.clock() + REPLICA_COUNT_TTL)
        return count
