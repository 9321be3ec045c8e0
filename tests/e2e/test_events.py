"""Live tallies over Server-Sent Events, through gunicorn and Redis pub/sub."""

import http.client
import json
import select
import socket
import time
import urllib.parse

import pytest

from service import create_app
from tests.conftest import ADMIN_TOKEN, LIVE_SECRET, ON_CLUSTER

POLL = "live"
# A prefix of its own, so the channel's subscribers are the server's workers alone and not
# the in-process apps of other tests sharing the test Redis.
PREFIX = "events-test"


@pytest.fixture
def server_env():
    return {"YAYNAY_EVENTS_KEEPALIVE": "0.5", "YAYNAY_KEY_PREFIX": PREFIX, "YAYNAY_READ_CACHE_TTL": "1"}


@pytest.fixture
def voting(redis_url, live_server):
    """Cast votes in-process on the live server's Redis (same prefix and secret), free of rate limits."""
    app = create_app(
        {
            "REDIS_URL": redis_url,
            "REDIS_CLUSTER": ON_CLUSTER,
            "SECRET_KEY": LIVE_SECRET,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "KEY_PREFIX": PREFIX,
            "VOTE_RATE_LIMIT": "100000/minute",
            "VOTERS_PER_IP_PER_DAY": 100000,
        }
    )
    client = app.test_client()
    client.put(f"/api/v1/polls/{POLL}", json={"question": "Live?"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def vote(n: int, choice: str = "yay"):
        response = client.post(f"/api/v1/polls/{POLL}/votes", json={"choice": choice, "voter": f"live-voter-{n:06d}"})
        assert response.status_code == 200, response.json
        return response.json

    yield vote
    app.extensions["yaynay"].close()


class Stream:
    """A raw SSE connection (HTTP/1.0, so no chunked framing), read with a deadline."""

    def __init__(self, base: str, last_event_id: str | None = None):
        url = urllib.parse.urlsplit(base)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=5)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        self.sock.sendall(
            f"GET /api/v1/polls/{POLL}/events HTTP/1.0\r\nHost: {url.netloc}\r\n"
            f"Accept: text/event-stream\r\n{extra}\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        self.headers = head.decode().lower()

    def read(self, seconds: float, *, until_tallies: int | None = None) -> list[dict]:
        """Every event or comment block that arrives within ``seconds``, or as soon as
        ``until_tallies`` tally events have (so a slow machine only makes the test wait)."""
        blocks: list[dict] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            blocks += self._parse()
            if until_tallies is not None and len(tallies(blocks)) >= until_tallies:
                return blocks
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.05))
            if ready:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buffer += chunk
        return blocks + self._parse()

    def _parse(self) -> list[dict]:
        text, _, rest = self.buffer.decode().rpartition("\n\n")
        self.buffer = rest.encode()
        blocks = []
        for raw in filter(None, text.split("\n\n")):
            block = {}
            for line in raw.split("\n"):
                field, _, value = line.partition(":")
                block[field or "comment"] = value.strip()
            blocks.append(block)
        return blocks

    def close(self):
        self.sock.close()


def tallies(blocks):
    return [block for block in blocks if block.get("event") == "tally"]


def test_a_stream_starts_with_the_tally_then_sends_each_change(live_server, voting):
    voting(1)
    stream = Stream(live_server)
    assert stream.status == 200 and "content-type: text/event-stream" in stream.headers
    first = tallies(stream.read(5, until_tallies=1))
    assert [json.loads(block["data"])["tally"] for block in first] == [{"yay": 1, "nay": 0, "total": 1}]
    assert first[0]["id"] == "1"

    voting(1, "nay")
    (change,) = tallies(stream.read(5, until_tallies=1))
    assert json.loads(change["data"])["tally"] == {"yay": 0, "nay": 1, "total": 1}
    assert change["id"] == "2"
    stream.close()


def test_heavy_voting_is_coalesced_to_about_four_events_a_second(live_server, voting):
    stream = Stream(live_server)
    stream.read(0.3)
    started = time.monotonic()
    for n in range(300):
        voting(n)
    elapsed = time.monotonic() - started
    events = tallies(stream.read(3.0))  # once voting stops, at most one more event comes
    assert len(events) <= (elapsed + 1.0) * 4 + 2
    assert json.loads(events[-1]["data"])["tally"]["total"] == 300
    versions = [int(event["id"]) for event in events]
    assert versions == sorted(set(versions))
    stream.close()


def test_reconnecting_with_last_event_id_resumes_without_repeats(live_server, voting):
    voting(1)
    voting(2)
    current = Stream(live_server, last_event_id="2")
    assert tallies(current.read(0.6)) == []
    behind = Stream(live_server, last_event_id="1")
    (catch_up,) = tallies(behind.read(5, until_tallies=1))
    assert catch_up["id"] == "2"
    current.close()
    behind.close()


def test_idle_streams_get_keep_alive_comments(live_server, voting):
    stream = Stream(live_server)
    blocks = stream.read(2.5)
    assert sum(1 for block in blocks if "comment" in block) >= 3  # every 0.5 s
    stream.close()


def poll_subscribers(redis_client, poll_id: str = POLL) -> int:
    """How many connections hold a subscription to the poll's shard channel."""
    ((_, subscribers),) = redis_client.pubsub_shardnumsub(f"{PREFIX}:changes:{{{poll_id}}}")
    return subscribers


def test_streams_share_one_subscription_per_worker_which_ends_with_the_last_stream(live_server, voting, redis_client):
    streams = [Stream(live_server) for _ in range(20)]
    for stream in streams:
        stream.read(5, until_tallies=1)
    assert 1 <= poll_subscribers(redis_client) <= 2  # YAYNAY_WORKERS=2
    assert poll_subscribers(redis_client, "another-poll") == 0
    voting(7)
    for stream in streams:
        assert tallies(stream.read(5, until_tallies=1)), "every stream gets the change"
        stream.close()
    deadline = time.monotonic() + 10
    while poll_subscribers(redis_client):
        assert time.monotonic() < deadline, "the workers kept the subscription of a poll nobody watches"
        time.sleep(0.1)


def test_an_unknown_poll_has_no_stream(live_server):
    connection = http.client.HTTPConnection(urllib.parse.urlsplit(live_server).netloc, timeout=5)
    connection.request("GET", "/api/v1/polls/nothing-here/events")
    assert connection.getresponse().status == 404
