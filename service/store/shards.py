"""Reading the sharded site-wide sorted sets (the poll and thread registries, the queue) as
one, and moving what earlier versions kept in a single key into the shards.

Each shard is its own hash tag (``keys.SHARDS`` of them), so on Redis Cluster a read is a
pipeline that redis-py splits by node, and on one node a single round trip.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any

# Entries moved from a single legacy key to its shards per round trip.
MOVE_BATCH = 1000


def newest_first(redis: Any, shards: Sequence[str], *, offset: int, limit: int) -> tuple[list[tuple[str, float]], int]:
    """Members ``offset`` to ``offset + limit`` of the shards taken together, highest score
    first (ties by member), and how many the shards hold. Each shard gives its top
    ``offset + limit``, so a deep page costs more than the first."""
    with redis.pipeline(transaction=False) as pipe:
        for shard in shards:
            pipe.zrevrange(shard, 0, offset + limit - 1, withscores=True)
        for shard in shards:
            pipe.zcard(shard)
        replies = pipe.execute()
    rows = [(member.decode(), score) for reply in replies[: len(shards)] for member, score in reply]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return rows[offset : offset + limit], sum(int(count) for count in replies[len(shards) :])


def every_member(redis: Any, shards: Sequence[str]) -> list[tuple[str, float]]:
    """Every member of the shards with its score, lowest score first."""
    with redis.pipeline(transaction=False) as pipe:
        for shard in shards:
            pipe.zrange(shard, 0, -1, withscores=True)
        replies = pipe.execute()
    rows = [[(member.decode(), score) for member, score in reply] for reply in replies]
    return list(heapq.merge(*rows, key=lambda row: (row[1], row[0])))


def move_into_shards(redis: Any, legacy: str, shard_of_member: Callable[[str], str]) -> int:
    """Move every member of the sorted set ``legacy`` (a key of an earlier version) to the
    shard ``shard_of_member`` names, keeping the lower score where a shard has it already,
    then delete ``legacy``. Safe to run again after a crash; returns how many moved."""
    moved = 0
    while True:
        rows = redis.zrange(legacy, 0, MOVE_BATCH - 1, withscores=True)
        if not rows:
            return moved
        by_shard: dict[str, dict[str, float]] = {}
        for member, score in rows:
            by_shard.setdefault(shard_of_member(member.decode()), {})[member.decode()] = score
        with redis.pipeline(transaction=False) as pipe:
            for shard, entries in by_shard.items():
                pipe.zadd(shard, entries, nx=True)
                pipe.zadd(shard, entries, lt=True)
            pipe.execute()
        redis.zrem(legacy, *(member for member, _ in rows))
        moved += len(rows)
