"""A Redis Cluster master killed under votes: the other masters' streams and cached reads do
not notice, and the killed master's polls resume by themselves once its replica is promoted;
and a poll's slot moved to another master (resharding) takes its live stream along.

A 3-master + 3-replica cluster of real redis-servers (``cluster-node-timeout`` 2000 ms,
so a failover takes a few seconds); one app listens to live tallies of polls on every
master, as a worker's streams do, while one writer thread a poll votes through other apps
(one a master, so a writer stuck on the failed master holds up no other). The figures,
the longest gap between two tallies of each poll after the kill, go to
``test-output/cluster-failover.md`` for the README's Reliability section.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict

import pytest
import redis

from service import create_app
from service.store.embedded import RedisProcess
from tests.cluster import Cluster
from tests.conftest import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

NODE_TIMEOUT_MS = 2000
POLLS_PER_MASTER = 3
VOTE_EVERY = 0.05  # seconds between one writer's votes
AFTER_KILL = 12.0  # seconds of votes after the kill: the failover and some time after it
REPORT = ROOT / "test-output" / "cluster-failover.md"


@pytest.fixture
def cluster(tmp_path):
    """Three masters, each with a replica, all agreeing that the cluster is up."""
    extra_args = [
        # A replica takes over however long it was cut off: the test kills, it never partitions.
        "--cluster-replica-validity-factor",
        "0",
        # The healthy masters keep answering while a slot has no master (by default the
        # whole cluster answers CLUSTERDOWN from the failure to the promotion: measured
        # 1.0 s of refused votes on every master here).
        "--cluster-require-full-coverage",
        "no",
    ]
    with Cluster(tmp_path, masters=3, replicas=1, node_timeout_ms=NODE_TIMEOUT_MS, extra_args=extra_args) as started:
        yield started.nodes


def master_of(nodes: list[RedisProcess], key: str) -> RedisProcess:
    client = redis.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    try:
        port = client.get_node_from_key(key).port
    finally:
        client.close()
    return next(node for node in nodes if node.port == port)


def polls_by_master(nodes: list[RedisProcess], prefix: str) -> dict[int, list[str]]:
    """POLLS_PER_MASTER poll ids owned by each master, by the master's port."""
    found: dict[int, list[str]] = defaultdict(list)
    for n in range(200):
        poll_id = f"fo-{n}"
        port = master_of(nodes, f"{prefix}:poll:{{{poll_id}}}").port
        if len(found[port]) < POLLS_PER_MASTER:
            found[port].append(poll_id)
    assert len(found) == 3 and all(len(ids) == POLLS_PER_MASTER for ids in found.values())
    return found


def app_on(nodes, settings, prefix):
    settings = {
        **settings,
        "REDIS_URL": nodes[0].url,
        "REDIS_CLUSTER": True,
        "KEY_PREFIX": prefix,
        "AUTO_CREATE_POLLS": True,
        "VOTE_RATE_LIMIT": "1000000/minute",
        "VOTERS_PER_IP_PER_DAY": 100000000,
    }
    return create_app(settings)


def test_a_killed_master_stalls_only_its_own_polls_and_they_resume_after_promotion(cluster, settings, admin):
    prefix = "failover"
    owned = polls_by_master(cluster, prefix)
    victim = master_of(cluster, f"{prefix}:tallies")  # the old single channel's master: all streams stopped
    reader = app_on(cluster, settings, prefix)
    writers = {port: app_on(cluster, settings, prefix) for port in owned}
    feed = reader.extensions["yaynay"].changes
    stop = threading.Event()
    arrivals: dict[str, list[float]] = defaultdict(list)
    acknowledged: dict[str, int] = defaultdict(int)

    def vote(app, poll_id):
        client = app.test_client()
        count = 0
        while not stop.is_set():
            count += 1
            answer = client.post(
                f"/api/v1/polls/{poll_id}/votes", json={"choice": "yay", "voter": f"voter-{poll_id}-{count:08d}"}
            )
            if answer.status_code == 200:
                acknowledged[poll_id] += 1
            time.sleep(VOTE_EVERY)

    def watch(poll_id, inbox):
        while not stop.is_set():
            if inbox.wait() is not None:
                arrivals[poll_id].append(time.monotonic())

    threads = []
    for port, poll_ids in owned.items():
        for poll_id in poll_ids:
            assert writers[port].test_client().put(f"/api/v1/polls/{poll_id}", json={"question": "Q?"}, headers=admin)
            inbox = feed.listen(poll_id)
            assert feed.subscriptions.wait_live(poll_id, 5)
            threads += [
                threading.Thread(target=vote, args=(writers[port], poll_id), daemon=True),
                threading.Thread(target=watch, args=(poll_id, inbox), daemon=True),
            ]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    killed_at = time.monotonic()
    victim.process.kill()
    victim.process.wait()
    victim.process = None
    healthy_cache_live = []
    ended_at = killed_at + AFTER_KILL
    while time.monotonic() < ended_at:
        healthy_cache_live += [
            feed.is_live(poll_id) for port, poll_ids in owned.items() if port != victim.port for poll_id in poll_ids
        ]
        time.sleep(0.1)
    stop.set()
    feed.close_streams()

    gaps = {}
    for port, poll_ids in owned.items():
        for poll_id in poll_ids:
            seen = [killed_at] + [at for at in arrivals[poll_id] if killed_at <= at <= ended_at]
            times = [*seen, ended_at]  # no tally until the end counts as a stall to the end
            gaps[poll_id] = (port == victim.port, longest_gap(times), seen[-1])
    # The same measure over the second before the kill: what this machine's load alone gives.
    normal = max(longest_gap([at for at in series if killed_at - 2 <= at < killed_at]) for series in arrivals.values())
    write_report(gaps, normal)
    for poll_id, (on_victim, gap, last) in gaps.items():
        assert last > ended_at - 1, f"{poll_id}'s stream never resumed"
        if not on_victim:
            # One coalescing interval (0.25 s) and a writer's pace, with room for a busy machine.
            assert gap < max(1.0, 2 * normal), f"{poll_id} on a healthy master stalled {gap:.2f} s"
    assert all(healthy_cache_live), "a healthy master's ids lost their subscription"
    assert all(feed.is_live(poll_id) for poll_id in owned[victim.port]), "the killed master's ids stayed unsubscribed"
    for app in (reader, *writers.values()):
        app.extensions["yaynay"].close()


def longest_gap(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def write_report(gaps: dict[str, tuple[bool, float, float]], normal: float) -> None:
    healthy = [gap for on_victim, gap, _ in gaps.values() if not on_victim]
    failed = [gap for on_victim, gap, _ in gaps.values() if on_victim]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        f"cluster-node-timeout {NODE_TIMEOUT_MS} ms, {len(gaps)} polls streamed, a master killed (kill -9):\n"
        f"longest gap between tallies after the kill, polls on healthy masters: "
        f"{min(healthy):.2f}-{max(healthy):.2f} s; polls on the killed master: {min(failed):.2f}-{max(failed):.2f} s "
        f"(before the kill, at most {normal:.2f} s)\n"
    )
    print(REPORT.read_text(), os.linesep)


@pytest.fixture
def three_masters(tmp_path):
    with Cluster(tmp_path, masters=3, replicas=0) as started:
        yield started.nodes


def node_id(node: RedisProcess) -> str:
    return redis.Redis.from_url(node.url).execute_command("CLUSTER", "MYID", NEVER_DECODE=True).decode()


def move_slot(slot: int, source: RedisProcess, target: RedisProcess, nodes: list[RedisProcess]) -> None:
    """Reshard one slot with its keys, as ``redis-cli --cluster reshard`` does."""
    source_client, target_client = redis.Redis.from_url(source.url), redis.Redis.from_url(target.url)
    target_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
    source_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))
    while keys := source_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source_client.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in nodes:
        redis.Redis.from_url(node.url).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id(target))


def test_a_stream_follows_its_poll_to_another_master_after_resharding(three_masters, settings, admin):
    prefix = "reshard"
    reader, writer = app_on(three_masters, settings, prefix), app_on(three_masters, settings, prefix)
    feed = reader.extensions["yaynay"].changes
    poll_id = "moving-poll"
    client = writer.test_client()
    assert client.put(f"/api/v1/polls/{poll_id}", json={"question": "Q?"}, headers=admin).status_code == 201
    inbox = feed.listen(poll_id)
    assert feed.subscriptions.wait_live(poll_id, 5)

    def vote(n: int) -> int:
        answer = client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": "yay", "voter": f"moving-voter-{n:06d}"})
        assert answer.status_code == 200, answer.json
        return answer.json["tally"]["yay"]

    vote(1)
    assert inbox.wait().yay == 1
    slot = redis.RedisCluster.from_url(three_masters[0].url).keyslot(f"{prefix}:poll:{{{poll_id}}}")
    source = master_of(three_masters, f"{prefix}:poll:{{{poll_id}}}")
    target = next(node for node in three_masters if node is not source)
    move_slot(slot, source, target, three_masters)

    deadline = time.monotonic() + 10
    while feed.subscriptions.subscribed_on(poll_id) != f"127.0.0.1:{target.port}":
        assert time.monotonic() < deadline, "the subscription did not follow the slot"
        time.sleep(0.05)
    yay = vote(2)
    update = inbox.wait()
    assert update is not None and update.yay == yay == 2
    for app in (reader, writer):
        app.extensions["yaynay"].close()
