"""Readers without JavaScript: the iframe page and the demo article's plain form work with scripts
disabled in the browser, the iframe page says who may frame it, and the SVG badge is cacheable.

Everything runs against the real gunicorn server; set-up and moderation go through its HTTP API.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import Page, expect

from service.core.demo import DEMO_POLL, DEMO_QUESTION
from tests.conftest import ADMIN_TOKEN, ALLOWED_ORIGIN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PENDING = "yaynay-comment-pending"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirects)


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of one HTTP request; JSON body, redirects not followed."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        response = OPENER.open(request, timeout=5)
    except urllib.error.HTTPError as error:  # 3xx, 4xx and 5xx, 304 included
        response = error
    with response:
        return response.status, response.headers, response.read()


@pytest.fixture
def server(live_server) -> str:
    """The live server's base URL, with the demo poll created through the admin API."""
    status, _, raw = call("PUT", f"{live_server}/api/v1/polls/{DEMO_POLL}", {"question": DEMO_QUESTION}, ADMIN)
    assert status == 201, raw
    return live_server


def vote(server: str, choice: str, voter: str | None = None) -> dict:
    status, _, raw = call(
        "POST",
        f"{server}/api/v1/polls/{DEMO_POLL}/votes",
        {"choice": choice, "voter": voter or secrets.token_urlsafe(16)},
    )
    assert status == 200, raw
    return json.loads(raw)


def approve_pending(server: str) -> list[dict]:
    """Approve every pending comment through the moderation API; the comments as moderators saw them."""
    status, _, raw = call("GET", f"{server}/api/v1/moderation/queue?status=pending", headers=ADMIN)
    assert status == 200, raw
    pending = json.loads(raw)["comments"]
    for comment in pending:
        status, _, raw = call(
            "POST", f"{server}/api/v1/moderation/comments/{comment['id']}", {"action": "approve"}, ADMIN
        )
        assert status == 200, raw
    return pending


def submit(page: Page, button):
    """Click a form's submit button; the response to the POST (not the page it redirects to)."""
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        button.click()
    page.wait_for_load_state()
    return posted.value


def assert_tally(page: Page, yay: str, nay: str, total: str) -> None:
    expect(page.locator("#tally .figure[data-side=yay]")).to_have_text(yay)
    expect(page.locator("#tally .figure[data-side=nay]")).to_have_text(nay)
    expect(page.locator("#tally p.total")).to_have_text(total)


@pytest.fixture
def no_js(new_page):
    """A page in a fresh context with JavaScript disabled."""
    return lambda url=None: new_page(url, java_script_enabled=False)


def test_the_iframe_page_votes_and_changes_the_vote_without_javascript(no_js, server):
    embed = f"{server}/embed/{DEMO_POLL}"
    page = no_js(embed)
    expect(page.locator("h1#question")).to_have_text(DEMO_QUESTION)
    assert_tally(page, "0% · 0", "0% · 0", "0 votes")

    posted = submit(page, page.get_by_role("button", name="YAY"))
    assert posted.status == 303
    assert page.url == f"{embed}#tally"
    assert_tally(page, "100% · 1", "0% · 0", "1 vote · You voted YAY")
    expect(page.locator("form.vote button.yay")).to_have_attribute("aria-pressed", "true")
    assert [c["name"] for c in page.context.cookies()] == ["yaynay_voter"]

    assert submit(page, page.get_by_role("button", name="NAY")).status == 303
    assert_tally(page, "0% · 0", "100% · 1", "1 vote · You voted NAY")  # moved, not a second vote
    expect(page.locator("form.vote button.nay")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("form.vote button.yay")).to_have_attribute("aria-pressed", "false")

    page.reload()
    assert_tally(page, "0% · 0", "100% · 1", "1 vote · You voted NAY")
    status, _, raw = call("GET", f"{server}/api/v1/polls/{DEMO_POLL}")
    assert json.loads(raw)["tally"] == {"yay": 0, "nay": 1, "total": 1}


def test_the_iframe_page_takes_a_comment_without_javascript(no_js, server):
    embed = f"{server}/embed/{DEMO_POLL}"
    page = no_js(embed)
    notice = page.locator(f"#{PENDING}")
    expect(notice).to_be_hidden()
    expect(page.locator("#responses")).to_have_text("No responses yet")

    page.locator("#author").fill("No-Script Reader")
    page.locator("#email").fill("noscript.reader@example.com")
    page.locator("#body").fill("Posted from the iframe\nwithout JavaScript.")
    posted = submit(page, page.get_by_role("button", name="Post comment"))
    assert posted.status == 303
    assert page.url == f"{embed}#{PENDING}"
    expect(notice).to_be_visible()
    mine = page.locator("ol.comments > li.pending")  # held for moderation, shown to its author alone
    expect(mine).to_have_count(1)
    expect(mine.locator(".await")).to_have_text("Awaiting moderation: only you see this.")
    expect(page.locator("#responses")).to_have_text("No responses yet")

    [pending] = approve_pending(server)
    assert pending["email"] == "noscript.reader@example.com"  # moderators see it, readers never do
    page.goto(embed)
    expect(notice).to_be_hidden()
    expect(page.locator("#responses")).to_have_text("1 Response")
    comment_id = pending["id"]  # its dot would read as a class in an #id selector
    comment = page.locator(f"ol.comments > li[id='comment-{comment_id}']")
    expect(comment.locator(".author")).to_have_text("No-Script Reader")
    expect(comment.locator(".body")).to_have_text("Posted from the iframe\nwithout JavaScript.")
    assert "noscript.reader" not in page.content()


def test_the_demo_article_form_takes_a_comment_without_javascript(no_js, server):
    page = no_js(f"{server}/")
    notice = page.locator(f"#{PENDING}")
    expect(notice).to_be_hidden()
    page.locator("#demo-author").fill("Plain Form Reader")
    page.locator("#demo-email").fill("plain@example.com")
    page.locator("#demo-body").fill("The plain form works.")
    posted = submit(page, page.get_by_role("button", name="Post comment"))
    assert posted.status == 303
    assert page.url == f"{server}/#{PENDING}"
    expect(notice).to_be_visible()
    [pending] = approve_pending(server)
    assert (pending["author"], pending["body"]) == ("Plain Form Reader", "The plain form works.")


def test_the_demo_article_form_keeps_the_text_when_the_name_is_blank(no_js, server):
    page = no_js(f"{server}/")
    # A name of spaces passes the browser's `required` check and is empty once the service trims it.
    page.locator("#demo-author").fill("   ")
    page.locator("#demo-body").fill("My comment,\nwhich must not be lost.")
    posted = submit(page, page.get_by_role("button", name="Post comment"))
    assert posted.status == 422
    expect(page.locator("[role=alert]")).to_contain_text("nothing you typed is lost")
    expect(page.locator("ul.error")).to_contain_text("Name")
    expect(page.locator("#author")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#body")).to_have_value("My comment,\nwhich must not be lost.")

    page.locator("#author").fill("Named Now")  # fixed, the reader goes back to the article
    assert submit(page, page.get_by_role("button", name="Post comment")).status == 303
    assert page.url == f"{server}/#{PENDING}"
    expect(page.locator(f"#{PENDING}")).to_be_visible()


def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: its sources}."""
    parts = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_the_iframe_page_says_only_the_publisher_may_frame_it(no_js, server):
    page = no_js()
    response = page.goto(f"{server}/embed/{DEMO_POLL}")
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == f"'self' {ALLOWED_ORIGIN}"
    assert policy["script-src"] == "'self'"


def article_framing(new_page, server: str) -> Page:
    """A page without JavaScript on which every https://<host>/article frames the iframe page."""
    embed = f"{server}/embed/{DEMO_POLL}"
    article = f'<!doctype html><title>Article</title><iframe src="{embed}" title="poll" height="900"></iframe>'
    # Public https pages framing the loopback test server need Chromium's local network permission.
    page = new_page(java_script_enabled=False, permissions=["local-network-access"])
    page.route("https://*/article", lambda route: route.fulfill(content_type="text/html", body=article))
    return page


def test_the_publisher_can_frame_the_iframe_page_and_others_cannot(new_page, server):
    page = article_framing(new_page, server)
    page.goto(f"{ALLOWED_ORIGIN}/article")
    expect(page.frame_locator("iframe").locator("h1#question")).to_have_text(DEMO_QUESTION)
    page.goto("https://elsewhere.example/article")
    expect(page.frame_locator("iframe").locator("h1#question")).to_have_count(0)


def test_the_badge_is_a_cacheable_svg_of_the_percentages(server):
    for choice in ("yay", "yay", "yay", "nay"):
        vote(server, choice)
    badge = f"{server}/api/v1/polls/{DEMO_POLL}/badge.svg"
    status, headers, raw = call("GET", badge)
    assert status == 200
    assert headers.get_content_type() == "image/svg+xml"
    svg = ET.fromstring(raw)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [text.text for text in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["YAY 75%", "4 votes", "NAY 25%"]
    assert "YAY 75%, NAY 25%, 4 votes" in svg.get("aria-label")
    etag = headers["ETag"]
    assert etag

    status, headers, raw = call("GET", badge, headers={"If-None-Match": etag})
    assert (status, raw) == (304, b"")
    assert headers["ETag"] == etag

    vote(server, "nay")
    status, headers, raw = call("GET", badge, headers={"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    assert [t.text for t in ET.fromstring(raw).iter("{http://www.w3.org/2000/svg}text")] == [
        "YAY 60%",
        "5 votes",
        "NAY 40%",
    ]


def test_the_iframe_page_lets_a_reader_edit_and_delete_their_comment_without_javascript(no_js, server):
    embed = f"{server}/embed/{DEMO_POLL}"
    page = no_js(embed)
    page.locator("#author").fill("Own Reader")
    page.locator("#body").fill("First thoughts.")
    submit(page, page.get_by_role("button", name="Post comment"))
    [pending] = approve_pending(server)
    page.goto(embed)
    mine = page.locator(f"ol.comments > li[id='comment-{pending['id']}']")
    expect(mine.locator(".await")).to_have_count(0)

    mine.get_by_text("Edit", exact=True).click()
    mine.get_by_label("Your comment").fill("Second thoughts.")
    edited = submit(page, mine.get_by_role("button", name="Save edit"))
    assert edited.status == 303
    expect(mine.locator(".body")).to_have_text("Second thoughts.")
    expect(mine.locator(".await")).to_be_visible()  # pre-moderation: the edit waits for a moderator again

    deleted = submit(page, mine.get_by_role("button", name="Delete"))
    assert deleted.status == 303
    expect(page.locator("ol.comments > li")).to_have_count(0)
    assert call("GET", f"{server}/api/v1/moderation/queue?status=pending", headers=ADMIN)[2].count(b"Second") == 0


def test_a_reader_sees_their_pending_comment_in_a_third_party_iframe(new_page, server):
    page = article_framing(new_page, server)
    page.goto(f"{ALLOWED_ORIGIN}/article")
    frame = page.frame_locator("iframe")
    frame.locator("#author").fill("Framed Reader")
    frame.locator("#body").fill("Written inside the publisher's page.")
    frame.get_by_role("button", name="Post comment").click()
    mine = frame.locator("ol.comments > li.pending")
    expect(mine.locator(".body")).to_have_text("Written inside the publisher's page.")
    expect(mine.get_by_role("button", name="Delete")).to_be_visible()
