"""Live tally streams by the thousand: how fast a vote reaches them, and what holding them costs."""

from __future__ import annotations

import math
import secrets
import selectors
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.api import Api

OPEN_RATE = 1000  # streams opened a second


@dataclass
class Stream:
    """One raw Server-Sent Events connection (HTTP/1.0: no chunked framing to undo)."""

    sock: socket.socket
    buffer: bytes = b""
    arrivals: dict[int, float] = field(default_factory=dict)  # tally version -> when it was read
    closed: bool = False

    @property
    def latest(self) -> int:
        """The newest tally version received; -1 before the first."""
        return max(self.arrivals, default=-1)

    def take(self, chunk: bytes, at: float) -> None:
        """Add received bytes; note the arrival time of each complete tally event."""
        self.buffer += chunk
        complete, _, self.buffer = self.buffer.rpartition(b"\n\n")
        for block in complete.split(b"\n\n"):
            lines = block.split(b"\n")
            ids = [line[4:] for line in lines if line.startswith(b"id: ")]
            if b"event: tally" in lines and ids:
                self.arrivals.setdefault(int(ids[0]), at)


class StreamSet:
    """Many streams of one poll's events, all read by one selector (epoll: no 1,024 limit)."""

    def __init__(self, base_url: str, poll_id: str):
        parts = urllib.parse.urlsplit(base_url)
        self.address = (parts.hostname, parts.port)
        self.request = (
            f"GET /api/v1/polls/{poll_id}/events HTTP/1.0\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.streams: list[Stream] = []
        self.failed_to_connect = 0
        self.selector = selectors.DefaultSelector()

    def open(self, count: int, rate: float = OPEN_RATE) -> None:
        """Open ``count`` more streams, ``rate`` a second, reading whatever arrives meanwhile."""
        started = time.monotonic()
        for n in range(count):
            try:
                sock = socket.create_connection(self.address, timeout=5)
                sock.sendall(self.request)
            except OSError:
                self.failed_to_connect += 1
                continue
            sock.setblocking(False)
            stream = Stream(sock)
            self.streams.append(stream)
            self.selector.register(sock, selectors.EVENT_READ, stream)
            self.pump(max(0.0, started + (n + 1) / rate - time.monotonic()))

    def pump(self, seconds: float, until=None) -> None:
        """Read for ``seconds``, or until ``until()`` is true."""
        deadline = time.monotonic() + seconds
        while True:
            for key, _ in self.selector.select(max(0.0, min(deadline - time.monotonic(), 0.05))):
                stream: Stream = key.data
                try:
                    chunk = stream.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    stream.take(chunk, time.monotonic())
                else:
                    stream.closed = True
                    self.selector.unregister(stream.sock)
            if (until is not None and until()) or time.monotonic() >= deadline:
                return

    def with_tally(self, version: int = 0) -> int:
        """How many streams have received a tally of at least ``version``."""
        return sum(1 for stream in self.streams if stream.latest >= version)

    def wait_for_opening_tallies(self, timeout: float = 30) -> int:
        """Read until every open stream got its first tally (or ``timeout``); how many did."""
        self.pump(timeout, until=lambda: self.with_tally() == len(self.streams))
        return self.with_tally()

    def close(self) -> None:
        for stream in self.streams:
            stream.sock.close()
        self.selector.close()

    def __enter__(self) -> StreamSet:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class FanOut:
    streams: int
    opened: int
    votes: int
    delivered: list[int]  # per vote, streams that got its tally
    latencies_ms: list[float]  # over every (stream, vote) delivery

    def percentile(self, share: float) -> float:
        """The nearest-rank percentile of the delivery latencies, in ms."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure_fan_out(
    base_url: str, api: Api, poll_id: str, *, streams: int, votes: int, spacing: float = 0.6, timeout: float = 5.0
) -> FanOut:
    """Open ``streams`` event streams on the poll, then cast ``votes`` votes ``spacing`` s apart
    and time each stream's arrival of the tally version each vote made, from just before
    the vote is sent. Nobody else may vote on the poll meanwhile."""
    latencies, delivered = [], []
    with StreamSet(base_url, poll_id) as stream_set, ThreadPoolExecutor(max_workers=1) as voting:
        stream_set.open(streams)
        opened = stream_set.wait_for_opening_tallies()
        version = max((stream.latest for stream in stream_set.streams), default=0)
        for _ in range(votes):
            version += 1
            sent = time.monotonic()
            # Sent from another thread, so arrivals are read (and timed) while the vote is answered.
            vote = voting.submit(api.vote, poll_id, f"fan-out-{secrets.token_hex(8)}")
            stream_set.pump(timeout, until=lambda v=version: stream_set.with_tally(v) == opened)
            vote.result()
            reached = [
                min(at for v, at in stream.arrivals.items() if v >= version)
                for stream in stream_set.streams
                if stream.latest >= version
            ]
            latencies += [(at - sent) * 1000 for at in reached]
            delivered.append(len(reached))
            time.sleep(max(0.0, sent + spacing - time.monotonic()))
    return FanOut(streams=streams, opened=opened, votes=votes, delivered=delivered, latencies_ms=latencies)


@dataclass(frozen=True)
class HeldStreams:
    streams: int
    with_tally: int
    rss_bytes: int
    idle_rss_bytes: int


def measure_idle_streams(base_url: str, poll_id: str, worker, counts: list[int]) -> list[HeldStreams]:
    """Open streams to the poll in steps up to each of ``counts`` and read ``worker``'s RSS
    (a psutil.Process: the only worker of the server at ``base_url``) once each step's
    streams have all got their opening tally."""
    idle = worker.memory_info().rss
    held = []
    with StreamSet(base_url, poll_id) as stream_set:
        for count in sorted(counts):
            stream_set.open(count - len(stream_set.streams))
            with_tally = stream_set.wait_for_opening_tallies()
            stream_set.pump(1.0)  # let the worker settle after the burst
            held.append(HeldStreams(count, with_tally, worker.memory_info().rss, idle))
    return held
