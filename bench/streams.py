"""Live tally streams by the thousand: how fast a vote reaches them, and what holding them costs."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import secrets
import selectors
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import psutil

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


CLIENT_STREAMS = 9000  # the most streams one client process holds: a descriptor each, well under the limit


def hold_streams(base_url: str, poll_id: str, connection: Connection) -> None:
    """A child of ``StreamClients``: for each ``(count, rate)`` received, open ``count`` more
    streams ``rate`` a second and send back how many of all its streams got their opening tally;
    close them all on ``None``."""
    with StreamSet(base_url, poll_id) as stream_set:
        while (order := connection.recv()) is not None:
            count, rate = order
            stream_set.open(count, rate)
            with_tally = stream_set.wait_for_opening_tallies()
            stream_set.pump(1.0)  # let the server settle after the burst
            connection.send(with_tally)


@dataclass
class StreamClient:
    """One child process of ``StreamClients``, its pipe, and what it holds."""

    process: BaseProcess
    connection: Connection
    streams: int = 0
    with_tally: int = 0


class StreamClients:
    """Idle streams of one poll held by child processes, ``CLIENT_STREAMS`` at most each, so that
    the client's descriptors (one a stream) stay well under one process's open-files limit
    however many streams the server holds. Each child runs a ``StreamSet`` (``hold_streams``)
    and answers through a pipe; the children open in parallel, ``OPEN_RATE`` a second in all.
    """

    def __init__(self, base_url: str, poll_id: str):
        self.base_url = base_url
        self.poll_id = poll_id
        # spawn, not fork: a child starts without the bench's sockets (Redis, the servers' pipes).
        self.context = multiprocessing.get_context("spawn")
        self.clients: list[StreamClient] = []

    @property
    def streams(self) -> int:
        return sum(client.streams for client in self.clients)

    def open(self, total: int, timeout: float = 120) -> int:
        """Grow to ``total`` streams, filling each child up to ``CLIENT_STREAMS`` before starting
        another; how many of all the streams got their opening tally."""
        orders: list[tuple[StreamClient, int]] = []
        remaining = total - self.streams
        for client in self._clients_for(total):
            count = min(CLIENT_STREAMS - client.streams, remaining)
            if count > 0:
                orders.append((client, count))
                remaining -= count
        opening = sum(count for _, count in orders)
        for client, count in orders:
            client.connection.send((count, OPEN_RATE * count / opening))
            client.streams += count
        for client, _ in orders:
            if not client.connection.poll(opening / OPEN_RATE + timeout):
                raise RuntimeError(f"a stream client (pid {client.process.pid}) did not answer")
            client.with_tally = client.connection.recv()
        return sum(client.with_tally for client in self.clients)

    def _clients_for(self, total: int) -> list[StreamClient]:
        """The children, started until they can hold ``total`` streams."""
        while len(self.clients) * CLIENT_STREAMS < total:
            ours, theirs = self.context.Pipe()
            process = self.context.Process(
                target=hold_streams, args=(self.base_url, self.poll_id, theirs), name="stream-client", daemon=True
            )
            process.start()
            theirs.close()
            self.clients.append(StreamClient(process, ours))
        return self.clients

    def close(self) -> None:
        """Tell every child to close its streams and exit; kill any still running 10 s later."""
        for client in self.clients:
            with contextlib.suppress(OSError):
                client.connection.send(None)
        for client in self.clients:
            client.process.join(10)
            if client.process.is_alive():
                client.process.kill()
                client.process.join()
            client.connection.close()
        self.clients = []

    def __enter__(self) -> StreamClients:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class HeldStreams:
    """Idle streams held by a server's workers, and each worker's RSS before and with them."""

    streams: int
    with_tally: int
    rss_bytes: list[int]  # each worker's
    idle_rss_bytes: list[int]  # each worker's before the first stream
    streams_by_worker: list[int]  # the connections each worker holds (the streams, give or take one)

    @property
    def total_rss_bytes(self) -> int:
        return sum(self.rss_bytes)

    @property
    def total_idle_rss_bytes(self) -> int:
        return sum(self.idle_rss_bytes)


def established_connections(worker: psutil.Process, port: int) -> int:
    """The TCP connections ``worker`` has accepted on ``port`` and still holds."""
    return sum(
        1
        for connection in worker.net_connections("tcp")
        if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_ESTABLISHED
    )


def measure_idle_streams(
    base_url: str, poll_id: str, workers: list[psutil.Process], counts: list[int]
) -> list[HeldStreams]:
    """Open streams to the poll in steps up to each of ``counts`` (from ``StreamClients``) and
    read the RSS of ``workers`` (the server's at ``base_url``) and the connections each holds,
    once each step's streams have all got their opening tally."""
    port = urllib.parse.urlsplit(base_url).port
    idle = [worker.memory_info().rss for worker in workers]
    held = []
    with StreamClients(base_url, poll_id) as clients:
        for count in sorted(counts):
            with_tally = clients.open(count)
            held.append(
                HeldStreams(
                    count,
                    with_tally,
                    [worker.memory_info().rss for worker in workers],
                    idle,
                    [established_connections(worker, port) for worker in workers],
                )
            )
    return held
