"""A webhook receiver and an SMTP server, both real and local, for the notification tests."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from service.core import events
from service.store.embedded import free_port


@pytest.fixture
def core(app):
    """The app's core, also the one jobs run with (``run_jobs`` runs them in this process)."""
    core = app.extensions["yaynay"]
    events.set_worker_core(core)
    yield core
    events.set_worker_core(None)


@dataclass
class WorkerRun:
    process: subprocess.Popen
    errors: str = ""  # what it wrote to stderr, once stopped


@contextlib.contextmanager
def worker_process(settings, var_dir) -> Iterator[WorkerRun]:
    """``yaynay worker`` on the test's Redis, stopped (and waited for) on the way out."""
    env = dict(
        os.environ,
        YAYNAY_REDIS_URL=settings["REDIS_URL"],
        YAYNAY_SECRET_KEY=settings["SECRET_KEY"],
        YAYNAY_VAR_DIR=str(var_dir),
        YAYNAY_WEBHOOK_ALLOW_PRIVATE="true",
    )
    worker = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "yaynay"), "worker"], env=env, stderr=subprocess.PIPE, text=True
    )
    run = WorkerRun(worker)
    try:
        yield run
    finally:
        worker.terminate()
        _, run.errors = worker.communicate(timeout=15)


@dataclass
class Receiver:
    """Answers each POST with the next status of ``statuses`` (the last one repeats) and keeps
    what it received; ``secret`` set: only deliveries whose signature verifies are kept."""

    url: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])
    secret: str | None = None
    received: list[dict] = field(default_factory=list)
    bad_signatures: int = 0
    # Where a 3xx answer points (its Location header).
    location: str = ""

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            if state.secret is not None:
                try:
                    Webhook(state.secret).verify(body, headers)
                except Exception:  # the library's WebhookVerificationError, and nothing else expected
                    state.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            state.received.append({"headers": headers, "json": json.loads(body), "answered": status})
            self.send_response(status)
            if state.location:
                self.send_header("Location", state.location)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()
