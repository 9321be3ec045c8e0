"""A reader's own comments in the widget, and the iframe resized by /embed.js on another origin."""

from tests.browser.test_widget import POLL, api, widget
from tests.conftest import ALLOWED_ORIGIN


def post_from_widget(host, body, author="Reader One", email="", remember_email=False):
    host.locator("#f-author").fill(author)
    host.locator("#f-email").fill(email)
    if remember_email:
        host.locator("#f-remember").check()
    host.locator("#f-website").fill("https://reader.example")
    host.locator("#f-body").fill(body)
    host.locator("form.f button[type=submit]").click()
    host.locator("form.f p.msg").filter(has_text="Thank you").wait_for()


def test_a_reader_sees_edits_and_deletes_their_own_pending_comment(live_server, new_page):
    page = new_page(f"{live_server}/")
    host = widget(page)
    post_from_widget(host, "Mine, see https://shop.example/bag.")
    mine = host.locator("ol.own li.pending")
    mine.locator(".await").filter(has_text="Awaiting moderation").wait_for()
    link = mine.locator("p.txt a")
    assert link.get_attribute("href") == "https://shop.example/bag"
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    assert mine.locator("p.txt").inner_text() == "Mine, see https://shop.example/bag."

    stranger = widget(new_page(f"{live_server}/"))
    stranger.locator("h3").filter(has_text="No responses yet").wait_for()
    assert stranger.locator("ol.own li").count() == 0

    mine.get_by_role("button", name="Edit").click()
    mine.locator(".editor textarea").fill("Mine, edited.")
    mine.get_by_role("button", name="Save").click()
    host.locator("ol.own li.pending p.txt").filter(has_text="Mine, edited.").wait_for()
    (queued,) = api(live_server, "GET", "/moderation/queue")["comments"]
    assert queued["body"] == "Mine, edited."

    page.reload()
    host.locator("ol.own li.pending p.txt").filter(has_text="Mine, edited.").wait_for()
    assert host.locator("#f-author").input_value() == "Reader One"
    assert host.locator("#f-website").input_value() == "https://reader.example"

    delete = host.locator("ol.own li.pending").get_by_role("button", name="Delete")
    delete.click()
    host.locator("ol.own li.pending").get_by_role("button", name="Really delete?").click()
    host.locator("ol.own li").wait_for(state="detached")
    assert api(live_server, "GET", "/moderation/queue")["comments"] == []


def test_the_email_is_remembered_only_when_asked_and_approved_comments_keep_their_controls(live_server, new_page):
    page = new_page(f"{live_server}/")
    host = widget(page)
    post_from_widget(host, "Not remembered.", email="one@example.com")
    page.reload()
    host.locator("ol.own li.pending").wait_for()
    assert host.locator("#f-email").input_value() == ""
    post_from_widget(host, "Remembered.", email="two@example.com", remember_email=True)
    for comment in api(live_server, "GET", "/moderation/queue")["comments"]:
        api(live_server, "POST", f"/moderation/comments/{comment['id']}", {"action": "approve"})
    page.reload()
    host.locator("h3").filter(has_text="2 Responses").wait_for()
    assert host.locator("#f-email").input_value() == "two@example.com"
    assert host.locator("ol.own li").count() == 0
    assert host.locator("ol li").first.get_by_role("button", name="Delete").count() == 1
    host.get_by_role("button", name="Newest first").click()
    host.locator("ol li p.txt").first.filter(has_text="Remembered.").wait_for()


def host_page(live_server, default_height):
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head><body>'
        f'<iframe id="poll" src="{live_server}/embed/{POLL}?host={ALLOWED_ORIGIN}" title="Poll" '
        f'style="width:100%;border:0;height:{default_height}px"></iframe>'
        f'<script src="{live_server}/embed.js" async></script></body></html>'
    )


def test_the_iframe_grows_to_its_content_on_an_allowed_host_page(live_server, new_page):
    api(live_server, "PUT", f"/polls/{POLL}", {"question": "Are you YAY or NAY on mini backpacks?"})
    for n in range(4):
        posted = api(
            live_server, "POST", f"/threads/{POLL}/comments", {"author": f"R{n}", "body": f"Comment {n}\n" * 10}
        )
        api(live_server, "POST", f"/moderation/comments/{posted['id']}", {"action": "approve"})
    # The host page lives on another origin (the allowed one), served by the browser's router.
    page = new_page(permissions=["local-network-access"])
    page.route(
        f"{ALLOWED_ORIGIN}/article",
        lambda route: route.fulfill(content_type="text/html", body=host_page(live_server, 300)),
    )
    page.goto(f"{ALLOWED_ORIGIN}/article")
    page.wait_for_function("document.getElementById('poll').getBoundingClientRect().height > 900")
    frame = page.frame_locator("#poll")
    frame.locator("#responses").filter(has_text="4 Responses").wait_for()
    content = page.frames[1].evaluate("document.documentElement.scrollHeight")
    height = page.evaluate("document.getElementById('poll').getBoundingClientRect().height")
    assert abs(height - content) <= 2

    # A message from any other origin (here, the host page itself) changes nothing.
    page.evaluate("window.postMessage({yaynay: 'height', height: 50}, '*')")
    page.wait_for_timeout(200)
    assert page.evaluate("document.getElementById('poll').getBoundingClientRect().height") == height
