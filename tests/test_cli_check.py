"""``yaynay check`` and ``yaynay poll show``: tallies against voter records, comments against
the site-wide queue and email index, as a cron job would run them."""

from service.identity import email_digest
from service.store.keys import Keys

ANN = "ann@example.com"


def test_poll_show_compares_yay_and_nay_and_fails_on_a_mismatch(yaynay, client, make_poll, new_voter, redis_client):
    make_poll("mini-backpacks")
    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": new_voter()})
    assert yaynay("poll", "show", "mini-backpacks").returncode == 0

    redis_client.hincrby("yaynay:poll:{mini-backpacks}", "nay", 2)
    shown = yaynay("poll", "show", "mini-backpacks")
    assert shown.returncode == 1
    assert "DO NOT MATCH" in shown.stdout
    assert "nay: tally 2, voter records 0" in shown.stderr
    assert "yay:" not in shown.stderr


def test_check_finds_nothing_wrong_in_a_consistent_store(yaynay, client, make_poll, new_voter):
    make_poll("mini-backpacks")
    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "nay", "voter": new_voter()})
    client.post("/api/v1/threads/mini-backpacks/comments", json={"author": "Ann", "body": "Hi", "email": ANN})
    checked = yaynay("check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "checked 1 poll and 1 thread: no problems"


def test_check_reports_each_problem_and_repairs_indexes_only_when_asked(
    yaynay, client, make_poll, new_voter, redis_client, settings
):
    make_poll("mini-backpacks")
    client.post("/api/v1/polls/mini-backpacks/votes", json={"choice": "yay", "voter": new_voter()})
    comment_id = client.post(
        "/api/v1/threads/mini-backpacks/comments", json={"author": "Ann", "body": "Hi", "email": ANN}
    ).json["id"]
    email_index = f"yaynay:email:{{{email_digest(settings['SECRET_KEY'], ANN)}}}"
    redis_client.hincrby("yaynay:poll:{mini-backpacks}", "yay", 1)
    redis_client.zrem(Keys("yaynay").queue_of("mini-backpacks", "pending"), comment_id)
    redis_client.srem(email_index, comment_id)

    checked = yaynay("check")
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        "poll mini-backpacks: yay tally 2, voter records 1",
        f"comment {comment_id}: not in the pending queue",
        f"comment {comment_id}: not in its email index",
        "checked 1 poll and 1 thread: 3 problems",
    ]
    assert (
        redis_client.zscore(Keys("yaynay").queue_of("mini-backpacks", "pending"), comment_id) is None
    )  # nothing repaired

    repaired = yaynay("check", "--repair")
    assert repaired.returncode == 1
    assert f"comment {comment_id}: not in the pending queue (repaired)" in repaired.stdout
    assert redis_client.zscore(Keys("yaynay").queue_of("mini-backpacks", "pending"), comment_id) is not None
    assert redis_client.sismember(email_index, comment_id)

    again = yaynay("check")
    assert again.stdout.splitlines() == [
        "poll mini-backpacks: yay tally 2, voter records 1",
        "checked 1 poll and 1 thread: 1 problem",
    ]


def test_check_repair_moves_an_earlier_versions_single_queue_and_registry_into_their_shards(
    yaynay, client, redis_client
):
    keys = Keys("yaynay")
    comment_id = client.post("/api/v1/threads/old-article/comments", json={"author": "Ann", "body": "Hi"}).json["id"]
    # As an earlier version left them: the entries in one key each.
    score = redis_client.zscore(keys.queue_of("old-article", "pending"), comment_id)
    redis_client.delete(keys.queue_of("old-article", "pending"), keys.thread_registry("old-article"))
    redis_client.zadd(keys.legacy_queue("pending"), {comment_id: score})
    redis_client.zadd(keys.legacy_thread_registry(), {"old-article": 1})

    repaired = yaynay("check", "--repair")
    assert repaired.stdout.splitlines() == [
        "site-wide indexes: 2 entries moved from single keys to shards (repaired)",
        "checked 0 polls and 1 thread: 1 problem",
    ]
    assert redis_client.zscore(keys.queue_of("old-article", "pending"), comment_id) == score
    assert not redis_client.exists(keys.legacy_queue("pending"), keys.legacy_thread_registry())
    assert yaynay("check").stdout.splitlines() == ["checked 0 polls and 1 thread: no problems"]
