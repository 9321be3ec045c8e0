"""Fan-out on a Redis Cluster: the cluster-bus messages a vote costs, and the changes a worker decodes.

A 3-master + 3-replica cluster of local redis-servers; votes cast in-process through the
API (the vote script SPUBLISHes the tally on the poll's own channel), while two "workers"
(ChangeFeeds, each on a client of its own) each stream a tenth of the polls. Before: the
same tallies PUBLISHed on one site-wide channel, as the vote script did, which both workers
subscribed to. The bus counts are Redis's own (CLUSTER INFO's
``cluster_stats_messages_publish_sent`` and ``..._publishshard_sent``, summed over the
nodes); bytes are those counts times the size Redis 7.0 gives such a message, its
2,256-byte header (the 16,384-slot bitmap is most of it) plus 8 bytes, the channel and the
payload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.servers import ADMIN_TOKEN, SECRET_KEY, UNLIMITED
from service import create_app
from service.store import Store
from service.store.connection import connect
from tests.cluster import Cluster  # the suite's local cluster, started the same way

BUS_MESSAGE_OVERHEAD = 2256 + 8
PREFIX = "bench-bus"


@dataclass(frozen=True)
class BusCost:
    votes: int
    polls: int
    served: int  # polls each worker streams
    publish_messages: int  # before: PUBLISH on one channel
    shard_messages: int  # after: SPUBLISH on the poll's channel
    publish_bytes: int  # channel + payload of one message, before
    shard_bytes: int  # and after
    decoded_before: list[int]  # per worker
    decoded_after: list[int]

    def per_vote(self, count: float) -> float:
        return count / self.votes


def bus_counts(cluster: Cluster) -> tuple[int, int]:
    """PUBLISH and SPUBLISH messages the nodes have sent over the bus so far."""
    publish = shard = 0
    for node in cluster.nodes:
        client = redis.Redis.from_url(node.url)
        try:
            info = client.execute_command("CLUSTER", "INFO", NEVER_DECODE=True).decode()
        finally:
            client.close()
        stats = dict(line.split(":", 1) for line in info.split() if ":" in line)
        publish += int(stats.get("cluster_stats_messages_publish_sent", 0))
        shard += int(stats.get("cluster_stats_messages_publishshard_sent", 0))
    return publish, shard


def measure_bus(directory: Path, *, votes: int, polls: int = 100, served: int = 10) -> BusCost:
    """Cast ``votes`` votes spread over ``polls`` polls on a 3+3 cluster, then PUBLISH the same
    tallies on one channel, counting bus messages and what two workers receive each time."""
    with Cluster(directory, masters=3, replicas=1) as cluster:
        settings = {
            "REDIS_URL": cluster.url,
            "REDIS_CLUSTER": True,
            "KEY_PREFIX": PREFIX,
            "SECRET_KEY": SECRET_KEY,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "VOTE_RATE_LIMIT": f"{UNLIMITED}/minute",
            "VOTERS_PER_IP_PER_DAY": int(UNLIMITED),
            "MAX_POLLS": int(UNLIMITED),
            "AUTO_CREATE_POLLS": True,
        }
        app = create_app(settings)
        workers = [Store(connect(cluster.url, cluster=True), PREFIX) for _ in range(2)]
        try:
            client = app.test_client()
            poll_ids = [f"bus-{n}" for n in range(polls)]
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            for poll_id in poll_ids:
                client.put(f"/api/v1/polls/{poll_id}", json={"question": "Bus?"}, headers=admin)
            for index, worker in enumerate(workers):
                for poll_id in poll_ids[index * served : (index + 1) * served]:
                    worker.changes.listen(poll_id)
            payloads = []
            publish_before, shard_before = bus_counts(cluster)
            for n in range(votes):
                poll_id = poll_ids[n % polls]
                answer = client.post(
                    f"/api/v1/polls/{poll_id}/votes", json={"choice": "yay", "voter": f"bus-voter-{n:08d}"}
                )
                tally = answer.json["tally"]
                payloads.append(f"{poll_id} {n // polls + 1} {tally['yay']} {tally['nay']}")
            time.sleep(1.0)  # the last messages reach the workers
            publish_mid, shard_after = bus_counts(cluster)
            decoded_after = [worker.changes.received for worker in workers]

            old_channel = f"{PREFIX}:tallies"
            subscribers = [worker.redis.pubsub() for worker in workers]
            for subscriber in subscribers:
                subscriber.subscribe(old_channel)
                subscriber.get_message(timeout=1.0)  # the confirmation
            publisher = workers[0].redis
            for payload in payloads:
                publisher.publish(old_channel, payload)
            decoded_before = [drain(subscriber) for subscriber in subscribers]
            publish_after, _ = bus_counts(cluster)
            for subscriber in subscribers:
                subscriber.close()
        finally:
            for worker in workers:
                worker.close()
            app.extensions["yaynay"].close()
    sample = payloads[-1]
    shard_channel = workers[0].keys.change_channel(sample.split()[0])
    return BusCost(
        votes=votes,
        polls=polls,
        served=served,
        publish_messages=publish_after - publish_mid,
        shard_messages=shard_after - shard_before + (publish_mid - publish_before),
        publish_bytes=len(old_channel) + len(sample),
        shard_bytes=len(shard_channel) + len(sample),
        decoded_before=decoded_before,
        decoded_after=decoded_after,
    )


def drain(subscriber, quiet: float = 1.0) -> int:
    """Messages ``subscriber`` receives until none comes for ``quiet`` seconds."""
    received = 0
    while True:
        message = subscriber.get_message(timeout=quiet)
        if message is None:
            return received
        if message["type"] == "message":
            received += 1
