"""The fault-injection suite's machinery: a Redis of its own that can be killed, the real
gunicorn on it, writers that record every acknowledged write, and the figures they leave.

Every scenario runs against redis-server with AOF ``appendfsync everysec`` in a directory
of its own, on a fixed port, so that it can be stopped, killed or frozen and started again
on the same data; and against gunicorn with 2 gevent workers and production-like settings,
except the rate limits, which would otherwise refuse the load itself.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from service.identity import email_digest, voter_digest
from service.store import Store
from service.store.embedded import RedisProcess, free_port
from tests.conftest import ADMIN_TOKEN, LIVE_SECRET, ROOT, gunicorn_server

POLLS = ("fault-a", "fault-b", "fault-c")
REPORT = ROOT / "test-output" / "reliability.md"
CONNECTIONS_REPORT = ROOT / "test-output" / "reliability-connections.md"

# The load: no rate limits (one address sends it all), everything else as deployed.
SERVER_ENV = {
    "YAYNAY_VOTE_RATE_LIMIT": "1000000/minute",
    "YAYNAY_VOTERS_PER_IP_PER_DAY": "100000000",
    "YAYNAY_COMMENT_RATE_LIMITS": "1000000/minute",
    "YAYNAY_DEMO": "false",
}


@pytest.fixture(scope="session", autouse=True)
def reliability_reports():
    """Start the session's tables of figures, which the README's Reliability section copies."""
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        "| injected (during votes and comments) | votes sent | acknowledged | lost | comments sent | acknowledged "
        "| lost | not in queue / e-mail index | answers 5xx or cut, retried | note |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    CONNECTIONS_REPORT.write_text(
        "| one client holds | held / refused | other client's answer during the burst | then, at most "
        "| normal again after the attacker left |\n"
        "| --- | --- | ---: | ---: | ---: |\n"
    )


@pytest.fixture
def faulty_redis(tmp_path):
    """A redis-server with AOF everysec on a port of its own, restartable on the same data."""
    server = RedisProcess(tmp_path / "redis", port=free_port(), persist=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fault_server(faulty_redis, tmp_path):
    """gunicorn (2 gevent workers) on ``faulty_redis``, with the polls the writers use."""
    with gunicorn_server(faulty_redis.url, tmp_path, SERVER_ENV) as (base, master):
        for poll_id in POLLS:
            status, _ = call(base, "PUT", f"/api/v1/polls/{poll_id}", {"question": "Faults?"}, admin=True)
            assert status in (200, 201)
        yield base, master


def call(base: str, method: str, path: str, body: dict | None = None, *, admin: bool = False, timeout: float = 5):
    """One request on a fresh connection: (status, decoded JSON or None)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if admin:
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data.startswith(b"{") else None)
    finally:
        connection.close()


@dataclass
class Write:
    """One write a client wanted made: acknowledged at ``acked_at`` (monotonic), or never."""

    key: str  # the voter token, or the comment's Idempotency-Key
    target: str  # poll or thread id
    value: str  # the choice, or the comment's email address
    acked_at: float | None = None
    comment_id: str | None = None
    attempts: int = 0


@dataclass
class Ledger:
    """Every write the clients wanted, with its outcome; appended to by the writer threads."""

    votes: list[Write] = field(default_factory=list)
    comments: list[Write] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    def acknowledged(self, writes: list[Write]) -> list[Write]:
        return [write for write in writes if write.acked_at is not None]


class Writers:
    """Client threads that vote and comment as fast as the server answers, each write retried
    (same voter token, same Idempotency-Key) on 503 or a broken connection, as the widget
    does, until it is acknowledged or the writers are told to stop and a grace period ends."""

    def __init__(self, base: str, ledger: Ledger, *, voters: int = 3, commenters: int = 1, pace: float = 0.004):
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.ledger = ledger
        self.pace = pace  # seconds between writes of one thread: bounded load on two cores
        self.stopping = threading.Event()
        self.give_up_at = float("inf")
        self.threads = [threading.Thread(target=self._vote, args=(n,), daemon=True) for n in range(voters)] + [
            threading.Thread(target=self._comment, args=(n,), daemon=True) for n in range(commenters)
        ]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self, grace: float = 15.0) -> None:
        """Stop starting writes; finish (retry) those under way for up to ``grace`` seconds."""
        self.give_up_at = time.monotonic() + grace
        self.stopping.set()
        for thread in self.threads:
            thread.join(grace + 5)

    def _vote(self, n: int) -> None:
        count = 0
        while not self.stopping.is_set():
            count += 1
            write = Write(f"fault-voter-{n:02d}-{count:07d}", POLLS[count % len(POLLS)], "yay" if count % 3 else "nay")
            self.ledger.votes.append(write)
            self._write(write, f"/api/v1/polls/{write.target}/votes", {"choice": write.value, "voter": write.key}, {})
            time.sleep(self.pace)

    def _comment(self, n: int) -> None:
        count = 0
        while not self.stopping.is_set():
            count += 1
            key = f"fault-comment-{n:02d}-{count:07d}"
            write = Write(key, POLLS[count % len(POLLS)], f"{key}@example.com")
            self.ledger.comments.append(write)
            body = {"author": "Fault", "email": write.value, "body": f"Comment {key} arrives once."}
            self._write(write, f"/api/v1/threads/{write.target}/comments", body, {"Idempotency-Key": key})
            time.sleep(self.pace * 4)

    def _write(self, write: Write, path: str, body: dict, headers: dict[str, str]) -> None:
        connection = None
        while time.monotonic() < self.give_up_at:
            write.attempts += 1
            try:
                connection = connection or http.client.HTTPConnection(self.host, self.port, timeout=5)
                connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
                response = connection.getresponse()
                answer = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                if connection is not None:
                    connection.close()
                connection = None
            self.ledger.statuses[status] += 1
            if status in (200, 201, 202):
                write.acked_at = time.monotonic()
                if path.endswith("/comments"):
                    write.comment_id = json.loads(answer)["id"]
                break
            if status not in (0, 500, 502, 503, 504):
                break  # a refusal: neither acknowledged nor to retry
            time.sleep(0.05)
        if connection is not None:
            connection.close()


@dataclass
class Outcome:
    """What the store holds afterwards, measured against the ledger."""

    votes_lost: list[Write]
    comments_lost: list[Write]
    comments_unqueued: list[Write]
    comments_unindexed: list[Write]
    tallies: dict[str, dict[str, int]]
    records: dict[str, dict[str, int]]
    landed: dict[str, dict[str, int]]


def examine(redis_url: str, ledger: Ledger) -> Outcome:
    """Read the tallies, the voter records and the comments back from Redis, bypassing the server."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    store = Store(client)
    try:
        tallies, records, landed = {}, {}, {}
        for poll_id in POLLS:
            poll = store.polls.get(poll_id)
            assert poll is not None
            tallies[poll_id] = {"yay": poll.yay, "nay": poll.nay}
            records[poll_id] = store.polls.count_voter_records(poll_id)
            landed[poll_id] = {"yay": 0, "nay": 0}
        votes_lost = []
        for write in ledger.votes:
            stored = store.polls.vote_of(write.target, voter_digest(LIVE_SECRET, write.target, write.key))
            if stored is not None:
                landed[write.target][stored] += 1
            if write.acked_at is not None and stored != write.value:
                votes_lost.append(write)
        comments_lost, unqueued, unindexed = [], [], []
        for write in ledger.acknowledged(ledger.comments):
            assert write.comment_id is not None
            comment = store.comments.get(write.comment_id)
            if comment is None:
                comments_lost.append(write)
                continue
            if client.zscore(store.keys.queue_of(write.target, "pending"), write.comment_id) is None:
                unqueued.append(write)
            email_index = store.keys.email_comments(email_digest(LIVE_SECRET, write.value))
            if not client.sismember(email_index, write.comment_id):
                unindexed.append(write)
        return Outcome(votes_lost, comments_lost, unqueued, unindexed, tallies, records, landed)
    finally:
        client.close()


def report(scenario: str, ledger: Ledger, outcome: Outcome, note: str = "") -> None:
    """Add the scenario's row to test-output/reliability.md (copied into the README's Reliability)."""
    acked_votes = ledger.acknowledged(ledger.votes)
    acked_comments = ledger.acknowledged(ledger.comments)
    row = (
        f"| {scenario} | {len(ledger.votes):,} | {len(acked_votes):,} | {len(outcome.votes_lost)} "
        f"| {len(ledger.comments):,} | {len(acked_comments):,} | {len(outcome.comments_lost)} "
        f"| {len(outcome.comments_unqueued)} / {len(outcome.comments_unindexed)} "
        f"| {sum(count for status, count in ledger.statuses.items() if status == 0 or status >= 500):,} | {note} |\n"
    )
    with REPORT.open("a") as handle:
        handle.write(row)
    print(row)


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's worker processes: the master's children."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def report_connections(held: str, outcome: str, burst: float, slowest: float, recovered: float) -> None:
    """Add a row to test-output/reliability-connections.md."""
    row = f"| {held} | {outcome} | {burst:.2f} s | {slowest:.3f} s | {recovered:.2f} s |\n"
    with CONNECTIONS_REPORT.open("a") as handle:
        handle.write(row)
    print(row)
