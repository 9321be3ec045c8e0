"""Webhooks end to end: the admin API, a real RQ worker, a local receiver that verifies
every signature with the standardwebhooks library."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from service import create_app
from service.core import events, mail
from service.store.webhooks import Attempt
from tests.notifications.conftest import running_receiver, worker_process

HOOKS = "/api/v1/webhooks"


@pytest.fixture
def settings(settings):
    # Signatures carry the real time: the receiver's library refuses one five minutes off.
    return {**settings, "CLOCK": time.time, "WEBHOOK_ALLOW_PRIVATE": True}


def run_jobs(core) -> None:
    """Run every queued job in this process (RQ's SimpleWorker, burst)."""
    mail.run_worker(core, burst=True)


def add_hook(client, admin, receiver, **fields):
    response = client.post(HOOKS, json={"url": receiver.url, "events": list(events.EVENTS), **fields}, headers=admin)
    assert response.status_code == 201, response.json
    receiver.secret = response.json["secret"]
    return response.json


def submit(client, body="Tiny and useless. NAY.", **fields):
    response = client.post(
        "/api/v1/threads/mini-backpacks/comments",
        json={"author": "Ann", "body": body, "email": "ann@example.com", **fields},
    )
    assert response.status_code == 202, response.json
    return response.json["id"]


def test_a_new_comment_reaches_the_endpoint_signed_and_without_personal_data(client, admin, core, receiver):
    hook = add_hook(client, admin, receiver)
    assert hook["secret"].startswith("whsec_")
    comment_id = submit(client)

    run_jobs(core)

    (delivery,) = receiver.received
    assert receiver.bad_signatures == 0
    assert delivery["json"]["type"] == "comment.submitted"
    data = delivery["json"]["data"]
    assert data["id"] == comment_id and data["author"] == "Ann" and data["status"] == "pending"
    assert "email" not in data and "ip_digest" not in data
    assert delivery["headers"]["webhook-id"].startswith("msg_")
    (attempt,) = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"]
    assert attempt["status_code"] == 200 and attempt["attempt"] == 0 and attempt["latency_ms"] >= 0
    assert attempt["delivery_id"] == delivery["headers"]["webhook-id"]


def test_a_private_endpoint_gets_the_email_and_a_slack_one_gets_text(client, admin, core, receiver):
    add_hook(client, admin, receiver, private=True)
    submit(client)
    run_jobs(core)
    assert receiver.received[0]["json"]["data"]["email"] == "ann@example.com"
    assert receiver.received[0]["json"]["data"]["ip_digest"]

    hook = receiver.received.clear() or add_hook(client, admin, receiver, format="slack", events=["poll.created"])
    client.delete(f"{HOOKS}/{client.get(HOOKS, headers=admin).json['webhooks'][0]['id']}", headers=admin)
    client.put("/api/v1/polls/mini-backpacks", json={"question": "YAY or NAY?"}, headers=admin)
    run_jobs(core)
    (delivery,) = receiver.received
    assert delivery["json"] == {"text": "New poll mini-backpacks: YAY or NAY?"}
    assert hook["format"] == "slack"


def test_a_readers_text_cannot_mention_a_slack_channel_or_disguise_a_link():
    """Slack reads <!channel>, <@user> and <url|label> in a message's text; a reader's name
    and comment reach the moderators' channel as what they typed."""
    data = {
        "author": "<!channel>",
        "body": "Win <https://evil.example|https://blog.example/moderate> & more",
        "thread_id": "mini-backpacks",
        "status": "pending",
    }
    text = events.slack_text("comment.submitted", data, "https://blog.example")
    assert "<!channel>" not in text and "<https://evil" not in text
    assert (
        "&lt;!channel&gt;" in text and "&lt;https://evil.example|https://blog.example/moderate&gt; &amp; more" in text
    )
    assert text.endswith("— https://blog.example/moderate")


def test_decisions_and_poll_closing_are_events_too(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["comment.decided", "poll.closed"])
    comment_id = submit(client)
    client.put("/api/v1/polls/mini-backpacks", json={"question": "YAY or NAY?"}, headers=admin)
    client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": "approve"}, headers=admin)
    client.post("/api/v1/polls/mini-backpacks/close", headers=admin)
    run_jobs(core)
    kinds = sorted(delivery["json"]["type"] for delivery in receiver.received)
    assert kinds == ["comment.decided", "poll.closed"]


def test_no_subscriber_means_nothing_is_stored_or_queued(client, core, redis_client):
    submit(client)
    assert core.store.jobs.counts() == {"queued": 0, "scheduled": 0}
    assert not redis_client.keys("*webhooks*")


def test_a_failed_delivery_is_retried_within_ten_seconds(client, admin, core, receiver):
    receiver.statuses = [500, 200]
    hook = add_hook(client, admin, receiver)
    submit(client)
    run_jobs(core)
    scheduled = core.store.jobs.queue.scheduled_job_registry
    (retry,) = [
        job_id for job_id in scheduled.get_job_ids() if "deliver" in core.store.jobs.queue.fetch_job(job_id).func_name
    ]
    due = scheduled.get_scheduled_time(retry).timestamp()
    assert 0 < due - time.time() <= 10
    assert client.get(HOOKS, headers=admin).json["webhooks"][0]["failing_since"] is not None
    assert client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"][0]["status_code"] == 500


def test_an_endpoint_failing_for_a_day_is_disabled(client, admin, core, receiver, caplog):
    receiver.statuses = [500]
    hook = add_hook(client, admin, receiver)
    core.store.webhooks.mark(hook["id"], failing_since=time.time() - 86400)
    submit(client)
    run_jobs(core)
    listed = client.get(f"{HOOKS}/{hook['id']}", headers=admin).json
    assert listed["disabled"] is True
    assert "disabled" in caplog.text
    assert core.store.jobs.counts() == {"queued": 0, "scheduled": 2}  # the next digest and sweep, no retry
    submit(client, body="Another one, NAY.")
    assert core.store.jobs.counts()["queued"] == 0  # a disabled endpoint is not sent to
    enabled = client.patch(f"{HOOKS}/{hook['id']}", json={"disabled": False}, headers=admin).json
    assert enabled["disabled"] is False and enabled["failing_since"] is None


def test_redelivery_on_demand_sends_the_same_message_again(client, admin, core, receiver):
    hook = add_hook(client, admin, receiver)
    submit(client)
    run_jobs(core)
    message_id = receiver.received[0]["headers"]["webhook-id"]
    answer = client.post(f"{HOOKS}/{hook['id']}/deliveries/{message_id}/redeliver", headers=admin)
    assert answer.status_code == 202
    run_jobs(core)
    assert [delivery["headers"]["webhook-id"] for delivery in receiver.received] == [message_id, message_id]
    assert receiver.received[0]["json"] == receiver.received[1]["json"]
    missing = client.post(f"{HOOKS}/{hook['id']}/deliveries/msg_{'0' * 24}/redeliver", headers=admin)
    assert missing.status_code == 404


def test_endpoints_are_managed_by_admins_only_and_bad_urls_are_refused(client, admin, receiver, settings):
    body = {"url": receiver.url, "events": ["poll.created"]}
    assert client.post(HOOKS, json=body).status_code == 401
    assert client.post(HOOKS, json={**body, "url": "ftp://example.com/x"}, headers=admin).status_code == 422
    assert client.post(HOOKS, json={**body, "events": ["nope"]}, headers=admin).status_code == 422
    hook = client.post(HOOKS, json=body, headers=admin).json
    assert "secret" not in client.get(f"{HOOKS}/{hook['id']}", headers=admin).json
    changed = client.put(f"{HOOKS}/{hook['id']}", json={**body, "events": ["poll.closed"]}, headers=admin).json
    assert changed["events"] == ["poll.closed"]
    assert client.delete(f"{HOOKS}/{hook['id']}", headers=admin).status_code == 204
    assert client.get(f"{HOOKS}/{hook['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/hook", "http://127.0.0.1:0/hook"])
def test_a_port_out_of_range_is_refused_naming_the_url(client, admin, url):
    answer = client.post(HOOKS, json={"url": url, "events": ["poll.created"]}, headers=admin)
    assert answer.status_code == 422, answer.json
    assert "port" in " ".join(answer.json["errors"]["json"]["url"])


def add_hook_strictly(settings, admin, url):
    """Add a webhook in an app that refuses local addresses (the default)."""
    app = create_app({**settings, "WEBHOOK_ALLOW_PRIVATE": False})
    try:
        return app.test_client().post(HOOKS, json={"url": url, "events": ["poll.created"]}, headers=admin)
    finally:
        app.extensions["yaynay"].close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://169.254.169.254/",
        # The resolver reads IPv4 in decimal, octal and hex, and 0 as 0.0.0.0: the check is on what it answers.
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0/",
    ],
)
def test_local_addresses_are_refused_unless_allowed(admin, settings, redis_client, url):
    answer = add_hook_strictly(settings, admin, url)
    assert answer.status_code == 409
    assert "local address" in str(answer.json["errors"]), answer.json


def test_stored_attempts_are_bounded(core):
    for number in range(120):
        core.store.webhooks.record_attempt("wh_x", Attempt("msg_x", "poll.created", number, 0.0, 500, 1))
    assert len(core.store.webhooks.attempts("wh_x")) == 100


@pytest.mark.e2e
def test_the_worker_process_retries_after_a_500_and_the_receiver_verifies_it(
    client, admin, receiver, settings, tmp_path
):
    receiver.statuses = [500, 200]
    hook = add_hook(client, admin, receiver)
    with worker_process(settings, tmp_path / "var") as worker:
        started = time.monotonic()
        submit(client)
        received = receiver.wait_for(2, timeout=25)
        took = time.monotonic() - started
    assert [delivery["answered"] for delivery in received] == [500, 200], worker.errors
    assert receiver.bad_signatures == 0
    assert took < 15
    attempts = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"]
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 200), (0, 500)]
    assert worker.process.returncode == 0, worker.errors


@pytest.fixture
def second_receiver():
    """Another receiver, for a redirect to point at: its URL and what it was sent."""
    with running_receiver() as elsewhere:
        yield elsewhere.url, elsewhere.received


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    client, admin, core, receiver, second_receiver, status
):
    elsewhere, hits = second_receiver
    receiver.statuses, receiver.location = [status], elsewhere
    hook = add_hook(client, admin, receiver)
    submit(client)
    run_jobs(core)
    assert len(receiver.received) == 1 and hits == []
    (attempt,) = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"]
    assert attempt["status_code"] == status
    assert "not followed" in attempt["error"] and elsewhere in attempt["error"]
    assert client.get(f"{HOOKS}/{hook['id']}", headers=admin).json["failing_since"] is not None


@pytest.fixture
def resolver(monkeypatch):
    """A resolver the test controls (DNS is the attacker's, in a rebinding): names in ``answers``
    resolve to those addresses (comma-separated); every lookup is counted."""
    answers: dict[str, str] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        if host in answers:
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
                if ":" in address
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in answers[host].split(",")
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers, lookups


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # shared address space (RFC 6598): a cloud's metadata service, carrier NAT
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
        "fec0::1",  # site-local
        "224.0.0.251",  # multicast
    ],
)
def test_names_resolving_to_any_address_that_is_not_public_are_refused(
    admin, settings, redis_client, resolver, address
):
    answers, _ = resolver
    answers["hooks.example.com"] = address
    answer = add_hook_strictly(settings, admin, "https://hooks.example.com/in")
    assert answer.status_code == 409, answer.json
    assert "local address" in str(answer.json["errors"]), answer.json


def test_a_name_resolving_to_a_public_address_is_taken(admin, settings, redis_client, resolver):
    answers, _ = resolver
    answers["hooks.example.com"] = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
    answer = add_hook_strictly(settings, admin, "https://hooks.example.com/in")
    assert answer.status_code == 201, answer.json


def test_a_delivery_connects_to_the_address_it_checked_and_names_the_host(client, admin, core, receiver, resolver):
    answers, lookups = resolver
    answers["hooks.example.com"] = "127.0.0.1"
    add_hook(client, admin, receiver, url=receiver.url.replace("127.0.0.1", "hooks.example.com"))
    submit(client)
    lookups.clear()
    run_jobs(core)
    (delivery,) = receiver.received
    assert delivery["headers"]["host"].startswith("hooks.example.com:")
    assert lookups.count("hooks.example.com") == 1  # the connection does not resolve it again


def test_a_delivery_tries_the_next_checked_address_when_one_does_not_connect(client, admin, core, receiver, resolver):
    """A name with an IPv6 and an IPv4 address, seen from a worker the first one does not
    reach (here nothing listens on ::1): as a browser or curl would, it goes on to the next."""
    answers, _ = resolver
    answers["hooks.example.com"] = "::1,127.0.0.1"
    add_hook(client, admin, receiver, url=receiver.url.replace("127.0.0.1", "hooks.example.com"))
    submit(client)
    run_jobs(core)
    assert len(receiver.received) == 1 and receiver.bad_signatures == 0


def test_a_name_that_resolves_to_a_local_address_at_delivery_is_not_sent_to(
    client, admin, core, receiver, resolver, monkeypatch
):
    """DNS rebinding: a public address when registered, a loopback one when delivering."""
    answers, _ = resolver
    answers["hooks.example.com"] = "93.184.215.14"
    strict = dataclasses.replace(
        core.policy, notifying=dataclasses.replace(core.policy.notifying, allow_private_webhooks=False)
    )
    monkeypatch.setattr(core, "policy", strict)
    hook = add_hook(client, admin, receiver, url=receiver.url.replace("127.0.0.1", "hooks.example.com"))
    answers["hooks.example.com"] = "127.0.0.1"
    submit(client)
    run_jobs(core)
    assert receiver.received == []
    (attempt,) = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"]
    assert attempt["status_code"] is None and "local address" in attempt["error"]


def test_https_is_verified_against_the_urls_host_while_connecting_to_the_checked_address(
    client, admin, core, tls_receiver, resolver
):
    answers, _ = resolver
    answers["hooks.example.com"] = "127.0.0.1"
    hook = add_hook(client, admin, tls_receiver, url=tls_receiver.url.replace("127.0.0.1", "hooks.example.com"))
    submit(client)
    run_jobs(core)
    assert len(tls_receiver.received) == 1 and tls_receiver.bad_signatures == 0
    client.patch(f"{HOOKS}/{hook['id']}", json={"url": tls_receiver.url}, headers=admin)  # the certificate names no IP
    submit(client, body="Another one, NAY.")
    run_jobs(core)
    assert len(tls_receiver.received) == 1
    latest = client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin).json["deliveries"][0]
    assert latest["status_code"] is None and "CERTIFICATE_VERIFY_FAILED" in latest["error"]
