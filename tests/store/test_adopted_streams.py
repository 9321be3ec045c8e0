"""Streams the change feed writes to itself (ChangeFeed.adopt), over real sockets and a real Redis."""

import socket
import time

from service.store import Store
from service.store.events import TallyUpdate


def read_until(sock: socket.socket, wanted: bytes, seconds: float = 3.0) -> bytes:
    sock.settimeout(seconds)
    received = b""
    deadline = time.monotonic() + seconds
    while wanted not in received and time.monotonic() < deadline:
        received += sock.recv(4096)
    return received


def test_an_adopted_stream_gets_each_new_tally_once_and_ends_when_its_client_leaves(redis_client):
    store = Store(redis_client, "adopted")
    feed = store.changes
    feed.interval = 0.05
    server_side, client_side = socket.socketpair()
    ended = []
    try:
        inbox = feed.listen("poll-a")
        feed.adopt(
            "poll-a",
            inbox,
            server_side.detach(),
            sent=3,
            render=lambda update: f"tally {update.version} {update.yay}/{update.nay}\n".encode(),
            on_end=lambda: ended.append(True),
        )
        feed._apply(TallyUpdate("poll-a", 3, 1, 1))  # the client has version 3 already
        feed._apply(TallyUpdate("poll-a", 4, 2, 1))
        assert read_until(client_side, b"tally 4") == b"tally 4 2/1\n"

        client_side.close()
        feed._apply(TallyUpdate("poll-a", 5, 3, 1))  # the write fails: the client is gone
        deadline = time.monotonic() + 3
        while not ended:
            assert time.monotonic() < deadline, "the stream of a client that left was never ended"
            time.sleep(0.02)
        assert ended == [True]
        assert "poll-a" not in feed._listeners
    finally:
        store.close()
