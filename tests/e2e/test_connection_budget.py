"""The connection budget through the real gunicorn: stream caps, gone clients, stalled bodies."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import ADMIN_TOKEN

POLL = "budget"


@pytest.fixture
def server_env():
    return {
        "YAYNAY_KEY_PREFIX": "budget-test",
        "YAYNAY_STREAMS_PER_IP": "2",
        "YAYNAY_REQUEST_TIMEOUT": "2",
    }


@pytest.fixture
def address(live_server):
    request = urllib.request.Request(
        f"{live_server}/api/v1/polls/{POLL}",
        data=json.dumps({"question": "Budget?"}).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        method="PUT",
    )
    urllib.request.urlopen(request, timeout=5).close()
    url = urllib.parse.urlsplit(live_server)
    return url.hostname, url.port


def open_stream(address) -> tuple[socket.socket, int, bytes]:
    """A raw stream request; returns the socket, the status and what arrived with the head."""
    connection = socket.create_connection(address, timeout=5)
    connection.sendall(f"GET /api/v1/polls/{POLL}/events HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            break
        received += chunk
    return connection, int(received.split(b" ")[1]), received


def open_until_refused(address, most: int = 20):
    held, refused = [], None
    for _ in range(most):
        connection, status, received = open_stream(address)
        if status == 429:
            refused = received
            connection.close()
            break
        assert status == 200
        held.append(connection)
    return held, refused


def test_one_address_holds_a_bounded_number_of_streams_then_gets_429(address):
    held, refused = open_until_refused(address)
    # Two per worker process, two workers: between 2 and 4 depending on who accepted.
    assert 2 <= len(held) <= 4
    assert refused is not None
    head, _, body = refused.partition(b"\r\n\r\n")
    assert b"retry-after: 30" in head.lower()
    for connection in held:
        connection.close()


def test_a_stream_whose_client_left_is_released_within_seconds(address):
    held, _ = open_until_refused(address)
    for connection in held:
        connection.close()
    left = time.monotonic()
    while True:
        connection, status, _ = open_stream(address)
        connection.close()
        if status == 200:
            break
        assert time.monotonic() - left < 4, "the places of gone streams were not freed"
        time.sleep(0.1)
    released_after = time.monotonic() - left
    assert released_after < 3


def test_a_body_that_stalls_is_answered_408_and_closed_after_the_request_timeout(address):
    connection = socket.create_connection(address, timeout=10)
    started = time.monotonic()
    connection.sendall(
        f"POST /api/v1/polls/{POLL}/votes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 16000\r\n\r\n{".encode()
    )
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert json.loads(received.partition(b"\r\n\r\n")[2])["code"] == 408
    assert 1.9 < elapsed < 3.0  # REQUEST_TIMEOUT=2, then closed at once


def test_headers_that_stall_are_cut_off_by_gunicorns_keepalive(address):
    connection = socket.create_connection(address, timeout=10)
    started = time.monotonic()
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert connection.recv(4096) == b""
    assert time.monotonic() - started < 6.0  # keepalive = 5 in config/gunicorn.conf.py
