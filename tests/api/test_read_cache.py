"""Each worker serves tallies and thread pages from memory, and a change anywhere ends that.

Two apps on one Redis stand for two gunicorn workers (or two machines): one reads and
caches, the other writes, and the first must notice through the change channel.
"""

import time

import pytest

from service import create_app


@pytest.fixture
def other_worker(settings, redis_client):
    app = create_app(dict(settings))
    yield app.test_client()
    app.extensions["yaynay"].close()


def calls(redis_client, command: str) -> int:
    return redis_client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def eventually(check, seconds: float = 2.0):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the change did not arrive"
        time.sleep(0.01)


def warm(client, url: str, tag: str = "mini-backpacks"):
    """Read until the worker's subscription to ``tag``'s changes is up and the answer is cached."""
    first = client.get(url)
    eventually(lambda: client.application.extensions["yaynay"].changes.is_live(tag))
    client.get(url)
    return first


def test_repeated_tally_reads_do_not_touch_redis(client, make_poll, redis_client):
    make_poll()
    warm(client, "/api/v1/polls/mini-backpacks")
    before = calls(redis_client, "hmget")
    answers = [client.get("/api/v1/polls/mini-backpacks") for _ in range(20)]
    assert {answer.status_code for answer in answers} == {200}
    assert calls(redis_client, "hmget") == before


def test_a_vote_through_another_worker_reaches_this_workers_tally_and_etag(client, other_worker, make_poll, new_voter):
    make_poll()
    stale = warm(client, "/api/v1/polls/mini-backpacks")
    assert (
        other_worker.post(
            "/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": new_voter()}
        ).status_code
        == 200
    )
    eventually(lambda: client.get("/api/v1/polls/mini-backpacks").json["tally"]["yay"] == 1)
    fresh = client.get("/api/v1/polls/mini-backpacks", headers={"If-None-Match": stale.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != stale.headers["ETag"]


def test_a_poll_update_through_another_worker_reaches_single_and_batch_reads(client, other_worker, make_poll, admin):
    make_poll()
    warm(client, "/api/v1/polls?ids=mini-backpacks")
    other_worker.put("/api/v1/polls/mini-backpacks", json={"question": "Still YAY?"}, headers=admin)
    eventually(lambda: client.get("/api/v1/polls?ids=mini-backpacks").json["polls"][0]["question"] == "Still YAY?")
    assert client.get("/api/v1/polls/mini-backpacks").json["question"] == "Still YAY?"


def test_an_approval_and_an_authors_vote_change_through_another_worker_reach_the_thread_page(
    client, other_worker, make_poll, admin, new_voter
):
    make_poll()
    voter = new_voter()
    other_worker.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": voter})
    posted = other_worker.post(
        "/api/v1/threads/mini-backpacks/comments", json={"author": "Ann", "body": "Tiny but mighty.", "voter": voter}
    )
    warm(client, "/api/v1/threads/mini-backpacks/comments")
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 0

    other_worker.post(f"/api/v1/moderation/comments/{posted.json['id']}", json={"action": "approve"}, headers=admin)
    eventually(lambda: client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 1)
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["comments"][0]["vote"] == "yay"

    other_worker.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "nay", "voter": voter})
    eventually(lambda: client.get("/api/v1/threads/mini-backpacks/comments").json["comments"][0]["vote"] == "nay")


def test_without_its_subscription_a_worker_reads_redis_every_time(client, make_poll, redis_client):
    make_poll()
    warm(client, "/api/v1/polls/mini-backpacks")
    feed = client.application.extensions["yaynay"].changes
    feed.stop()
    before = calls(redis_client, "hmget")
    for _ in range(3):
        assert client.get("/api/v1/polls/mini-backpacks").status_code == 200
    assert calls(redis_client, "hmget") == before + 3
