"""The comment store on a real Redis: concurrent moderators, cluster slots."""

import random
import threading

from redis.crc import key_slot

from service.ratelimit import RateLimit
from service.store import Store
from service.store.comments import CommentLimits, NewComment
from service.store.keys import Keys
from service.store.moderation import DecisionRequest

NOW = 1_790_000_000.0
LIMITS = CommentLimits(
    rates=(RateLimit(1_000_000, 60),),
    max_threads=1000,
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
    site_wide = [keys.queue("pending"), keys.queue("spam"), keys.moderation_log(), keys.surge(5)]
    assert len({key_slot(key.encode()) for key in site_wide}) == 1


def test_a_stale_queue_entry_is_repaired_when_read(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    comment_id = store.comments.submit("t", new_comment(1), status="pending", now=NOW, limits=LIMITS).id
    store.moderation.decide([DecisionRequest(comment_id, "approve")], moderator="m", now=NOW)
    # As if the process died between the decision's script and its site-wide index:
    redis_client.zadd(store.keys.queue("pending"), {comment_id: 1})
    redis_client.zrem(store.keys.queue("approved"), comment_id)

    assert store.moderation.queue("pending", thread_id=None, limit=10, cursor=None).items == []
    approved = store.moderation.queue("approved", thread_id=None, limit=10, cursor=None).items
    assert [c.id for c in approved] == [comment_id]
