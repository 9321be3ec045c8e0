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
from service.store.keys import VOTER_BUCKETS, Keys

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
    sample_encoding: str
    sample_voters: int
    seconds: float

    @property
    def voters_per_bucket(self) -> float:
        return self.voters / VOTER_BUCKETS


def load_voters(redis, keys: Keys, secret_key: str, poll_id: str, count: int, *, first: int = 0) -> None:
    """Write ``count`` distinct voter records into the poll, laid out as the vote script does.

    Records go bucket by bucket (one HSET of many fields a bucket, pipelined), so a million
    voters take seconds, not the minutes a million votes over HTTP would.
    """
    chunk = 100_000
    for start in range(first, first + count, chunk):
        buckets: dict[str, dict[bytes, int]] = {}
        for n in range(start, min(start + chunk, first + count)):
            bucket, field = keys.voter_record(poll_id, voter_digest(secret_key, poll_id, f"preloaded-voter-{n:09d}"))
            buckets.setdefault(bucket, {})[field] = 1 + n % 2
        with redis.pipeline(transaction=False) as pipe:
            for bucket, fields in buckets.items():
                pipe.hset(bucket, mapping=fields)
            pipe.execute()


def measure_voter_memory(redis, keys: Keys, secret_key: str, poll_id: str, count: int) -> VoterMemory:
    """Load ``count`` voters into the (empty) poll and report Redis's ``used_memory`` growth per voter."""
    started = time.monotonic()
    before = redis.info("memory")["used_memory"]
    load_voters(redis, keys, secret_key, poll_id, count)
    used = redis.info("memory")["used_memory"] - before
    sample, _ = keys.voter_record(poll_id, voter_digest(secret_key, poll_id, "preloaded-voter-000000000"))
    encoding = redis.object("encoding", sample)
    return VoterMemory(
        voters=count,
        bytes_per_voter=used / count,
        sample_encoding=encoding.decode() if isinstance(encoding, bytes) else str(encoding),
        sample_voters=redis.hlen(sample),
        seconds=time.monotonic() - started,
    )
