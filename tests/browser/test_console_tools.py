"""The console's spam and notification tools in a real browser: webhooks (secret shown once),
the blocklist, bans made from a queue item, a poll's vote integrity and the moderators' mail."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_console import api, sign_in, submit
from tests.conftest import LIVE_SECRET, ON_CLUSTER
from tests.notifications.conftest import running_receiver


@pytest.fixture
def server_env():
    # The webhook receivers here are on 127.0.0.1, which the default refuses.
    return {"YAYNAY_WEBHOOK_ALLOW_PRIVATE": "true"}


@pytest.fixture
def console(live_server, new_page):
    page = new_page(f"{live_server}/moderate")
    sign_in(page)
    return page


def test_an_admin_adds_a_webhook_sees_its_secret_once_edits_disables_and_deletes_it(live_server, console, new_page):
    page = console
    page.locator('button[data-view="webhooks"]').click()
    page.locator("#webhook-url").fill("http://127.0.0.1:9/hook")
    page.locator('#webhook-form input[value="comment.submitted"]').uncheck()
    page.locator("#webhook-add").click()  # no event chosen: refused, and the form keeps the URL
    expect(page.locator("#status")).to_contain_text("events")
    expect(page.locator("#webhook-url")).to_have_value("http://127.0.0.1:9/hook")

    page.locator('#webhook-form input[value="poll.created"]').check()
    page.locator("#webhook-format").select_option("slack")
    page.locator("#webhook-add").click()
    secret = page.locator("#new-secret-value")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    (hook,) = api(live_server, "GET", "/webhooks")[1]["webhooks"]
    assert (hook["events"], hook["format"]) == (["poll.created"], "slack")
    row = page.locator(f'tr[data-webhook-id="{hook["id"]}"]')
    expect(row).to_contain_text("Healthy")
    assert secret.inner_text() not in row.inner_text()

    again = new_page(f"{live_server}/moderate")  # a fresh page never shows the secret again
    sign_in(again)
    again.locator('button[data-view="webhooks"]').click()
    expect(again.locator(f'tr[data-webhook-id="{hook["id"]}"]')).to_be_visible()
    expect(again.locator("#new-secret")).to_be_hidden()
    assert secret.inner_text() not in again.content()

    row.locator('[data-hook-action="edit"]').click()
    page.locator('tr.edit-row input[value="poll.closed"]').check()
    page.locator("tr.edit-row button[type=submit]").click()
    expect(row.locator("td").nth(1)).to_have_text("poll.created, poll.closed")
    row.locator('[data-hook-action="disable"]').click()
    expect(row).to_contain_text("Disabled")
    assert api(live_server, "GET", f"/webhooks/{hook['id']}")[1]["disabled"] is True
    row.locator('[data-hook-action="enable"]').click()
    expect(row).to_contain_text("Healthy")

    row.locator('[data-hook-action="deliveries"]').click()
    expect(page.locator("#deliveries-empty")).to_be_visible()
    row.locator('[data-hook-action="delete"]').click()
    row.locator('[data-confirm="yes"]').click()
    expect(row).to_have_count(0)
    assert api(live_server, "GET", "/webhooks")[1]["webhooks"] == []


@pytest.fixture
def failing_receiver():
    """A webhook receiver that answers every POST with 500."""
    with running_receiver() as receiver:
        receiver.statuses = [500]
        yield receiver


def delivery_ids(receiver) -> list[str]:
    """The ``webhook-id`` of each delivery the receiver got, in order."""
    return [delivery["headers"]["webhook-id"] for delivery in receiver.received]


def run_worker(redis_url, tmp_path):
    """``yaynay worker --burst`` on the live server's Redis: the jobs waiting now, then exit."""
    env = dict(
        os.environ,
        YAYNAY_REDIS_URL=redis_url,
        YAYNAY_REDIS_CLUSTER="true" if ON_CLUSTER else "false",
        YAYNAY_SECRET_KEY=LIVE_SECRET,
        YAYNAY_VAR_DIR=str(tmp_path / "worker"),
        YAYNAY_WEBHOOK_ALLOW_PRIVATE="true",
    )
    executable = Path(sys.executable).parent / "yaynay"
    done = subprocess.run([str(executable), "worker", "--burst"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_an_admin_sees_a_failing_webhooks_attempts_and_redelivers_one(
    live_server, console, failing_receiver, redis_url, tmp_path
):
    url = failing_receiver.url
    _, hook = api(live_server, "POST", "/webhooks", {"url": url, "events": ["poll.created"]})
    api(live_server, "PUT", "/polls/crocs", {"question": "Crocs: YAY or NAY?"})
    run_worker(redis_url, tmp_path)
    received = delivery_ids(failing_receiver)
    assert len(received) == 1

    page = console
    page.locator('button[data-view="webhooks"]').click()
    row = page.locator(f'tr[data-webhook-id="{hook["id"]}"]')
    expect(row).to_contain_text("Failing since")
    row.locator('[data-hook-action="deliveries"]').click()
    expect(page.locator("#deliveries-heading")).to_have_text(f"Deliveries to {url}")
    attempt = page.locator(f'#deliveries tr[data-delivery-id="{received[0]}"]')
    expect(attempt.locator("td").nth(1)).to_have_text("poll.created")
    expect(attempt.locator("td").nth(3)).to_have_text("500")
    expect(attempt.locator("td").nth(4)).to_have_text(re.compile(r"^\d+ ms$"))
    attempt.locator("button[data-redeliver]").click()
    expect(page.locator("#status")).to_have_text(f"Queued {received[0]} again.")
    run_worker(redis_url, tmp_path)
    received = delivery_ids(failing_receiver)
    # The redelivery is a first try again (attempt 0); a due retry of the first (attempt 1) may run too.
    attempts = api(live_server, "GET", f"/webhooks/{hook['id']}/deliveries")[1]["deliveries"]
    assert [entry["attempt"] for entry in attempts if entry["delivery_id"] == received[0]].count(0) == 2
    assert set(received) == {received[0]}


def test_a_moderator_adds_and_deletes_a_blocklist_rule(live_server, console):
    page = console
    page.locator('button[data-view="blocklist"]').click()
    page.locator("#rule-value").fill("   ")
    page.locator("#rule-add").click()  # blank: refused naming the value, the form kept
    expect(page.locator("#status")).to_contain_text("value")
    expect(page.locator("#rule-value")).to_have_value("   ")

    page.locator("#rule-kind").select_option("domain")
    page.locator("#rule-value").fill("Spam.Example")
    page.locator("#rule-action").select_option("reject")
    page.locator("#rule-add").click()
    row = page.locator("#rules tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("spam.example")
    expect(row.locator("td").nth(2)).to_have_text("reject")
    (rule,) = api(live_server, "GET", "/moderation/blocklist")[1]["rules"]
    assert (rule["kind"], rule["value"], rule["action"]) == ("domain", "spam.example", "reject")

    row.locator("button[data-rule-delete]").click()
    row.locator('[data-confirm="no"]').click()  # nothing deleted without confirmation
    assert len(api(live_server, "GET", "/moderation/blocklist")[1]["rules"]) == 1
    row.locator("button[data-rule-delete]").click()
    row.locator('[data-confirm="yes"]').click()
    expect(page.locator("#rules tr")).to_have_count(0)
    assert api(live_server, "GET", "/moderation/blocklist")[1]["rules"] == []


def test_a_moderator_bans_from_a_queue_item_and_revokes_the_ban(live_server, new_page):
    api(live_server, "PUT", "/polls/mini-backpacks", {"question": "Are you YAY or NAY on mini backpacks?"})
    without_email = submit(live_server, "Bot", "Buy watches")
    comment = submit(live_server, "Eve", "Buy watches <b>now</b>", email="eve@example.com")
    _, made = api(live_server, "POST", "/tokens", {"name": "mo", "role": "moderator"})
    page = new_page(f"{live_server}/moderate")
    sign_in(page, made["token"])

    plain = page.locator(f'article[data-comment-id="{without_email}"]')
    plain.locator("button[data-ban]").click()
    expect(plain.locator('input[name="email"]')).to_be_disabled()
    plain.locator("button[data-ban-cancel]").click()
    expect(plain.locator("form.ban-form")).to_have_count(0)

    item = page.locator(f'article[data-comment-id="{comment}"]')
    item.locator("button[data-ban]").click()
    item.locator('input[name="email"]').check()
    item.locator('select[name="duration"]').select_option("604800")
    item.locator("button[data-ban-submit]").click()
    expect(page.locator("#status")).to_contain_text("Banned the IP digest")
    (ban,) = api(live_server, "GET", "/moderation/bans")[1]["bans"]
    assert ban["comment_id"] == comment and ban["ip_hash"] and ban["email_digest"]

    page.locator('button[data-view="bans"]').click()
    row = page.locator(f'tr[data-ban-id="{ban["id"]}"]')
    expect(row).to_contain_text(comment)
    expect(row).to_contain_text("and email")
    expect(row.locator("time")).to_have_attribute("datetime", ban["until"])
    row.locator("button[data-ban-revoke]").click()
    expect(row).to_have_count(0)
    expect(page.locator("#bans-empty")).to_be_visible()
    assert api(live_server, "GET", "/moderation/bans")[1]["bans"] == []


def test_the_integrity_of_a_poll_with_votes_shows_its_figures_and_sparkline(live_server, console):
    api(live_server, "PUT", "/polls/crocs", {"question": "Crocs: YAY or NAY?"})
    for number in range(3):
        status, answer = api(
            live_server, "POST", "/polls/crocs/votes", {"choice": "nay", "voter": f"console-voter-{number:04d}"}
        )
        assert status in (200, 201), answer
    api(live_server, "POST", "/polls/crocs/votes", {"choice": "yay", "voter": "console-voter-0000"})  # a change
    page = console
    page.locator('button[data-view="polls"]').click()
    page.locator('tr[data-poll-id="crocs"] [data-poll-action="integrity"]').click()
    expect(page.locator("#integrity-poll")).to_have_value("crocs")
    expect(page.locator("#integrity-new")).to_have_text("3")
    expect(page.locator("#integrity-changes")).to_have_text("1")
    expect(page.locator("#integrity-refused")).to_have_text("0 (0.0% of new voters)")
    expect(page.locator("#integrity-chart-caption")).to_contain_text("4 in all")
    assert page.locator("#integrity-chart polyline").get_attribute("points").count(",") == 60
    ips = page.locator("#integrity-ips tr")
    expect(ips).to_have_count(1)
    expect(ips.locator("td").nth(1)).to_have_text("4")
    assert "127.0.0.1" not in ips.inner_text()

    page.locator("#integrity-poll").fill("no-such-poll")
    page.locator("#integrity-show").click()
    expect(page.locator("#status")).to_contain_text("no-such-poll")
    expect(page.locator("#integrity")).to_be_hidden()


def test_a_moderator_subscribes_and_unsubscribes_an_address_but_sees_no_webhooks(live_server, new_page):
    _, made = api(live_server, "POST", "/tokens", {"name": "mo", "role": "moderator"})
    page = new_page(f"{live_server}/moderate")
    sign_in(page, made["token"])
    page.locator('button[data-view="log"]').wait_for()
    expect(page.locator('button[data-view="webhooks"]')).to_be_hidden()
    page.locator('button[data-view="mail"]').click()
    page.locator("#mail-address").fill("desk@example.com")
    page.locator("#mail-subscribe").click()
    row = page.locator('tr[data-address="desk@example.com"]')
    expect(row).to_be_visible()
    assert api(live_server, "GET", "/moderation/mail")[1]["subscribers"] == [{"email": "desk@example.com"}]
    row.locator("button[data-unsubscribe]").click()
    expect(row).to_have_count(0)
    assert api(live_server, "GET", "/moderation/mail")[1]["subscribers"] == []


def test_a_rule_that_looks_like_markup_is_shown_as_text(live_server, console):
    hostile = "<img src=x onerror=\"document.title='owned'\"> cheap"
    assert api(live_server, "POST", "/moderation/blocklist", {"kind": "word", "value": hostile})[0] == 201
    page = console
    page.locator('button[data-view="blocklist"]').click()
    value = page.locator("#rules tr td").nth(1)
    expect(value).to_have_text(hostile)
    expect(page.locator("#rules img")).to_have_count(0)
    assert page.title() != "owned"
