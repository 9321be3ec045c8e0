"""The moderators' page in a real browser: sign in with a token, work the queue."""

import json
import urllib.request

from tests.conftest import ADMIN_TOKEN


def submit(base, author, body):
    request = urllib.request.Request(
        f"{base}/api/v1/threads/mini-backpacks/comments",
        method="POST",
        data=json.dumps({"author": author, "body": body}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["id"]


def test_a_moderator_signs_in_and_approves_a_comment(live_server, new_page):
    new_page(f"{live_server}/")  # the demo article creates its poll
    approved = submit(live_server, "Ann", "Love them <b>so</b> much")
    rejected = submit(live_server, "Eve", "Buy watches")
    page = new_page(f"{live_server}/moderate")

    page.locator("#token").fill("wrong-token")
    page.locator("#sign-in").click()
    page.locator("#status").filter(has_text="not accepted").wait_for()

    page.locator("#token").fill(ADMIN_TOKEN)
    page.locator("#sign-in").click()
    item = page.locator(f'article[data-comment-id="{approved}"]')
    item.wait_for()
    assert item.locator("p.body").inner_text() == "Love them <b>so</b> much"
    assert page.evaluate("sessionStorage.getItem('yaynay:moderator-token')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.length") == 0

    item.locator('[data-action="approve"]').click()
    item.wait_for(state="detached")
    page.locator(f'article[data-comment-id="{rejected}"] [data-action="reject"]').click()
    page.locator(f'article[data-comment-id="{rejected}"]').wait_for(state="detached")

    published = new_page(f"{live_server}/embed/mini-backpacks")
    assert published.locator("ol.comments li .body").all_inner_texts() == ["Love them <b>so</b> much"]


def test_the_queue_shows_why_a_spam_tool_held_a_comment(live_server, new_page):
    request = urllib.request.Request(
        f"{live_server}/api/v1/moderation/blocklist",
        method="POST",
        data=json.dumps({"kind": "word", "value": "cheap watches"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    urllib.request.urlopen(request, timeout=5).close()
    held = submit(live_server, "Eve", "Cheap watches here")
    page = new_page(f"{live_server}/moderate")
    page.locator("#token").fill(ADMIN_TOKEN)
    page.locator("#sign-in").click()
    badges = page.locator(f'article[data-comment-id="{held}"] ul.signals li')
    badges.first.wait_for()
    assert "held: blocklist word: cheap watches" in badges.all_inner_texts()
