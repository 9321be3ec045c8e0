"""One client holding thousands of connections, as live streams or as bodies that never
arrive, while another client's requests are answered within a second; the service is
normal within five seconds of the attacker leaving.

The attacker sends from 127.0.0.2 (any 127/8 address reaches a server on 127.0.0.1), so
the server sees two client addresses, as it would two people.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.faults.conftest import POLLS, call, report_connections

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

ATTACKER = "127.0.0.2"
CONNECTIONS = 2000
# Opening 2,000 connections at once queues 2,000 requests in the workers, and whoever asks
# next waits for them to be answered or parked: 0.8 s on an idle 2-core machine, up to
# 3.7 s on one loaded by other work. That burst is measured and bounded loosely; the
# answers while the connections are held must each come within a second.
BURST_BOUND = 6.0


def address_of(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def open_many(base: str, request: bytes, count: int = CONNECTIONS) -> list[socket.socket]:
    """``count`` connections from the attacker's address, each having sent ``request``."""
    held = []
    for _ in range(count):
        connection = socket.create_connection(address_of(base), timeout=5, source_address=(ATTACKER, 0))
        connection.sendall(request)
        held.append(connection)
    return held


def stream_status(base: str, source: str = "127.0.0.1") -> int:
    """The status of one live stream request from ``source`` (the stream is closed at once)."""
    with socket.create_connection(address_of(base), timeout=5, source_address=(source, 0)) as connection:
        connection.sendall(f"GET /api/v1/polls/{POLLS[0]}/events HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        return int(connection.recv(4096).split(b" ")[1])


def assert_answered_quickly(base: str, rounds: int, voter_prefix: str) -> list[float]:
    """/healthz and a vote from the other client, each answered within a second; their times."""
    times = []
    for n in range(rounds):
        for method, path, body in (
            ("GET", "/healthz", None),
            ("POST", f"/api/v1/polls/{POLLS[1]}/votes", {"choice": "yay", "voter": f"{voter_prefix}-voter-{n:06d}"}),
        ):
            started = time.monotonic()
            status, _ = call(base, method, path, body, timeout=5)
            took = time.monotonic() - started
            assert status == 200, (path, status)
            assert took < 1.0, (path, took)
            times.append(took)
        time.sleep(0.2)
    return times


def assert_normal_within(base: str, seconds: float) -> float:
    """Both clients may stream again and every request is answered: how long that took."""
    left = time.monotonic()
    while True:
        try:
            if stream_status(base) == 200 and stream_status(base, ATTACKER) == 200:
                break
        except OSError:
            pass
        assert time.monotonic() - left < seconds, "the service was not normal again in time"
        time.sleep(0.1)
    recovered = time.monotonic() - left
    assert_answered_quickly(base, 2, "after")
    return recovered


def close_all(held: list[socket.socket]) -> None:
    for connection in held:
        connection.close()


def test_thousands_of_streams_from_one_client(fault_server):
    base, _ = fault_server
    request = f"GET /api/v1/polls/{POLLS[0]}/events HTTP/1.0\r\nHost: x\r\n\r\n".encode()
    held = open_many(base, request)
    try:
        burst = call_time(base, "/healthz")
        statuses = [int(connection.recv(64).split(b" ")[1]) for connection in held]
        times = assert_answered_quickly(base, 5, "victim-stream")
        assert stream_status(base) == 200  # the other client still gets a stream
    finally:
        close_all(held)
    recovered = assert_normal_within(base, 5.0)
    outcome = f"{statuses.count(200)} held / {statuses.count(429)} refused (429)"
    report_connections(f"{CONNECTIONS:,} live streams", outcome, burst, max(times), recovered)
    assert statuses.count(200) <= 40 and statuses.count(200) + statuses.count(429) == CONNECTIONS
    assert burst < BURST_BOUND


def call_time(base: str, path: str) -> float:
    started = time.monotonic()
    status, _ = call(base, "GET", path, timeout=5)
    assert status == 200
    return time.monotonic() - started


def test_thousands_of_stalled_bodies_from_one_client(fault_server):
    base, _ = fault_server
    request = (
        f"POST /api/v1/polls/{POLLS[2]}/votes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 16000\r\n\r\n{"
    ).encode()
    held = open_many(base, request)
    try:
        burst = call_time(base, "/healthz")
        times = assert_answered_quickly(base, 5, "victim-body")
    finally:
        close_all(held)
    recovered = assert_normal_within(base, 5.0)
    outcome = "all held until they left (REQUEST_TIMEOUT 10 s)"
    report_connections(f"{CONNECTIONS:,} request bodies that never arrive", outcome, burst, max(times), recovered)
    assert burst < BURST_BOUND
