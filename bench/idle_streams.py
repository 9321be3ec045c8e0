"""How many idle live-tally streams one gunicorn worker holds, and what they cost.

Starts gunicorn with config/gunicorn.conf.py and one worker of the given class on a
local Redis, opens N Server-Sent Event streams to one poll, then reports the worker's
memory, the Redis subscriptions, how long a vote takes while the streams are open, and
how many streams saw that vote. Everything runs on 127.0.0.1 and stops by itself.

    .venv/bin/python bench/idle_streams.py --streams 3000 --rate 500
    .venv/bin/python bench/idle_streams.py --worker-class gthread --threads 100 --streams 300
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.store.embedded import RedisProcess, free_port  # noqa: E402

POLL = "bench"
ADMIN = "bench-admin"


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def open_stream(port: int) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(f"GET /api/v1/polls/{POLL}/events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return sock
    except OSError:
        return None


def first_events(socks: list[socket.socket], seconds: float) -> dict[socket.socket, bytes]:
    """What each socket received within ``seconds``."""
    received = {sock: b"" for sock in socks}
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:  # epoll: select() stops at descriptor 1024
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(min(left, 0.2)):
                try:
                    chunk = key.fileobj.recv(65536)
                except OSError:
                    chunk = b""
                received[key.fileobj] += chunk
                if not chunk:
                    selector.unregister(key.fileobj)
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--worker-class", default="gevent")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rate", type=float, default=500, help="streams opened a second")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir, \
            RedisProcess(Path(workdir) / "redis", port=free_port(), persist=False) as server:
        port = free_port()
        env = dict(os.environ, YAYNAY_REDIS_URL=server.url, YAYNAY_SECRET_KEY="bench", YAYNAY_ADMIN_TOKEN=ADMIN,
                   YAYNAY_BIND=f"127.0.0.1:{port}", YAYNAY_WORKERS="1", YAYNAY_WORKER_CLASS=args.worker_class,
                   YAYNAY_VAR_DIR=workdir, YAYNAY_VOTE_RATE_LIMIT="100000/minute")
        command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.conf.py")]
        if args.threads > 1:
            command += ["--threads", str(args.threads)]
        gunicorn = subprocess.Popen(command + ["service.wsgi:app"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    http("PUT", f"{base}/api/v1/polls/{POLL}", {"question": "Bench?"},
                         {"Authorization": f"Bearer {ADMIN}"})
                    break
                except OSError:
                    time.sleep(0.1)
            worker = psutil.Process(gunicorn.pid).children()[0]
            idle_rss = worker.memory_info().rss

            socks = []
            for _ in range(args.streams):
                sock = open_stream(port)
                if sock:
                    socks.append(sock)
                time.sleep(1 / args.rate)
            time.sleep(2)
            openings = first_events(socks, 5)
            opened = sum(1 for data in openings.values() if b"event: tally" in data)
            failures = {}
            for data in openings.values():
                if b"event: tally" not in data:
                    status = data.split(b"\r\n", 1)[0].decode(errors="replace") or "(nothing)"
                    failures[status] = failures.get(status, 0) + 1
            held_rss = worker.memory_info().rss
            (_, subscriptions), = redis.Redis.from_url(server.url).pubsub_numsub("yaynay:tallies")

            started = time.monotonic()
            try:
                http("POST", f"{base}/api/v1/polls/{POLL}/votes", {"choice": "yay", "voter": "bench-voter-000001"})
                vote_ms = f"{(time.monotonic() - started) * 1000:.0f} ms"
            except OSError as error:
                vote_ms = f"failed ({error})"
            seen = sum(1 for data in first_events(socks, 3).values() if b'"total":1' in data)
            for sock in socks:
                sock.close()
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)

    print(f"worker class {args.worker_class} (threads {args.threads}), {len(socks)} streams opened")
    print(f"  streams that got their opening tally within 7 s: {opened}; the others: {failures or 'none'}")
    print(f"  worker memory: {idle_rss / 2**20:.1f} MiB idle, {held_rss / 2**20:.1f} MiB with the streams "
          f"({(held_rss - idle_rss) / max(1, len(socks)) / 1024:.1f} KiB a stream)")
    print(f"  Redis subscriptions on the tally channel: {subscriptions}")
    print(f"  a vote while they are open: {vote_ms}; streams that saw it within 3 s: {seen} of {len(socks)}")


if __name__ == "__main__":
    main()
