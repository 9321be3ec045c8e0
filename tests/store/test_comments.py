"""The comment store on a real Redis: concurrent moderators, cluster slots."""

import random
import threading
from dataclasses import replace

from redis.connection import Connection
from redis.crc import key_slot

from service.ratelimit import RateLimit
from service.store import Store
from service.store.comments import CommentLimits, NewComment
from service.store.keys import SHARDS, Keys, shard_of
from service.store.moderation import DecisionRequest

NOW = 1_790_000_000.0
LIMITS = CommentLimits(
    rates=(RateLimit(1_000_000, 60),),
    new_threads_per_day=1000,
    surge_per_hour=10**9,
    duplicate_window=600,
    idempotency_ttl=86400,
)


def new_comment(n: int) -> NewComment:
    return NewComment(
        author=f"Reader {n}",
        body=f"Comment number {n}",
        email=None,
        website=None,
        parent_id=None,
        voter=None,
        ip_digest=f"ip{n}",
        user_agent="test",
        text_digest=f"text{n}",
        email_digest=None,
        idempotency_digest=None,
        links=0,
    )


def test_twenty_moderators_deciding_the_same_200_comments_leave_one_decision_each(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    ids = [
        store.comments.submit(f"thread-{n % 7}", new_comment(n), status="pending", now=NOW, limits=LIMITS).id
        for n in range(200)
    ]
    wins = []
    errors = []

    def moderate(seed: int) -> None:
        chooser = random.Random(seed)
        order = ids[:]
        chooser.shuffle(order)
        try:
            for comment_id in order:
                action = chooser.choice(["approve", "reject", "spam"])
                (outcome,) = store.moderation.decide(
                    [DecisionRequest(comment_id, action)], moderator=f"mod-{seed}", now=NOW
                )
                if outcome.decision is not None:
                    wins.append(outcome.decision)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=moderate, args=(seed,)) for seed in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(decision.id for decision in wins) == sorted(ids)
    log = store.moderation.log(limit=1000, cursor=None).items
    assert sorted(entry.comment_id for entry in log) == sorted(ids)
    for thread_id in {comment_id.rsplit(".", 1)[0] for comment_id in ids}:
        assert redis_client.xlen(store.keys.thread_log(thread_id)) == sum(
            1 for comment_id in ids if comment_id.startswith(thread_id + ".")
        )
    final = {decision.id: decision.status for decision in wins}
    for comment_id in ids:
        assert store.comments.get(comment_id).status == final[comment_id]
    assert store.moderation.queue("pending", thread_id=None, limit=100, cursor=None).items == []


def test_the_keys_of_a_thread_share_one_slot_with_its_poll():
    keys = Keys("yaynay")
    thread_keys = [
        keys.comment("t", "abcdefgh"),
        keys.thread_seq("t"),
        keys.thread_status("t", "pending"),
        keys.thread_log("t"),
        keys.idempotency("t", "x"),
        keys.duplicate("t", "y"),
        keys.poll("t"),
        keys.voter_bucket("t", 7),
    ]
    assert len({key_slot(key.encode()) for key in thread_keys}) == 1
    shard = shard_of("t")
    shard_keys = [
        keys.queue("pending", shard),
        keys.queue("spam", shard),
        keys.moderation_log(shard),
        keys.surge(5, shard),
    ]
    assert len({key_slot(key.encode()) for key in shard_keys}) == 1
    every_queue = keys.queues("pending")
    assert len({key_slot(key.encode()) for key in every_queue}) == SHARDS, "the shards spread over slots"


def test_a_stale_queue_entry_is_repaired_when_read(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    comment_id = store.comments.submit("t", new_comment(1), status="pending", now=NOW, limits=LIMITS).id
    store.moderation.decide([DecisionRequest(comment_id, "approve")], moderator="m", now=NOW)
    # As if the process died between the decision's script and its site-wide index:
    redis_client.zadd(store.keys.queue_of("t", "pending"), {comment_id: 1})
    redis_client.zrem(store.keys.queue_of("t", "approved"), comment_id)

    assert store.moderation.queue("pending", thread_id=None, limit=10, cursor=None).items == []
    approved = store.moderation.queue("approved", thread_id=None, limit=10, cursor=None).items
    assert [c.id for c in approved] == [comment_id]


def round_trips_of(monkeypatch, action) -> list[bytes]:
    """The first word of each request the client sent during ``action``: one a round trip."""
    sent: list[bytes] = []
    original = Connection.send_packed_command

    def counting(connection, command, *args, **kwargs):
        first = command if isinstance(command, bytes) else b"".join(command)
        sent.append(first.split(b"\r\n")[2].lower())  # RESP: *<n>, $<len>, <name>
        return original(connection, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    action()
    monkeypatch.undo()
    return sent


def with_email(n: int, **changes) -> NewComment:
    return replace(new_comment(n), email=f"reader{n}@example.com", email_digest=f"email{n}", **changes)


def test_on_one_node_a_comment_and_its_site_wide_indexes_are_one_script_and_one_round_trip(redis_client, monkeypatch):
    store = Store(redis_client, prefix="yaynay-test")
    store.comments.submit("thread-0", with_email(0), status="pending", now=NOW, limits=LIMITS)  # loads the script

    sent = round_trips_of(
        monkeypatch, lambda: store.comments.submit("thread-1", with_email(1), status="pending", now=NOW, limits=LIMITS)
    )
    assert sent == [b"evalsha"]
    [comment_id] = [
        member
        for member in redis_client.zrange(store.keys.queue_of("thread-1", "pending"), 0, -1)
        if member.startswith(b"thread-1.")
    ]
    assert comment_id.decode().startswith("thread-1.")
    assert redis_client.smembers(store.keys.email_comments("email1")) == {comment_id}
    assert redis_client.get(store.keys.text_seen("text1")) == b"1"
    assert store.moderation.submitted_this_hour(NOW) == 2
    assert not redis_client.keys("*unindexed*"), "a single node needs no 'to index' marks"


def test_on_one_node_a_decision_and_its_site_wide_indexes_are_one_script(redis_client, monkeypatch):
    store = Store(redis_client, prefix="yaynay-test")
    kept = store.comments.submit("thread-0", with_email(0), status="pending", now=NOW, limits=LIMITS).id
    gone = store.comments.submit("thread-0", with_email(1), status="pending", now=NOW, limits=LIMITS).id
    store.moderation.decide([DecisionRequest(kept, "approve")], moderator="maria", now=NOW)  # loads the script

    sent = round_trips_of(
        monkeypatch, lambda: store.moderation.decide([DecisionRequest(gone, "delete")], moderator="maria", now=NOW)
    )
    assert sent == [b"hget", b"evalsha"]  # the email digest, then everything at once
    assert redis_client.zrange(store.keys.queue_of("thread-0", "approved"), 0, -1) == [kept.encode()]
    assert redis_client.zcard(store.keys.queue_of("thread-0", "pending")) == 0
    assert redis_client.smembers(store.keys.email_comments("email1")) == set()
    assert [entry[b"comment"] for _, entry in redis_client.xrange(store.keys.moderation_log_of("thread-0"))] == [
        kept.encode(),
        gone.encode(),
    ]


def test_ten_concurrent_retries_of_one_idempotency_key_create_one_comment_and_count_one_hit(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    limits = replace(LIMITS, rates=(RateLimit(5, 60),))
    retry = replace(new_comment(1), idempotency_digest="one-key")
    start = threading.Barrier(10)
    answers, errors = [], []

    def post() -> None:
        start.wait()
        try:
            answers.append(store.comments.submit("thread-1", retry, status="pending", now=NOW, limits=limits))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len({answer.id for answer in answers}) == 1
    assert sum(answer.created for answer in answers) == 1
    counter = store.keys.comment_rate("ip1", 60, RateLimit(5, 60).window_start(NOW))
    assert redis_client.get(counter) == b"1"
    # Four more comments fit the limit of five: the retries used none of it.
    for n in range(4):
        store.comments.submit(
            "thread-1",
            replace(new_comment(1), body=f"More {n}", text_digest=f"more{n}"),
            status="pending",
            now=NOW,
            limits=limits,
        )
