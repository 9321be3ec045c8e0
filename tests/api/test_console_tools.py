"""The console's spam and notification tools, as the console calls them: the page's forms offer
what the core takes, each call answers for the right role only, and bad input names its field."""

from __future__ import annotations

import re

import pytest

from service.core import events, spam
from service.store.webhooks import Attempt

HOOKS = "/api/v1/webhooks"
BLOCKLIST = "/api/v1/moderation/blocklist"
BANS = "/api/v1/moderation/bans"
MAIL = "/api/v1/moderation/mail"


@pytest.fixture
def settings(settings):
    # The webhooks here point at 127.0.0.1, which the default refuses (tested in tests/notifications).
    return {**settings, "WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def moderator(client, admin):
    answer = client.post("/api/v1/tokens", json={"name": "mo", "role": "moderator"}, headers=admin)
    assert answer.status_code == 201, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


@pytest.fixture
def comment_id(client, make_poll):
    make_poll()
    answer = client.post(
        "/api/v1/threads/mini-backpacks/comments",
        json={"author": "Eve", "body": "Cheap watches", "email": "eve@example.com"},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert answer.status_code == 202, answer.json
    return answer.json["id"]


@pytest.fixture
def hook(client, admin):
    answer = client.post(HOOKS, json={"url": "http://127.0.0.1:9/hook", "events": ["poll.created"]}, headers=admin)
    assert answer.status_code == 201, answer.json
    return answer.json


def test_the_console_page_offers_the_tools_with_the_cores_choices(client):
    page = client.get("/moderate")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "moderate-tools.js" in html
    for event in events.EVENTS:
        assert f'name="events" value="{event}"' in html
    for format in events.FORMATS:
        assert f'<option value="{format}">' in html
    for kind in spam.RULE_KINDS:
        assert f'<option value="{kind}">' in html
    for action in spam.RULE_ACTIONS:
        assert f'<option value="{action}">' in html
    assert re.search(r'data-view="webhooks" data-admin hidden', html)
    for view in ("blocklist", "bans", "integrity", "mail"):
        assert re.search(rf'data-view="{view}">', html), view  # moderators' too: not data-admin
    assert client.get("/static/moderate-tools.js").status_code == 200


def test_a_moderator_subscribes_lists_and_unsubscribes_an_address(client, moderator):
    assert client.post(MAIL, json={"email": "desk@example.com"}, headers=moderator).status_code == 201
    again = client.post(MAIL, json={"email": "desk@example.com"}, headers=moderator)
    assert (again.status_code, again.json) == (200, {"email": "desk@example.com"})
    assert client.get(MAIL, headers=moderator).json == {"subscribers": [{"email": "desk@example.com"}]}
    assert client.delete(f"{MAIL}/desk@example.com", headers=moderator).status_code == 204
    gone = client.delete(f"{MAIL}/desk@example.com", headers=moderator)
    assert gone.status_code == 404 and "desk@example.com" in gone.json["message"]
    assert client.get(MAIL, headers=moderator).json == {"subscribers": []}


def test_an_address_is_one_subscription_in_any_casing(client, moderator):
    assert client.post(MAIL, json={"email": "Desk@Example.com"}, headers=moderator).status_code == 201
    again = client.post(MAIL, json={"email": "desk@example.COM"}, headers=moderator)
    assert (again.status_code, again.json) == (200, {"email": "desk@example.COM"})
    assert client.get(MAIL, headers=moderator).json == {"subscribers": [{"email": "Desk@Example.com"}]}
    assert client.delete(f"{MAIL}/DESK@example.com", headers=moderator).status_code == 204
    assert client.get(MAIL, headers=moderator).json == {"subscribers": []}


def test_an_address_the_cli_subscribes_the_console_lists_and_unsubscribes(yaynay, client, moderator):
    assert yaynay("notify", "subscribe", "night.desk+yaynay@example.org").returncode == 0
    assert client.get(MAIL, headers=moderator).json == {"subscribers": [{"email": "night.desk+yaynay@example.org"}]}
    assert client.delete(f"{MAIL}/night.desk+yaynay@example.org", headers=moderator).status_code == 204
    refused = yaynay("notify", "subscribe", "desk@localhost")  # what the console could not unsubscribe
    assert refused.returncode != 0 and "not a mail address" in refused.stderr


def test_an_address_subscribed_before_the_pattern_was_strict_can_still_be_unsubscribed(yaynay, app, client, moderator):
    store = app.extensions["yaynay"].store.webhooks
    for address in ("desk@localhost", "o'brien@example.com"):  # taken by `yaynay notify subscribe` before
        store.subscribe(address)
    assert client.delete(f"{MAIL}/desk@localhost", headers=moderator).status_code == 204
    assert yaynay("notify", "unsubscribe", "o'brien@example.com").returncode == 0
    assert client.get(MAIL, headers=moderator).json == {"subscribers": []}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", MAIL, {"email": "not an address"}, "email"),
        ("post", MAIL, {}, "email"),
        ("post", MAIL, {"email": "desk@example.com", "name": "Desk"}, "name"),
        ("post", BLOCKLIST, {"kind": "regex", "value": "watches"}, "kind"),
        ("post", BLOCKLIST, {"kind": "word", "value": "watches", "action": "drop"}, "action"),
        ("post", BLOCKLIST, {"kind": "word", "value": "   "}, "value"),
        ("post", BANS, {"comment_id": "{comment}", "ip": True, "duration": 5}, "duration"),
        ("post", BANS, {"comment_id": "not a comment", "ip": True}, "comment_id"),
        ("post", HOOKS, {"url": "javascript:alert(1)", "events": ["poll.created"]}, "url"),
        ("post", HOOKS, {"url": "http://127.0.0.1:9/hook", "events": []}, "events"),
        ("post", HOOKS, {"url": "http://127.0.0.1:9/hook", "events": ["poll.opened"]}, "events"),
        ("patch", "{hook}", {"format": "xml"}, "format"),
        ("patch", "{hook}", {"disabled": "maybe"}, "disabled"),
    ],
)
def test_bad_input_from_a_console_form_is_refused_naming_the_field(
    client, admin, comment_id, hook, method, path, body, field
):
    path = path.replace("{hook}", f"{HOOKS}/{hook['id']}")
    body = {
        name: value.replace("{comment}", comment_id) if isinstance(value, str) else value
        for name, value in body.items()
    }
    answer = getattr(client, method)(path, json=body, headers=admin)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]["json"], answer.json
    assert answer.json["message"]


CONSOLE_CALLS = [
    # (method, path, body, a moderator may)
    ("get", BLOCKLIST, None, True),
    ("post", BLOCKLIST, {"kind": "domain", "value": "spam.example"}, True),
    ("get", BANS, None, True),
    ("post", BANS, {"comment_id": "{comment}", "ip": True}, True),
    ("get", "/api/v1/moderation/polls/mini-backpacks/integrity", None, True),
    ("get", MAIL, None, True),
    ("post", MAIL, {"email": "desk@example.com"}, True),
    ("get", HOOKS, None, False),
    ("post", HOOKS, {"url": "http://127.0.0.1:9/other", "events": ["poll.closed"]}, False),
    ("patch", "{hook}", {"disabled": True}, False),
    ("get", "{hook}/deliveries", None, False),
    ("post", "{hook}/deliveries/msg_" + "0" * 24 + "/redeliver", None, False),
    ("delete", "{hook}", None, False),
]


@pytest.mark.parametrize(("method", "path", "body", "moderator_may"), CONSOLE_CALLS)
def test_each_console_call_needs_a_token_and_webhooks_an_admin_one(
    client, admin, moderator, comment_id, hook, method, path, body, moderator_may
):
    path = path.replace("{hook}", f"{HOOKS}/{hook['id']}")
    if body is not None:
        body = {
            name: value.replace("{comment}", comment_id) if isinstance(value, str) else value
            for name, value in body.items()
        }
    send = getattr(client, method)
    assert send(path, json=body).status_code == 401
    as_moderator = send(path, json=body, headers=moderator)
    if moderator_may:
        assert as_moderator.status_code in (200, 201), as_moderator.json
    else:
        assert as_moderator.status_code == 403, as_moderator.json
        assert send(path, json=body, headers=admin).status_code in (200, 201, 204, 404)


def test_a_webhook_shows_its_secret_once_then_its_health_and_deliveries(client, admin, app, hook):
    assert hook["secret"].startswith("whsec_")
    (listed,) = client.get(HOOKS, headers=admin).json["webhooks"]
    assert "secret" not in listed and listed["disabled"] is False and listed["failing_since"] is None

    changed = client.patch(f"{HOOKS}/{hook['id']}", json={"events": ["poll.closed"], "format": "slack"}, headers=admin)
    assert (changed.json["events"], changed.json["format"]) == (["poll.closed"], "slack")
    assert client.patch(f"{HOOKS}/{hook['id']}", json={"disabled": True}, headers=admin).json["disabled"] is True

    store = app.extensions["yaynay"].store.webhooks
    store.keep_message("msg_" + "a" * 24, {"type": "poll.closed", "timestamp": 0, "data": {}})
    store.record_attempt(hook["id"], Attempt("msg_" + "a" * 24, "poll.closed", 0, 1_000.0, 500, 87, None))
    store.mark(hook["id"], failing_since=1_000.0)
    (failing,) = client.get(HOOKS, headers=admin).json["webhooks"]
    assert failing["failing_since"] is not None
    (attempt,) = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"]
    assert (attempt["status_code"], attempt["latency_ms"], attempt["delivery_id"]) == (500, 87, "msg_" + "a" * 24)
    again = client.post(f"{HOOKS}/{hook['id']}/deliveries/msg_{'a' * 24}/redeliver", json={}, headers=admin)
    assert again.status_code == 202

    enabled = client.patch(f"{HOOKS}/{hook['id']}", json={"disabled": False}, headers=admin).json
    assert enabled["disabled"] is False and enabled["failing_since"] is None  # re-enabling clears the clock
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=admin).status_code == 204
    assert client.get(HOOKS, headers=admin).json["webhooks"] == []


def test_a_ban_from_a_queue_item_is_listed_with_its_end_and_revoked(client, moderator, comment_id, clock):
    banned = client.post(
        BANS, json={"comment_id": comment_id, "ip": True, "email": True, "duration": 3600}, headers=moderator
    )
    assert banned.status_code == 201, banned.json
    (listed,) = client.get(BANS, headers=moderator).json["bans"]
    assert listed["comment_id"] == comment_id and listed["ip_hash"] and listed["email_digest"]
    assert listed["until"].startswith(banned.json["until"][:16])
    assert client.delete(f"{BANS}/{listed['id']}", headers=moderator).status_code == 204
    assert client.get(BANS, headers=moderator).json["bans"] == []
    assert client.delete(f"{BANS}/{listed['id']}", headers=moderator).status_code == 404
