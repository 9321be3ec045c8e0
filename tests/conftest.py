"""Fixtures: one real Redis for the session, a fresh app and client per test.

The Redis is one redis-server, or with ``YAYNAY_TEST_REDIS=cluster`` a Redis Cluster of
three masters and three replicas (tests/cluster.py), which the app then uses as a cluster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from service import create_app
from service.store.embedded import RedisProcess, free_port
from tests.cluster import Cluster

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "test-admin-token"
ALLOWED_ORIGIN = "https://blog.example"
# Ten seconds into a minute and a day, so fixed-window limits do not roll over mid-test.
START = dt.datetime(2026, 11, 26, 0, 0, 10, tzinfo=dt.timezone.utc).timestamp()


# Tests that start gunicorn or Chromium are slow: each carries the e2e marker, so that
# `./dev test -m "not e2e"` is a fast loop. Using one of these fixtures, or living in one
# of these directories, is enough; a test that starts gunicorn itself says so with the marker.
E2E_FIXTURES = {"live_server", "browser", "new_page"}
E2E_DIRECTORIES = {"e2e", "browser"}


ON_CLUSTER = os.environ.get("YAYNAY_TEST_REDIS", "node") == "cluster"


def pytest_configure(config):
    if os.environ.get("YAYNAY_TEST_REDIS", "node") not in ("node", "cluster"):
        raise pytest.UsageError("YAYNAY_TEST_REDIS is 'node' (one redis-server, the default) or 'cluster'")


def pytest_collection_modifyitems(items):
    for item in items:
        if E2E_FIXTURES & set(item.fixturenames) or item.path.parent.name in E2E_DIRECTORIES:
            item.add_marker(pytest.mark.e2e)
        marker = item.get_closest_marker("one_redis_node")
        if ON_CLUSTER and marker:
            item.add_marker(pytest.mark.skip(reason="not on a cluster: " + marker.kwargs["reason"]))


class Clock:
    """A settable clock for the app: time is an argument, tests never sleep."""

    def __init__(self, start: float = START):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory) -> Iterator[Cluster | None]:
    """With YAYNAY_TEST_REDIS=cluster, the session's 3 + 3 Redis Cluster; else None."""
    if not ON_CLUSTER:
        yield None
        return
    with Cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory, redis_cluster):
    """A real Redis: YAYNAY_TEST_REDIS_URL (flushed between tests!), else a redis-server of our
    own, or a node of the session's cluster."""
    url = os.environ.get("YAYNAY_TEST_REDIS_URL")
    if redis_cluster is not None:
        yield redis_cluster.url
    elif url:
        yield url
    else:
        with RedisProcess(tmp_path_factory.mktemp("redis"), port=free_port(), persist=False) as server:
            yield server.url


class ClusterTestClient(RedisCluster):
    """A cluster client whose KEYS asks every master, as a test looking for keys means."""

    def keys(self, pattern="*", **kwargs):
        return super().keys(pattern, target_nodes=RedisCluster.PRIMARIES, **kwargs)


@pytest.fixture
def redis_client(redis_url, redis_cluster):
    """A client of the test Redis (a cluster client on a cluster), emptied first."""
    if redis_cluster is not None:
        redis_cluster.flush()
        client: redis.Redis | RedisCluster = ClusterTestClient.from_url(redis_url)
    else:
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
    yield client
    client.close()


@pytest.fixture
def redis_env(redis_url) -> dict[str, str]:
    """The YAYNAY_* variables that point a process of the service at the test Redis."""
    return {"YAYNAY_REDIS_URL": redis_url, "YAYNAY_REDIS_CLUSTER": "true" if ON_CLUSTER else "false"}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def settings(redis_url, clock, tmp_path):
    """Test settings; a test may change them before asking for ``app``."""
    return {
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": ON_CLUSTER,
        "SECRET_KEY": "test-secret-key",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ALLOWED_ORIGINS": [ALLOWED_ORIGIN],
        "VAR_DIR": str(tmp_path / "var"),
        "CLOCK": clock,
        **(REPLICAS_GIVEN_TIME if ON_CLUSTER else {}),
    }


# On a cluster every comment waits for a replica (WAIT). A healthy one confirms in
# milliseconds; on a loaded test machine one took more than the default 250 ms (a 503 in
# CI), so tests give it a second, under a socket timeout above it. The tests that time
# the wait set their own.
REPLICAS_GIVEN_TIME = {"REPLICA_WAIT_MS": 1000, "REDIS_SOCKET_TIMEOUT": 3}


@pytest.fixture
def app(settings, redis_client):
    app = create_app(settings)
    yield app
    app.extensions["yaynay"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def make_poll(client, admin):
    """Create a poll through the API and return its id."""

    def make(poll_id: str = "mini-backpacks", **fields):
        body = {"question": "Are you YAY or NAY on mini backpacks?", **fields}
        response = client.put(f"/api/v1/polls/{poll_id}", json=body, headers=admin)
        assert response.status_code in (200, 201), response.json
        return poll_id

    return make


@pytest.fixture
def yaynay(settings, redis_client):
    """Run ``yaynay ARGS...`` on the test Redis with the test app's secret key and key prefix."""
    env = dict(
        os.environ,
        YAYNAY_REDIS_URL=settings["REDIS_URL"],
        YAYNAY_REDIS_CLUSTER="true" if settings.get("REDIS_CLUSTER") else "false",
        YAYNAY_SECRET_KEY=settings["SECRET_KEY"],
        YAYNAY_VAR_DIR=settings["VAR_DIR"],
    )
    if "KEY_PREFIX" in settings:
        env["YAYNAY_KEY_PREFIX"] = settings["KEY_PREFIX"]
    executable = Path(sys.executable).parent / "yaynay"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(executable), *args], env=env, capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture
def new_voter():
    """Make fresh tokens of the kind the widget keeps in localStorage."""
    return lambda: secrets.token_urlsafe(16)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


LIVE_SECRET = "live-secret"


@pytest.fixture
def server_env():
    """Extra YAYNAY_* settings for ``live_server``; a test module may override this fixture."""
    return {}


@contextlib.contextmanager
def gunicorn_server(
    redis_url: str, directory: Path, env: dict[str, str], *, cluster: bool = ON_CLUSTER
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The real server: gunicorn with config/gunicorn.conf.py and 2 workers on a free port, on
    ``redis_url`` (a Redis Cluster node with ``cluster``) with ``env``'s YAYNAY_* settings;
    yields its base URL and the master process."""
    port = free_port()
    env = dict(
        os.environ,
        YAYNAY_REDIS_URL=redis_url,
        YAYNAY_REDIS_CLUSTER="true" if cluster else "false",
        YAYNAY_SECRET_KEY=LIVE_SECRET,
        YAYNAY_ADMIN_TOKEN=ADMIN_TOKEN,
        YAYNAY_ALLOWED_ORIGINS=ALLOWED_ORIGIN,
        YAYNAY_BIND=f"127.0.0.1:{port}",
        YAYNAY_WORKERS="2",
        YAYNAY_VAR_DIR=str(directory / "var"),
        **env,
    )
    log_path = directory / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "config" / "gunicorn.conf.py"),
                "service.wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not _answers(f"{base}/readyz"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("gunicorn did not start:\n" + log_path.read_text())
        time.sleep(0.1)
    try:
        yield base, process
    finally:
        process.send_signal(signal.SIGINT)  # quick shutdown: graceful would wait out open event streams
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def server_log(tmp_path):
    """Where ``live_server`` writes gunicorn's output (its log lines)."""
    return tmp_path / "gunicorn.log"


@pytest.fixture
def live_server(redis_url, redis_client, tmp_path, server_env):
    """The real server: gunicorn with config/gunicorn.conf.py on a free port; yields its base URL."""
    with gunicorn_server(redis_url, tmp_path, server_env) as (base, _):
        yield base
