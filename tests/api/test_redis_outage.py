"""Redis going away mid-test: quick 503s with Retry-After, then recovery by itself."""

import signal
import time

import pytest

from service import create_app
from service.store.embedded import RedisProcess, free_port
from tests.conftest import REPLICAS_GIVEN_TIME


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server this test may stop, freeze and restart on the same port."""
    server = RedisProcess(tmp_path / "redis", port=free_port(), persist=True).start()
    yield server
    if server.process and server.process.poll() is None:
        server.process.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def outage_client(own_redis, settings, admin):
    settings.update(REDIS_URL=own_redis.url, REDIS_CLUSTER=False)  # one node of its own, even in the cluster run
    for name in REPLICAS_GIVEN_TIME:  # and the default timeouts, which these tests time
        settings.pop(name, None)
    client = create_app(settings).test_client()
    client.put("/api/v1/polls/mini-backpacks", json={"question": "YAY or NAY?"}, headers=admin)
    return client


def vote(client, voter="reader-token-0000001", choice="yay"):
    return client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": choice, "voter": voter})


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_redis_stopped_gives_a_quick_503_then_recovers(own_redis, outage_client):
    assert vote(outage_client).status_code == 200

    own_redis.stop()
    for request in (
        lambda: vote(outage_client, choice="nay"),
        lambda: outage_client.get("/api/v1/polls/mini-backpacks"),
        lambda: outage_client.get("/readyz"),
    ):
        response, elapsed = timed(request)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json["code"] == 503
        assert elapsed < 1.0
    assert outage_client.get("/healthz").status_code == 200

    own_redis.start()
    changed = vote(outage_client, choice="nay")
    assert changed.status_code == 200
    assert changed.json["tally"] == {"yay": 0, "nay": 1, "total": 1}
    assert outage_client.get("/readyz").status_code == 200


def test_a_frozen_redis_times_out_into_a_503_within_a_second(own_redis, outage_client):
    assert vote(outage_client).status_code == 200
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        response, elapsed = timed(lambda: outage_client.get("/api/v1/polls/mini-backpacks"))
        assert response.status_code == 503
        assert elapsed < 1.0
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert outage_client.get("/api/v1/polls/mini-backpacks").status_code == 200


def test_pages_say_it_in_html_when_redis_is_down(own_redis, outage_client):
    own_redis.stop()
    for path in ("/embed/mini-backpacks", "/"):
        response = outage_client.get(path)
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        assert response.headers["Retry-After"] == "1"
        assert "try again in a moment" in response.get_data(as_text=True)
