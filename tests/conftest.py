"""Fixtures: one real redis-server for the session, a fresh app and client per test."""

from __future__ import annotations

import datetime as dt
import os
import secrets

import pytest
import redis

from service import create_app
from service.store.embedded import RedisProcess, free_port

ADMIN_TOKEN = "test-admin-token"
ALLOWED_ORIGIN = "https://blog.example"
# Ten seconds into a minute and a day, so fixed-window limits do not roll over mid-test.
START = dt.datetime(2026, 11, 26, 0, 0, 10, tzinfo=dt.timezone.utc).timestamp()


class Clock:
    """A settable clock for the app: time is an argument, tests never sleep."""

    def __init__(self, start: float = START):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis: YAYNAY_TEST_REDIS_URL (flushed between tests!), else a redis-server of our own."""
    url = os.environ.get("YAYNAY_TEST_REDIS_URL")
    if url:
        yield url
        return
    with RedisProcess(tmp_path_factory.mktemp("redis"), port=free_port(), persist=False) as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def settings(redis_url, clock, tmp_path):
    """Test settings; a test may change them before asking for ``app``."""
    return {
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ALLOWED_ORIGINS": [ALLOWED_ORIGIN],
        "VAR_DIR": str(tmp_path / "var"),
        "CLOCK": clock,
    }


@pytest.fixture
def app(settings, redis_client):
    return create_app(settings)


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
def new_voter():
    """Make fresh tokens of the kind the widget keeps in localStorage."""
    return lambda: secrets.token_urlsafe(16)
