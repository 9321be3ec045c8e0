"""`yaynay serve` starting and stopping as a publisher runs it: one line for every problem at
start, and Ctrl-C or SIGTERM stopping everything, open streams included, within 3 s."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from service.store.embedded import free_port

YAYNAY = str(Path(sys.executable).parent / "yaynay")
STOP_WITHIN = 3.0


def clean_env(tmp_path, **settings):
    env = {key: value for key, value in os.environ.items() if not key.startswith("YAYNAY_")}
    env.update(YAYNAY_VAR_DIR=str(tmp_path / "var"), YAYNAY_WORKERS="2", **settings)
    return env


def refused(args, env):
    result = subprocess.run([YAYNAY, "serve", *args], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "url, problem",
    [("not-a-url", "is not a Redis URL"), ("redis://127.0.0.1:{port}/0", "does not answer")],
)
def test_a_redis_url_that_cannot_serve_is_one_line(tmp_path, url, problem):
    line = refused(
        ["--bind", f"127.0.0.1:{free_port()}"], clean_env(tmp_path, YAYNAY_REDIS_URL=url.format(port=free_port()))
    )
    assert "YAYNAY_REDIS_URL" in line and problem in line and "fix the URL" in line


@pytest.mark.e2e
def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = "127.0.0.1:%d" % taken.getsockname()[1]
        line = refused(["--bind", bind], clean_env(tmp_path))
    assert f"cannot listen on {bind}" in line and "YAYNAY_BIND" in line


@pytest.mark.e2e
def test_a_bad_setting_is_one_line(tmp_path):
    line = refused([], clean_env(tmp_path, YAYNAY_ALLOWED_ORIGINS="https://blog.example/articles"))
    assert "YAYNAY_ALLOWED_ORIGINS" in line and "no path" in line


def start_serving(env, port):
    process = subprocess.Popen(
        [YAYNAY, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as a terminal runs it: its own process group
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return process
        except OSError:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.1)
    process.kill()
    pytest.fail("yaynay serve did not start")


def open_stream(port, poll_id="mini-backpacks"):
    """A live tally stream, read until its first event: it stays open until the server ends it."""
    stream = socket.create_connection(("127.0.0.1", port), timeout=5)
    stream.sendall(f"GET /api/v1/polls/{poll_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    received = b""
    while b"event: tally" not in received:
        chunk = stream.recv(4096)
        assert chunk and b" 200 " in received + chunk, received + chunk
        received += chunk
    return stream


def stop_and_time(process, signum):
    family = [process, *psutil.Process(process.pid).children(recursive=True)]
    started = time.monotonic()
    process.send_signal(signum)
    output, _ = process.communicate(timeout=15)
    gone, alive = psutil.wait_procs(family, timeout=max(0.1, STOP_WITHIN - (time.monotonic() - started)))
    return time.monotonic() - started, output, alive


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_workers_streams_and_the_embedded_redis_within_3_s(tmp_path, signum):
    env = clean_env(tmp_path, YAYNAY_DEMO="on")
    port = free_port()
    process = start_serving(env, port)
    try:
        if signum == signal.SIGTERM:  # a second server on the same var/ is refused, the first untouched
            line = refused(["--bind", f"127.0.0.1:{free_port()}"], env)
            assert "another yaynay serve" in line and "YAYNAY_VAR_DIR" in line
        streams = [open_stream(port) for _ in range(3)]
        commands = [" ".join(p.cmdline()) for p in psutil.Process(process.pid).children(recursive=True)]
        assert any("redis-server" in command for command in commands)
        assert any(command.endswith("service.cli worker") for command in commands), commands  # the job worker

        took, output, alive = stop_and_time(process, signum)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert took < STOP_WITHIN, output
    assert alive == [], alive
    assert "Traceback" not in output, output
    for stream in streams:
        stream.close()
