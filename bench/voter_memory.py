"""Redis memory per voter record at a million voters on one poll.

Fills one poll's voter records the way the vote script lays them out (keys from
store/keys.py, fields from identity.voter_digest) in a Redis of its own, and prints the
memory Redis reports per voter, with the encoding of the bucket hashes.

    .venv/bin/python bench/voter_memory.py --voters 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.identity import voter_digest  # noqa: E402
from service.store.embedded import RedisProcess, free_port  # noqa: E402
from service.store.keys import VOTER_BUCKETS, Keys  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=1_000_000)
    args = parser.parse_args()
    keys = Keys("yaynay")
    with tempfile.TemporaryDirectory() as workdir, \
            RedisProcess(Path(workdir), port=free_port(), persist=False) as server:
        client = redis.Redis.from_url(server.url)
        before = client.info("memory")["used_memory"]
        started = time.monotonic()
        pipe = client.pipeline(transaction=False)
        for n in range(args.voters):
            bucket, field = keys.voter_record("mini-backpacks", voter_digest("bench", "mini-backpacks", f"v{n}"))
            pipe.hset(bucket, field, 1 + n % 2)
            if n % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        used = client.info("memory")["used_memory"] - before
        sample = keys.voter_bucket("mini-backpacks", 0)
        print(f"{args.voters:,} voters in {VOTER_BUCKETS:,} buckets "
              f"(filled in {time.monotonic() - started:.0f} s, Redis {client.info()['redis_version']})")
        print(f"  {used / 2**20:.1f} MiB, {used / args.voters:.1f} bytes a voter")
        print(f"  a bucket holds {client.hlen(sample)} voters, encoded as {client.object('encoding', sample).decode()}")


if __name__ == "__main__":
    main()
