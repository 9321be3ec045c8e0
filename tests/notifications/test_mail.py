"""Moderators' mail through a real SMTP server (aiosmtpd): the digest and the surge alert."""

from __future__ import annotations

import email
import threading
import time

import pytest

from service.core import mail


@pytest.fixture
def settings(settings, mailbox):
    return {
        **settings,
        "SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "SMTP_FROM": "yaynay@blog.example",
        "PUBLIC_URL": "https://comments.blog.example/",
        "PENDING_SURGE_PER_HOUR": 2,
        "DIGEST_MINUTES": 15,
    }


def submit(client, body):
    response = client.post("/api/v1/threads/mini-backpacks/comments", json={"author": "Ann", "body": body})
    assert response.status_code == 202, response.json
    return response.json["id"]


def test_the_digest_lists_comments_pending_since_the_last_one_with_a_console_link(client, core, mailbox, clock):
    mail.subscribe(core, "mod@blog.example")
    first = submit(client, "First, NAY.")
    clock.advance(60)

    mail.send_digest()

    (sent,) = mailbox.wait_for(1)
    assert sent.rcpt_tos == ["mod@blog.example"]
    message = email.message_from_bytes(sent.content)
    assert message["Subject"] == "[yaynay] 1 comment to moderate"
    assert message["From"] == "yaynay@blog.example"
    text = message.get_payload()
    assert first in text and "https://comments.blog.example/moderate" in text

    clock.advance(60)
    mail.send_digest()  # nothing new since: no mail
    clock.advance(1)
    second = submit(client, "Second, YAY.")
    clock.advance(60)
    mail.send_digest()
    assert len(mailbox.wait_for(2)) == 2
    text = email.message_from_bytes(mailbox.messages[1].content).get_payload()
    assert second in text and first not in text


def test_one_digest_is_scheduled_however_many_workers_start(core):
    assert mail.schedule_digest(core) is True
    assert mail.schedule_digest(core) is False
    scheduled = core.store.jobs.queue.scheduled_job_registry
    (job_id,) = scheduled.get_job_ids()
    assert scheduled.get_scheduled_time(job_id).timestamp() == pytest.approx(time.time() + 15 * 60, abs=5)


def test_a_surge_mails_moderators_once_in_the_hour(client, core, mailbox):
    mail.subscribe(core, "mod@blog.example")
    for number in range(5):
        submit(client, f"Comment number {number}, NAY.")
    mail.run_worker(core, burst=True)

    (sent,) = mailbox.wait_for(1)
    message = email.message_from_bytes(sent.content)
    assert message["Subject"] == "[yaynay] comment surge"
    assert "3 comments were submitted this hour" in message.get_payload()


def test_without_subscribers_or_smtp_nothing_is_sent(client, core, mailbox, clock):
    submit(client, "Lonely, NAY.")
    clock.advance(60)
    mail.send_digest()
    assert mailbox.messages == []
    assert mail.subscribe(core, "mod@blog.example") is True
    assert mail.subscribe(core, "mod@blog.example") is False
    assert mail.subscribers(core) == ["mod@blog.example"]
    assert mail.unsubscribe(core, "mod@blog.example") is True
    assert mail.subscribers(core) == []


def test_another_casing_of_a_subscribed_address_is_the_same_subscription(core):
    assert mail.subscribe(core, "Ann@Example.com") is True
    assert mail.subscribe(core, "ann@example.COM") is False
    assert mail.subscribers(core) == ["Ann@Example.com"]  # as first given
    assert mail.unsubscribe(core, "ANN@EXAMPLE.COM") is True
    assert mail.subscribers(core) == []
    assert mail.unsubscribe(core, "ann@example.com") is False


def test_two_casings_the_previous_version_stored_are_mailed_once_and_unsubscribed_together(
    client, core, redis_client, mailbox, clock
):
    # What the previous version left: a plain SADD of each casing it was given.
    redis_client.sadd(core.store.keys.mail_subscribers(), "Ann@Example.com", "ann@example.com", "mod@blog.example")
    assert len(mail.subscribers(core)) == 2
    assert mail.subscribe(core, "ANN@example.com") is False
    submit(client, "Twice, NAY.")
    clock.advance(60)

    mail.send_digest()

    (sent,) = mailbox.wait_for(1)
    assert sorted(address.casefold() for address in sent.rcpt_tos) == ["ann@example.com", "mod@blog.example"]
    assert mail.unsubscribe(core, "ANN@EXAMPLE.com") is True
    assert redis_client.smembers(core.store.keys.mail_subscribers()) == {b"mod@blog.example"}


def test_casings_subscribed_at_once_make_one_subscription(core):
    # Rounds, as a race shows only sometimes: without the watched check, most rounds add several.
    for round_number in range(40):
        address = f"desk{round_number}@example.com"
        casings = (address, address.upper(), address.title(), address.capitalize())
        start = threading.Barrier(len(casings))
        answers = []

        def subscribe(casing, start, answers):
            start.wait()
            answers.append(mail.subscribe(core, casing))

        threads = [threading.Thread(target=subscribe, args=(casing, start, answers)) for casing in casings]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [False, False, False, True], round_number
    assert len(mail.subscribers(core)) == 40
