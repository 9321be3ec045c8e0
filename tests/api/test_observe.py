"""Request ids, log lines and counts of the web layer, without gunicorn (tests/e2e/test_observability.py has it)."""

import logging

import pytest

from service import create_app, metrics
from service.store.embedded import free_port


@pytest.fixture
def dead_redis_client(settings):
    app = create_app({**settings, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "REDIS_CLUSTER": False})
    yield app.test_client()
    app.extensions["yaynay"].close()


def test_a_503_is_logged_with_its_reason_and_request_id(dead_redis_client, caplog):
    before = metrics.UNAVAILABLE._value.get()
    with caplog.at_level(logging.WARNING, logger="yaynay"):
        response = dead_redis_client.post("/api/v1/polls/x/votes", json={"choice": "yay", "voter": "v" * 16})
    assert response.status_code == 503
    [line] = [record for record in caplog.records if "answered 503" in record.getMessage()]
    assert "ConnectionError" in line.getMessage()
    assert line.request_id == response.headers["X-Request-ID"]
    assert metrics.UNAVAILABLE._value.get() == before + 1


def test_a_trusted_proxy_names_the_request_id(settings, redis_client):
    app = create_app({**settings, "PROXY_HOPS": 1})
    try:
        client = app.test_client()
        assert client.get("/healthz", headers={"X-Request-ID": "edge-42"}).headers["X-Request-ID"] == "edge-42"
        # Not an id to log as sent: a new one is made.
        made = client.get("/healthz", headers={"X-Request-ID": "a b;c"}).headers["X-Request-ID"]
        assert made != "a b;c" and len(made) == 16
    finally:
        app.extensions["yaynay"].close()


def test_an_unexpected_error_is_logged_with_its_request_id(app, client, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    assert response.status_code == 500
    [line] = [record for record in caplog.records if "answered 500" in record.getMessage()]
    assert line.request_id == response.headers["X-Request-ID"]


def test_metrics_refuse_without_a_token(client):
    assert client.get("/metrics").status_code == 401
