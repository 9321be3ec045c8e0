"""The widget on a page whose origin the service does not allow, and with the service out of reach."""

import json
import urllib.request

import pytest

from tests.conftest import ADMIN_TOKEN, ALLOWED_ORIGIN

POLL = "mini-backpacks"
FOREIGN = "https://not-listed.example"


def make_poll(base):
    request = urllib.request.Request(
        f"{base}/api/v1/polls/{POLL}",
        method="PUT",
        data=json.dumps({"question": "Are you YAY or NAY on mini backpacks?"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def article(server):
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article</title></head><body>'
        f'<div data-yaynay-poll="{POLL}"></div><script src="{server}/widget.js" async></script></body></html>'
    )


@pytest.fixture
def foreign_page(live_server, new_page):
    """An article on an origin not in ALLOWED_ORIGINS, embedding the widget from the live server."""
    make_poll(live_server)
    # Public https pages reaching the loopback test server need Chromium's local network permission.
    page = new_page(permissions=["local-network-access"])
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.route("https://*/article", lambda route: route.fulfill(content_type="text/html", body=article(live_server)))
    return page, warnings


def test_a_refused_origin_is_named_in_the_console_and_readers_see_a_neutral_message(foreign_page):
    page, warnings = foreign_page
    page.goto(f"{FOREIGN}/article")
    poll_message = page.locator("[data-yaynay-poll] p.msg[role=alert]")
    poll_message.filter(has_text="not available on this page").wait_for()
    assert "connection" not in poll_message.inner_text()
    # The comment list fails the same way, with its own Try again.
    comments_message = page.locator("[data-yaynay-poll] p.msg[role=status]").first
    comments_message.filter(has_text="not available on this page").wait_for()
    assert comments_message.get_by_role("button", name="Try again").count() == 1
    [warning] = [text for text in warnings if "YAYNAY_ALLOWED_ORIGINS" in text]
    assert FOREIGN in warning


def test_a_network_fault_is_told_as_one_and_try_again_recovers(foreign_page, live_server):
    page, warnings = foreign_page
    unreachable = f"{live_server}/{{api/**,healthz}}"
    page.route(unreachable, lambda route: route.abort())
    page.goto(f"{ALLOWED_ORIGIN}/article")
    comments_message = page.locator("[data-yaynay-poll] p.msg[role=status]").first
    comments_message.filter(has_text="Check your connection").wait_for()
    page.locator("[data-yaynay-poll] p.msg[role=alert]").filter(has_text="Check your connection").wait_for()
    assert not [text for text in warnings if "YAYNAY_ALLOWED_ORIGINS" in text]

    page.unroute(unreachable)
    comments_message.get_by_role("button", name="Try again").click()
    page.locator("[data-yaynay-poll] h3").filter(has_text="No responses yet").wait_for()
    assert comments_message.inner_text() == ""
