"""The widget in a real headless Chromium against the real gunicorn server."""

import json
import time
import urllib.request

import pytest

from tests.conftest import ADMIN_TOKEN

POLL = "mini-backpacks"


def api(base, method, path, body=None, token=ADMIN_TOKEN):
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def widget(page):
    """The widget's shadow root content, located through Playwright's shadow-piercing selectors."""
    return page.locator("[data-yaynay-poll]")


def wait_for_total(page, text, timeout=5000):
    page.locator("[data-yaynay-poll] p.total").filter(has_text=text).wait_for(timeout=timeout)


@pytest.fixture
def demo(live_server, new_page):
    """The demo article (which creates its poll) opened in a fresh browser context."""
    return lambda **options: new_page(f"{live_server}/", **options)


def test_vote_yay_change_to_nay_and_reload_remembers_the_vote(demo, live_server):
    page = demo()
    host = widget(page)
    host.locator("button.yay").click()
    wait_for_total(page, "1 vote · You voted YAY")
    assert host.locator("button.yay").get_attribute("aria-pressed") == "true"

    host.locator("button.nay").click()
    wait_for_total(page, "1 vote · You voted NAY")
    assert host.locator("button.yay").get_attribute("aria-pressed") == "false"
    assert host.locator("button.nay").get_attribute("aria-pressed") == "true"

    page.reload()
    wait_for_total(page, "1 vote · You voted NAY")
    assert host.locator(".r.nay .n").inner_text() == "100% · 1"
    assert host.locator(".r.yay .n").inner_text() == "0% · 0"
    assert api(live_server, "GET", f"/polls/{POLL}")["tally"] == {"yay": 0, "nay": 1, "total": 1}


def test_a_second_page_sees_the_first_pages_vote_within_a_second(demo):
    watcher = demo()
    wait_for_total(watcher, "0 votes")
    # The stream must be open before the vote (polling would take five seconds).
    watcher.locator("[data-yaynay-live=stream]").wait_for(timeout=5000)
    voter = demo()
    wait_for_total(voter, "0 votes")
    voter.locator("[data-yaynay-poll] button.yay").click()
    started = time.monotonic()
    wait_for_total(watcher, "1 vote", timeout=1000)
    assert time.monotonic() - started < 1.0
    announcer = watcher.locator("[data-yaynay-poll] [aria-live]")
    assert "YAY 100%" in announcer.inner_text()


def test_comments_from_the_widget_and_the_plain_form_appear_once_approved(demo, live_server, new_page):
    page = demo()
    host = widget(page)
    host.locator("#f-author").fill("Widget Reader")
    host.locator("#f-email").fill("widget@example.com")
    host.locator("#f-body").fill("Posted from the widget.\nTwo lines.")
    host.locator("form.f button[type=submit]").click()
    host.locator("form.f p.msg").filter(has_text="awaits moderation").wait_for()

    page.locator("#demo-author").fill("Form Reader")
    page.locator("#demo-body").fill("Posted from the plain form.")
    page.locator("section.no-js button[type=submit]").click()
    page.wait_for_url(f"{live_server}/#yaynay-comment-pending")
    assert page.locator("#yaynay-comment-pending").is_visible()

    queue = api(live_server, "GET", "/moderation/queue")["comments"]
    assert sorted(c["author"] for c in queue) == ["Form Reader", "Widget Reader"]
    for comment in queue:
        api(live_server, "POST", f"/moderation/comments/{comment['id']}", {"action": "approve"})

    page.reload()
    host.locator("h3").filter(has_text="2 Responses").wait_for()
    bodies = host.locator("ol li p.txt").all_inner_texts()
    assert bodies == ["Posted from the widget.\nTwo lines.", "Posted from the plain form."]
    assert "widget@example.com" not in page.content()

    iframe_page = new_page(f"{live_server}/embed/{POLL}")
    assert iframe_page.locator("ol.comments li .body").all_inner_texts() == bodies


def seed_conversation(base):
    """Two readers who voted and commented, approved: what a real article's widget shows."""
    for token, choice, author, body in (
        ("reader-token-yay-000001", "yay", "Priya", "Mine holds everything I need and nothing I don't. YAY!"),
        ("reader-token-nay-000002", "nay", "Tom", "Cute, but my water bottle disagrees.\nNAY from me."),
    ):
        api(base, "POST", f"/polls/{POLL}/votes", {"choice": choice, "voter": token})
        comment = api(base, "POST", f"/threads/{POLL}/comments", {"author": author, "body": body, "voter": token})
        api(base, "POST", f"/moderation/comments/{comment['id']}", {"action": "approve"})


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_widget(demo, live_server, output_dir, scheme):
    page = demo(color_scheme=scheme, reduced_motion="reduce", viewport={"width": 720, "height": 1200})
    seed_conversation(live_server)
    page.reload()
    host = widget(page)
    host.locator("h3").filter(has_text="2 Responses").wait_for()
    host.locator("button.yay").click()
    wait_for_total(page, "3 votes · You voted YAY")
    assert host.locator(".t.yay").inner_text() == "YAY" and host.locator(".t.nay").inner_text() == "NAY"
    background = page.evaluate(
        "getComputedStyle(document.querySelector('[data-yaynay-poll]').shadowRoot.querySelector('.w')).backgroundColor"
    )
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(28, 28, 28)")
    host.screenshot(path=str(output_dir / f"widget-{scheme}.png"))


def test_where_streams_fail_the_widget_polls_the_tally(demo, live_server, browser):
    page = demo()
    page.route("**/events", lambda route: route.abort())
    page.reload()
    page.locator("[data-yaynay-live=polling]").wait_for(timeout=5000)
    api(live_server, "POST", f"/polls/{POLL}/votes", {"choice": "nay", "voter": "another-reader-token-1"})
    wait_for_total(page, "1 vote", timeout=7000)


def test_an_unavailable_service_gets_a_readable_message_and_a_retry(demo):
    page = demo()
    host = widget(page)
    wait_for_total(page, "0 votes")
    page.route(
        "**/votes",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "1", "Content-Type": "application/json"},
            body='{"code": 503, "status": "Service Unavailable", "message": "down", "errors": {}}',
        ),
    )
    host.locator("button.yay").click()
    alert = host.locator("p.msg[role=alert]")
    alert.filter(has_text="busy right now").wait_for()
    page.unroute("**/votes")
    alert.locator("button").click()
    wait_for_total(page, "1 vote · You voted YAY")
    assert alert.inner_text() == ""


def test_a_reply_from_the_widget_appears_under_the_comment_it_answers(demo, live_server):
    page = demo()
    seed_conversation(live_server)
    page.reload()
    host = widget(page)
    host.locator("h3").filter(has_text="2 Responses").wait_for()
    host.locator("button[aria-label='Reply to Tom']").click()
    assert host.locator("form.f p.m").inner_text().startswith("Replying to Tom")
    host.locator("#f-author").fill("Priya")
    host.locator("#f-body").fill("A bottle clip fixes that!")
    host.locator("form.f button[type=submit]").click()
    host.locator("form.f p.msg").filter(has_text="awaits moderation").wait_for()
    assert host.locator("form.f p.m").is_hidden()

    (pending,) = api(live_server, "GET", "/moderation/queue")["comments"]
    assert pending["page_url"] == f"{live_server}/"  # the article, for moderators
    assert pending["parent_id"].endswith(api(live_server, "GET", f"/threads/{POLL}/comments")["comments"][1]["id"])
    api(live_server, "POST", f"/moderation/comments/{pending['id']}", {"action": "approve"})
    page.reload()
    host.locator("h3").filter(has_text="3 Responses").wait_for()
    nested = host.locator("ol > li:nth-child(2) ol.replies > li p.txt")
    assert nested.all_inner_texts() == ["A bottle clip fixes that!"]


def test_embedding_options_choose_the_thread_or_turn_comments_off(demo, live_server):
    page = demo()  # creates the poll
    comment = api(live_server, "POST", "/threads/other-thread/comments", {"author": "Ann", "body": "Elsewhere"})
    api(live_server, "POST", f"/moderation/comments/{comment['id']}", {"action": "approve"})
    article = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Options</title></head><body>
<div id="poll-only" data-yaynay-poll="{POLL}" data-yaynay-comments="off"></div>
<div id="other" data-yaynay-poll="{POLL}" data-yaynay-thread="other-thread"></div>
<script src="{live_server}/widget.js" async></script></body></html>"""
    page.route(
        f"{live_server}/options", lambda route: route.fulfill(status=200, content_type="text/html", body=article)
    )
    page.goto(f"{live_server}/options")

    other = page.locator("#other")
    other.locator("h3").filter(has_text="1 Response").wait_for()
    assert other.locator("ol li p.txt").all_inner_texts() == ["Elsewhere"]
    poll_only = page.locator("#poll-only")
    poll_only.locator("p.total").filter(has_text="0 votes").wait_for()
    assert poll_only.locator("form.f").count() == 0
    assert poll_only.locator("ol").count() == 0
