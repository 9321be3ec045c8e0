"""The console in a real browser: reasons, bulk decisions, the log, threads, polls and tokens, by keyboard too."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN_TOKEN


def api(base, method, path, body=None, token=ADMIN_TOKEN):
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def submit(base, author, body, thread="mini-backpacks", **fields):
    status, answer = api(base, "POST", f"/threads/{thread}/comments", {"author": author, "body": body, **fields})
    assert status == 202, answer
    return answer["id"]


def sign_in(page, token=ADMIN_TOKEN):
    page.locator("#token").fill(token)
    page.locator("#sign-in").click()
    page.locator("#moderation").wait_for()


@pytest.fixture
def poll(live_server):
    status, _ = api(live_server, "PUT", "/polls/mini-backpacks", {"question": "Are you YAY or NAY on mini backpacks?"})
    assert status in (200, 201)
    return "mini-backpacks"


def test_the_sign_in_page_says_how_to_get_a_token(live_server, new_page):
    page = new_page(f"{live_server}/moderate")
    help_text = page.locator("#token-help").inner_text()
    assert "yaynay token create --name NAME --role moderator" in help_text
    assert "docker compose exec yaynay yaynay token create" in help_text


def test_a_decision_carries_its_reason_into_the_log_and_bulk_rejects_the_rest(live_server, new_page, poll):
    kept = submit(live_server, "Ann", "Love them", page_url="https://blog.example/mini-backpacks")
    spam = [submit(live_server, f"Bot {n}", f"Buy watches {n}") for n in range(3)]
    page = new_page(f"{live_server}/moderate")
    sign_in(page)

    item = page.locator(f'article[data-comment-id="{kept}"]')
    expect(item.locator("a")).to_have_attribute("href", "https://blog.example/mini-backpacks")
    page.locator("#reason").fill("on topic")
    item.locator('[data-action="approve"]').click()
    item.wait_for(state="detached")

    page.locator("#reason").fill("watch spam")
    for comment_id in spam:
        page.locator(f'article[data-comment-id="{comment_id}"] input.select').check()
    page.locator("#bulk-reject").click()
    expect(page.locator("#status")).to_have_text("Rejected 3 comments.")
    expect(page.locator("#queue article")).to_have_count(0)

    page.locator('button[data-view="log"]').click()
    rows = page.locator("#log tr")
    expect(rows).to_have_count(4)
    assert "on topic" in rows.last.inner_text()
    assert "watch spam" in rows.first.inner_text()


def test_a_reply_shows_its_parent_and_threads_list_their_counts(live_server, new_page, poll):
    parent = submit(live_server, "Ann", "The parent <i>text</i>", page_url="https://blog.example/a")
    api(live_server, "POST", f"/moderation/comments/{parent}", {"action": "approve"})
    reply = submit(live_server, "Bob", "I disagree", parent_id=parent)
    page = new_page(f"{live_server}/moderate")
    sign_in(page)
    quote = page.locator(f'article[data-comment-id="{reply}"] .parent')
    expect(quote).to_contain_text("In reply to Ann")
    expect(quote.locator("blockquote")).to_have_text("The parent <i>text</i>")

    page.locator('button[data-view="threads"]').click()
    row = page.locator('tr[data-thread-id="mini-backpacks"]')
    expect(row).to_contain_text("https://blog.example/a")
    assert [cell.strip() for cell in row.locator("td").all_inner_texts()[1:5]] == ["1", "1", "0", "0"]
    row.locator("button[data-queue-thread]").click()
    expect(page.locator("#queue-heading")).to_have_text("Pending comments in mini-backpacks")


def test_an_admin_creates_edits_closes_reopens_and_deletes_a_poll(live_server, new_page):
    page = new_page(f"{live_server}/moderate")
    sign_in(page)
    page.locator('button[data-view="polls"]').click()
    page.locator("#poll-id").fill("crocs")
    page.locator("#poll-question").fill("Crocs: YAY or NAY?")
    page.locator("#poll-create").click()
    row = page.locator('tr[data-poll-id="crocs"]')
    expect(row).to_contain_text("Crocs: YAY or NAY?")
    expect(row).to_contain_text("open")

    row.locator('[data-poll-action="edit"]').click()
    row.locator("input[name=question]").fill("Crocs in the office: YAY or NAY?")
    row.locator("input[name=question]").press("Enter")
    expect(row).to_contain_text("Crocs in the office: YAY or NAY?")

    row.locator('[data-poll-action="close"]').click()
    expect(row.locator("td").nth(2)).to_have_text("closed")
    assert api(live_server, "GET", "/polls/crocs")[1]["state"] == "closed"
    row.locator('[data-poll-action="reopen"]').click()
    expect(row.locator("td").nth(2)).to_have_text("open")

    row.locator('[data-poll-action="delete"]').click()
    row.locator('[data-poll-action="cancel"]').click()  # nothing deleted without confirmation
    assert api(live_server, "GET", "/polls/crocs")[0] == 200
    row.locator('[data-poll-action="delete"]').click()
    row.locator('[data-poll-action="confirm-delete"]').click()
    expect(row).to_have_count(0)
    assert api(live_server, "GET", "/polls/crocs")[0] == 404


def test_an_admin_creates_a_token_shown_once_and_revokes_it(live_server, new_page):
    page = new_page(f"{live_server}/moderate")
    sign_in(page)
    page.locator('button[data-view="tokens"]').click()
    page.locator("#token-name").fill("maria")
    page.locator("#token-create").click()
    value = page.locator("#new-token-value")
    expect(value).not_to_be_empty()
    token = value.inner_text()
    assert api(live_server, "GET", "/moderation/queue", token=token)[0] == 200
    expect(page.locator('tr[data-token-name="maria"]')).to_contain_text("moderator")
    assert token not in page.locator("#tokens").inner_text()

    page.locator('button[data-revoke="maria"]').click()
    expect(page.locator('tr[data-token-name="maria"]')).to_have_count(0)
    assert api(live_server, "GET", "/moderation/queue", token=token)[0] == 401


def test_a_moderator_sees_no_admin_parts(live_server, new_page):
    _, created = api(live_server, "POST", "/tokens", {"name": "mo", "role": "moderator"})
    page = new_page(f"{live_server}/moderate")
    sign_in(page, created["token"])
    expect(page.locator('button[data-view="threads"]')).to_be_visible()
    page.locator('button[data-view="log"]').wait_for()
    expect(page.locator('button[data-view="polls"]')).to_be_hidden()
    expect(page.locator('button[data-view="tokens"]')).to_be_hidden()


def test_the_keyboard_reaches_a_decision_and_presses_it(live_server, new_page, poll):
    first = submit(live_server, "Ann", "First")
    second = submit(live_server, "Bob", "Second")
    page = new_page(f"{live_server}/moderate")
    page.locator("#token").focus()
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    page.locator(f'article[data-comment-id="{first}"]').wait_for()

    approve = page.locator(f'article[data-comment-id="{first}"] [data-action="approve"]')
    for _ in range(40):
        page.keyboard.press("Tab")
        if approve.evaluate("button => button === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Approve button")
    page.keyboard.press("Enter")
    page.locator(f'article[data-comment-id="{first}"]').wait_for(state="detached")

    # Focus stays in the list: the next comment, whose buttons Tab reaches and Space presses.
    reject = page.locator(f'article[data-comment-id="{second}"] [data-action="reject"]')
    for _ in range(10):
        page.keyboard.press("Tab")
        if reject.evaluate("button => button === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Reject button")
    page.keyboard.press("Space")
    page.locator(f'article[data-comment-id="{second}"]').wait_for(state="detached")
    statuses = {
        entry["comment_id"]: entry["action"] for entry in api(live_server, "GET", "/moderation/log")[1]["entries"]
    }
    assert statuses == {first: "approve", second: "reject"}
