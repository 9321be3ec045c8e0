"""The widget when the service says no: over a rate limit."""

import pytest


@pytest.fixture
def server_env():
    # A daily window: a test of a few seconds never straddles its reset, as it might a minute's.
    return {"YAYNAY_VOTE_RATE_LIMIT": "4/day"}


def test_a_vote_over_the_rate_limit_shows_a_readable_message_with_a_retry(live_server, new_page):
    page = new_page(f"{live_server}/")
    host = page.locator("[data-yaynay-poll]")
    for side in ("yay", "nay", "yay", "nay"):
        host.locator(f"button.{side}").click()
        host.locator("p.total").filter(has_text=f"You voted {side.upper()}").wait_for()
    host.locator("button.yay").click()
    alert = host.locator("p.msg[role=alert]")
    alert.filter(has_text="Too many tries from your network. Try again in").wait_for()
    assert alert.locator("button").inner_text() == "Try again"
    assert host.locator("p.total").inner_text().startswith("1 vote · You voted NAY")
