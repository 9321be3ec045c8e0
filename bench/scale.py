"""python -m bench.scale: what ten million threads and ten million polls cost.

Starts a Redis of its own on 127.0.0.1, measures a comment on a new thread and a first
vote that creates a poll (both through the store, on one node) with empty registries,
then loads the registry shards directly (``--threads`` thread ids, ``--polls`` poll ids,
ZADD in batches: minutes, where as many HTTP posts would take days) and measures again.
Prints the registries' memory per entry and each write's latency (median and p99).

    .venv/bin/python -m bench.scale                          # 10 million of each: about 5 minutes, 2.5 GB
    .venv/bin/python -m bench.scale --threads 100000 --polls 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench.servers import start_redis
from service.ratelimit import RateLimit
from service.store import Store
from service.store.comments import CommentLimits, NewComment
from service.store.keys import SHARDS, shard_of
from service.store.polls import NO_POLL_CEILING, VoteLimits

NOW = 1_790_000_000.0
LOAD_BATCH = 10_000
SAMPLES = 2000
LIMITS = CommentLimits(
    rates=(RateLimit(5, 60), RateLimit(50, 86400)),
    new_threads_per_day=100,
    surge_per_hour=10**9,
    duplicate_window=600,
    idempotency_ttl=86400,
)
VOTE_LIMITS = VoteLimits(RateLimit(30, 60), 20)


def new_comment(n: int) -> NewComment:
    return NewComment(
        author="Reader",
        body=f"A first comment on article {n}",
        email=f"reader{n}@example.com",
        website=None,
        parent_id=None,
        voter=None,
        ip_digest=f"ip-{n}",
        user_agent="bench",
        text_digest=f"text-{n}",
        email_digest=f"email-{n}",
        idempotency_digest=None,
        links=0,
    )


def timed(action: Callable[[int], object], label: str) -> str:
    """``action(n)`` SAMPLES times: the median and p99 latency in µs."""
    took = []
    for n in range(SAMPLES):
        started = time.perf_counter()
        action(n)
        took.append((time.perf_counter() - started) * 1e6)
    took.sort()
    return f"{label}: median {statistics.median(took):.0f} µs, p99 {took[int(len(took) * 0.99)]:.0f} µs"


def load(client: redis.Redis, shard_key: Callable[[int], str], prefix: str, count: int) -> float:
    """Write ``count`` ids ``<prefix><n>`` into their registry shards; returns bytes per id."""
    before = client.info("memory")["used_memory"]
    for start in range(0, count, LOAD_BATCH):
        by_shard: dict[int, dict[str, float]] = {}
        for n in range(start, min(start + LOAD_BATCH, count)):
            item = f"{prefix}{n}"
            by_shard.setdefault(shard_of(item), {})[item] = NOW - n
        with client.pipeline(transaction=False) as pipe:
            for shard, entries in by_shard.items():
                pipe.zadd(shard_key(shard), entries)
            pipe.execute()
    return (client.info("memory")["used_memory"] - before) / count


def measure(store: Store, label: str, round_: int) -> list[str]:
    """A comment on a new thread, and a first vote creating a poll (a new client IP each)."""

    def comment(n: int) -> object:
        thread = f"fresh-{round_}-{n}"
        return store.comments.submit(thread, new_comment(n), status="pending", now=NOW, limits=LIMITS)

    def first_vote(n: int) -> object:
        return store.polls.cast_vote(
            f"fresh-poll-{round_}-{n}",
            voter=n.to_bytes(8, "big"),
            choice="yay",
            ip=f"ip-{round_}-{n}",
            now=NOW,
            limits=VOTE_LIMITS,
            auto_create_up_to=NO_POLL_CEILING,
            auto_create_per_ip_per_day=10,
        )

    return [timed(comment, f"{label}: comment on a new thread"), timed(first_vote, f"{label}: vote creating a poll")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--threads", type=int, default=10_000_000)
    parser.add_argument("--polls", type=int, default=10_000_000)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        server = start_redis(Path(workdir))
        try:
            client = redis.Redis.from_url(server.url)
            store = Store(client, prefix="scale")
            before = client.info("memory")["used_memory"]
            lines = measure(store, "empty registries", 0)
            # Each sample above is a new thread's first comment and a new poll's first vote,
            # from new clients: what one of each costs in all, rate counters included.
            per_sample = (client.info("memory")["used_memory"] - before) / SAMPLES
            per_thread = load(client, lambda shard: store.keys.thread_registries()[shard], "article-", options.threads)
            per_poll = load(client, lambda shard: store.keys.poll_registries()[shard], "poll-", options.polls)
            lines += measure(store, f"{options.threads:,} threads and {options.polls:,} polls", 1)
            sizes = [client.zcard(key) for key in store.keys.thread_registries()]
            lines += [
                f"thread registry: {per_thread:.1f} bytes a thread, {SHARDS} shards of {min(sizes):,}-{max(sizes):,}",
                f"poll registry: {per_poll:.1f} bytes a poll",
                f"a new thread with its first comment and a new poll with its first vote: {per_sample:,.0f} bytes",
                f"used_memory: {client.info('memory')['used_memory'] / 2**20:,.0f} MiB",
            ]
            print("\n".join(lines))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
