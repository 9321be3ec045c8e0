"""The connection budget of live streams, in-process (the real server: tests/e2e/test_connection_budget.py)."""

import pytest

from service.core.streams import StreamBudget
from service.errors import TooManyStreams


def test_a_stream_over_the_budget_gets_429_with_retry_after_in_the_one_error_shape(settings, make_poll, app):
    app.extensions["yaynay"].streams.per_client = 0
    make_poll("budget")
    response = app.test_client().get("/api/v1/polls/budget/events")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.json["code"] == 429 and response.json["status"] == "Too Many Requests"
    assert "poll the tally" in response.json["message"] and response.json["errors"] == {}


def test_the_budget_counts_each_client_and_the_worker_and_frees_a_released_place():
    budget = StreamBudget(per_client=2, per_worker=3)
    budget.acquire("a")
    budget.acquire("a")
    with pytest.raises(TooManyStreams, match="your address"):
        budget.acquire("a")
    budget.acquire("b")
    with pytest.raises(TooManyStreams, match="as many live streams as it can"):
        budget.acquire("c")
    budget.release("a")
    budget.acquire("c")
    assert budget.total == 3 and budget.held_by("a") == 1 and budget.held_by("c") == 1
