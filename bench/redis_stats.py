"""What Redis itself says about a run: client round trips, and memory.

Counting round trips. Checked on Redis 7.0.15 (redis-py 8.1) with a script that calls
five commands, run 100 times with EVALSHA, then one pipeline of 50 HGETALLs and one
MULTI/EXEC of 5 INCRBYs: ``INFO commandstats`` counted the EVALSHA 100 times *and* each
command inside it 100 times (SET, INCR, GET, HSET, PUBLISH: 100 calls each), and
``total_commands_processed`` grew by 657 (100 + 500 + 50 + 7): both count every command,
in scripts and in pipelines, one by one, so neither counts round trips.
``total_reads_processed`` grew by 103: one per EVALSHA, one per pipeline (the MULTI...EXEC
too, sent as one), and one for the INFO that read it. Redis counts a read event
each time it reads a client socket, and a client that waits for each answer before its
next request (redis-py, and a pipeline sent in one write) makes one read per round trip.
So a round trip here is a read event: each EVAL/EVALSHA and each pipeline counts once,
whatever it runs inside Redis. ``RoundTripCounter.check`` repeats the test at start-up.

What is counted: everything any client sent in the measured window, less the bench's own
INFO. Background traffic is small and left in: a PING before reusing a pooled connection
idle for 30 s (redis-py's health check, at most once per connection per run), the same
on each worker's change subscription, and the handshake of a connection the pool opens
(absorbed by the warm-up; a --quick run has none, so its figures come out a little
high). A request too large for one 16 KiB read would count twice; no scenario sends one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from service.identity import voter_digest
from service.ratelimit import RateLimit
from service.store import Store
from service.store.polls import VoteLimits
from service.store.voters import address, bucket_keys, bucket_of, buckets_for, record_field

_CALIBRATION_SCRIPT = "for i = 1, 5 do redis.call('INCR', KEYS[1]) end return 1"


class RoundTripCounter:
    """Counts the round trips clients make to one Redis between two ``read`` calls."""

    def __init__(self, redis):
        self.redis = redis

    def read(self) -> int:
        """Read events so far, this call's own included."""
        return self.redis.info("stats")["total_reads_processed"]

    def since(self, earlier: int) -> int:
        """Round trips made since ``read`` returned ``earlier``, without the two INFO calls."""
        return self.read() - earlier - 1

    def check(self) -> bool:
        """True when this Redis counts one read per script call and per pipeline (see the module doc)."""
        key = "bench:round-trip-check"
        before = self.read()
        for _ in range(10):
            self.redis.eval(_CALIBRATION_SCRIPT, 1, key)
        with self.redis.pipeline(transaction=False) as pipe:
            for _ in range(10):
                pipe.incr(key)
            pipe.execute()
        counted = self.since(before)
        self.redis.delete(key)
        return counted == 11


@dataclass(frozen=True)
class VoterMemory:
    voters: int
    bytes_per_voter: float
    buckets: int
    sample_encoding: str
    sample_voters: int
    seconds: float
    by_votes: bool  # loaded through the vote script, not written directly

    @property
    def voters_per_bucket(self) -> float:
        return self.voters / self.buckets


# Polls up to this size are loaded by votes through the vote script itself (about 10 s for
# 100,000); larger ones are written directly in the layout the script makes, which
# tests/store/test_voters.py checks is the same.
VOTES_UP_TO = 100_000
_LOADER_IP = "bench-loader"
_LOADER_NOW = 1_790_000_000.0
_GENEROUS = VoteLimits(RateLimit(count=1 << 40, window=60), new_voters_per_day=1 << 40)


def preloaded_voter(secret_key: str, poll_id: str, n: int) -> bytes:
    return voter_digest(secret_key, poll_id, f"preloaded-voter-{n:09d}")


def load_voters(store: Store, secret_key: str, poll_id: str, count: int) -> bool:
    """Create the poll with ``count`` voters (half yay, half nay); True when they came as
    votes through the vote script, False when written directly (more than VOTES_UP_TO)."""
    redis, keys = store.redis, store.keys
    store.polls.save(poll_id, question="Preloaded?", closes_at=None, allow_change=True, now=_LOADER_NOW)
    if count <= VOTES_UP_TO:
        for n in range(count):
            store.polls.cast_vote(
                poll_id,
                voter=preloaded_voter(secret_key, poll_id, n),
                choice=("yay", "nay")[n % 2],
                ip=_LOADER_IP,
                now=_LOADER_NOW,
                limits=_GENEROUS,
            )
        # The loader's own rate-limit and integrity counters are not the voters' memory.
        hour, rate = int(_LOADER_NOW // 3600), _GENEROUS.rate
        redis.delete(
            keys.vote_rate(poll_id, _LOADER_IP, rate.window_start(_LOADER_NOW)),
            keys.new_voters(poll_id, _LOADER_IP, int(_LOADER_NOW // 86400)),
            keys.vote_integrity(poll_id, hour),
            keys.vote_ips(poll_id, hour),
        )
        return True
    buckets = buckets_for(count)
    chunk = 1_000_000
    for start in range(0, count, chunk):
        placed: dict[int, dict[bytes, int]] = {}
        for n in range(start, min(start + chunk, count)):
            field = record_field(preloaded_voter(secret_key, poll_id, n))
            placed.setdefault(bucket_of(field, buckets), {})[field] = 1 + n % 2
        with redis.pipeline(transaction=False) as pipe:
            for bucket, fields in placed.items():
                pipe.hset(keys.voter_bucket(poll_id, bucket), mapping=fields)
            pipe.execute()
    redis.hset(keys.poll(poll_id), mapping={"voter_buckets": buckets, "yay": (count + 1) // 2, "nay": count // 2})
    return False


def poll_memory(store: Store, poll_id: str) -> int:
    """Bytes the poll's hash and voter buckets hold, by MEMORY USAGE (each key's allocations
    as jemalloc rounds them, its name and its entry in the keyspace). ``used_memory`` before
    and after a load moved with the clients' buffers and the Lua engine by 10 to 50 KB
    (a 1,000-voter poll measured 7.8, 13.4 and 23 B a voter in three runs)."""
    keys = [store.keys.poll(poll_id), *bucket_keys(store.keys, poll_id, store.polls.layout(poll_id))]
    total = 0
    for start in range(0, len(keys), 10_000):
        with store.redis.pipeline(transaction=False) as pipe:
            for key in keys[start : start + 10_000]:
                pipe.memory_usage(key, samples=0)
            total += sum(used or 0 for used in pipe.execute())
    return total


def measure_voter_memory(store: Store, secret_key: str, poll_id: str, count: int) -> VoterMemory:
    """Load ``count`` voters into a new poll and report the bytes its keys hold per voter."""
    redis, keys = store.redis, store.keys
    started = time.monotonic()
    by_votes = load_voters(store, secret_key, poll_id, count)
    used = poll_memory(store, poll_id)
    layout = int(redis.hget(keys.poll(poll_id), "voter_buckets"))
    sample = address(keys, poll_id, preloaded_voter(secret_key, poll_id, 0), layout).key
    encoding = redis.object("encoding", sample)
    return VoterMemory(
        voters=count,
        bytes_per_voter=used / count,
        buckets=layout,
        sample_encoding=encoding.decode() if isinstance(encoding, bytes) else str(encoding),
        sample_voters=redis.hlen(sample),
        seconds=time.monotonic() - started,
        by_votes=by_votes,
    )
