"""`yaynay webhook` and `yaynay notify`, run as an operator would."""

from __future__ import annotations

from service.core import events

# A public address written as such: no DNS needed, and not refused as a local one.
PUBLIC = "http://93.184.215.14/hook"


def test_webhook_add_list_remove(yaynay):
    added = yaynay("webhook", "add", PUBLIC, "--event", "poll.created", "--format", "slack")
    assert added.returncode == 0, added.stderr
    endpoint_id, secret = added.stdout.strip().split("\t")
    assert endpoint_id.startswith("wh_") and secret.startswith("whsec_")
    assert "not shown again" in added.stderr

    listed = yaynay("webhook", "list")
    assert listed.stdout.strip().split("\t") == [endpoint_id, PUBLIC, "poll.created", "slack", "ok"]
    assert secret not in listed.stdout

    assert yaynay("webhook", "remove", endpoint_id).returncode == 0
    assert yaynay("webhook", "list").stdout == ""
    gone = yaynay("webhook", "remove", endpoint_id)
    assert gone.returncode == 1 and "No webhook endpoint" in gone.stderr


def test_webhook_add_refuses_a_bad_or_local_url_in_one_line(yaynay):
    refused = yaynay("webhook", "add", "ftp://example.com/hook")
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"Error: {events.WEB_URL_ONLY}"
    local = yaynay("webhook", "add", "http://127.0.0.1:9/hook")
    assert local.stderr.strip() == "Error: The host resolves to 127.0.0.1, a local address (see WEBHOOK_ALLOW_PRIVATE)."


def test_notify_subscribe_list_unsubscribe(yaynay):
    assert yaynay("notify", "subscribe", "mod@blog.example").stdout == "subscribed mod@blog.example\n"
    assert yaynay("notify", "list").stdout == "mod@blog.example\n"
    assert yaynay("notify", "unsubscribe", "mod@blog.example").returncode == 0
    assert yaynay("notify", "list").stdout == ""
    assert yaynay("notify", "subscribe", "not-an-address").returncode == 2


def test_notify_takes_an_address_in_any_casing_as_the_one_subscribed(yaynay):
    assert yaynay("notify", "subscribe", "Mod@Blog.example").returncode == 0
    again = yaynay("notify", "subscribe", "mod@blog.example")
    assert again.stdout == "mod@blog.example was already subscribed\n"
    assert yaynay("notify", "list").stdout == "Mod@Blog.example\n"
    assert yaynay("notify", "unsubscribe", "MOD@BLOG.EXAMPLE").returncode == 0
    assert yaynay("notify", "list").stdout == ""
