"""A webhook receiver and an SMTP server, both real and local, for the notification tests."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


def worker_settings(settings: dict, redis_url: str, *, cluster: bool) -> dict:
    """``settings`` for an app and a ``yaynay worker`` on ``redis_url`` delivering webhooks to a
    local receiver, on the real clock."""
    return {
        **settings,
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": cluster,
        "CLOCK": time.time,
        "WEBHOOK_ALLOW_PRIVATE": True,
    }


@contextlib.contextmanager
def worker_process(settings, var_dir) -> Iterator[WorkerRun]:
    """``yaynay worker`` on the test's Redis, stopped (and waited for) on the way out."""
    env = dict(
        os.environ,
        YAYNAY_REDIS_URL=settings["REDIS_URL"],
        YAYNAY_REDIS_CLUSTER="true" if settings["REDIS_CLUSTER"] else "false",
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


@contextlib.contextmanager
def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A Receiver listening on 127.0.0.1 (over TLS with ``tls``) until the block ends."""
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
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def self_signed(directory: Path, host: str) -> Path:
    """A certificate and key (one PEM file) for ``host``, made with the openssl command."""
    pem = directory / f"{host}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(pem), "-out", str(pem)],
        check=True, capture_output=True,
    )  # fmt: skip
    return pem


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch) -> Iterator[Receiver]:
    """A receiver over https whose certificate names hooks.example.com, trusted by this process
    (SSL_CERT_FILE) and by nothing else."""
    pem = self_signed(tmp_path, "hooks.example.com")
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    with running_receiver(context) as state:
        yield state


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
