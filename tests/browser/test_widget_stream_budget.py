"""The widget when the live stream is refused (over the connection budget): it polls instead."""

import json
import urllib.request

import pytest

from tests.conftest import ADMIN_TOKEN

POLL = "mini-backpacks"


@pytest.fixture
def server_env():
    return {"YAYNAY_STREAMS_PER_IP": "0"}  # every stream is over the budget: 429


def vote(base, voter):
    request = urllib.request.Request(
        f"{base}/api/v1/polls/{POLL}/votes",
        data=json.dumps({"choice": "yay", "voter": voter}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()


def test_a_refused_stream_falls_back_to_polling_with_if_none_match(live_server, new_page):
    page = new_page()
    refused, polls = [], []
    page.on("response", lambda response: refused.append(response.status) if "/events" in response.url else None)
    page.on(
        "request",
        lambda request: (
            polls.append(request.headers.get("if-none-match"))
            if request.url.endswith(f"/polls/{POLL}") and request.method == "GET"
            else None
        ),
    )
    page.goto(f"{live_server}/")
    host = page.locator("[data-yaynay-poll]")
    page.locator("[data-yaynay-poll][data-yaynay-live=polling]").wait_for(timeout=5000)
    assert 429 in refused

    vote(live_server, "another-reader-token-0001")  # from elsewhere: only polling can show it
    host.locator("p.total").filter(has_text="1 vote").wait_for(timeout=12000)
    assert len(polls) >= 2 and polls[-1] is not None, polls  # polls ask If-None-Match after the first
