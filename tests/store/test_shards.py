"""The sharded site-wide indexes on a real Redis: merged reads, retention, and the move
from the single keys of earlier versions."""

import time

from service.store import Store
from service.store.keys import SHARDS, shard_of
from service.store.moderation import DecisionRequest, DecisionRules, Retention
from tests.store.test_comments import LIMITS, NOW, new_comment

DAY = 86400


def threads_in_distinct_shards(count: int) -> list[str]:
    """Thread ids whose comments land in ``count`` different queue shards."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < count:
        found.setdefault(shard_of(f"article-{n}"), f"article-{n}")
        n += 1
    return list(found.values())


def test_the_queue_pages_in_submission_order_across_every_shard(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    threads = threads_in_distinct_shards(SHARDS)
    posted = [
        store.comments.submit(threads[n % SHARDS], new_comment(n), status="pending", now=NOW + n, limits=LIMITS).id
        for n in range(40)
    ]
    # Ten more at one instant, in many shards: ties on the score are broken by id.
    tied = [
        store.comments.submit(threads[n % SHARDS], new_comment(n), status="pending", now=NOW + 100, limits=LIMITS).id
        for n in range(40, 50)
    ]

    seen, cursor = [], None
    while True:
        page = store.moderation.queue("pending", thread_id=None, limit=7, cursor=cursor)
        seen += [comment.id for comment in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == posted + sorted(tied)
    assert store.moderation.pending_summary() == (50, NOW)


def test_the_log_is_newest_first_across_shards_even_when_two_shards_share_an_entry_id(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    keys = store.keys
    for shard in (3, 9):
        for ms in (1000, 2000, 3000):
            redis_client.xadd(
                keys.moderation_log(shard),
                {"comment": f"t{shard}.{ms}", "action": "approve", "from": "pending", "moderator": "m", "at": ms},
                id=f"{ms}-0",
            )
    redis_client.xadd(
        keys.legacy_moderation_log(),
        {"comment": "old.1", "action": "spam", "from": "pending", "moderator": "m", "at": 1},
        id="1500-0",
    )

    seen, cursor = [], None
    while True:
        page = store.moderation.log(limit=2, cursor=cursor)
        seen += [entry.comment_id for entry in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["t9.3000", "t3.3000", "t9.2000", "t3.2000", "old.1", "t9.1000", "t3.1000"]


def test_decided_comments_past_the_retention_leave_their_queue_and_old_log_entries_are_trimmed(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    now = time.time()
    for log in (store.keys.moderation_log_of("kept"), store.keys.thread_log("kept")):
        redis_client.xadd(log, {"comment": "ancient", "at": 1}, id="1000-0")
        redis_client.xadd(log, {"comment": "ancient", "at": 2}, id="1001-0")
    old = store.comments.submit("kept", new_comment(1), status="pending", now=now - 400 * DAY, limits=LIMITS).id
    fresh = store.comments.submit("kept", new_comment(2), status="pending", now=now, limits=LIMITS).id
    waiting = store.comments.submit("kept", new_comment(3), status="pending", now=now - 400 * DAY, limits=LIMITS).id
    rules = DecisionRules(Retention(decided_days=365, log_days=365))
    store.moderation.decide(
        [DecisionRequest(old, "approve"), DecisionRequest(fresh, "approve")], moderator="m", now=now
    )
    assert store.moderation.queue("approved", thread_id=None, limit=10, cursor=None).items  # nothing trimmed yet

    # The next decision of the shard, with a retention, trims its queue as it writes it.
    third = store.comments.submit("kept", new_comment(4), status="pending", now=now + 1, limits=LIMITS).id
    store.moderation.decide([DecisionRequest(third, "approve")], moderator="m", now=now + 1, rules=rules)

    approved = store.moderation.queue("approved", thread_id=None, limit=10, cursor=None).items
    assert [comment.id for comment in approved] == [fresh, third]
    # The comment itself stays published in its thread, and pending ones are never dropped.
    assert old in [comment.id for comment in store.comments.approved("kept", limit=10, cursor=None).items]
    assert [c.id for c in store.moderation.queue("pending", thread_id=None, limit=10, cursor=None).items] == [waiting]

    # Entries older than the retention, by the server's clock that stamps them, are dropped
    # by the next decision's write, in the thread's log and in the site-wide one.
    last = store.comments.submit("kept", new_comment(5), status="pending", now=now + 2, limits=LIMITS).id
    store.moderation.decide([DecisionRequest(last, "reject")], moderator="m", now=now + 2, rules=rules)
    for log in (store.keys.moderation_log_of("kept"), store.keys.thread_log("kept")):
        entries = [entry[b"comment"] for _, entry in redis_client.xrange(log)]
        assert b"ancient" not in entries
        assert len(entries) == 4, "the year's four decisions stay"


def test_the_single_keys_of_earlier_versions_move_into_their_shards_on_the_first_queue_read(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    keys = store.keys
    waiting = store.comments.submit("old-thread", new_comment(1), status="pending", now=NOW, limits=LIMITS).id
    # As an earlier version left them: one key for each registry and queue.
    redis_client.delete(keys.queue_of("old-thread", "pending"), keys.thread_registry("old-thread"))
    redis_client.zadd(keys.legacy_queue("pending"), {waiting: 5})
    redis_client.zadd(keys.legacy_thread_registry(), {"old-thread": NOW})
    redis_client.zadd(keys.legacy_poll_registry(), {"old-poll": NOW})
    redis_client.hset(keys.poll("old-poll"), mapping={"question": "Q?", "created_at": NOW, "yay": 0, "nay": 0})

    assert [c.id for c in store.moderation.queue("pending", thread_id=None, limit=10, cursor=None).items] == [waiting]
    assert not redis_client.exists(keys.legacy_queue("pending"), keys.legacy_thread_registry())
    assert redis_client.zscore(keys.queue_of("old-thread", "pending"), waiting) == 5
    assert store.moderation.thread_ids() == ["old-thread"]
    assert store.polls.ids() == ["old-poll"]
    assert store.moderation.migrate_legacy_indexes() == 0  # once is enough


def test_registries_list_newest_first_across_shards_with_their_total(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    threads = [f"listed-{n}" for n in range(30)]
    started = {thread_id: NOW + n // 4 + 0.1 for n, thread_id in enumerate(threads)}  # four at a time
    for n, thread_id in enumerate(threads):
        store.comments.submit(thread_id, new_comment(n), status="pending", now=started[thread_id], limits=LIMITS)
    assert len({shard_of(thread_id) for thread_id in threads}) > 5
    seen, cursor = [], None
    while True:
        page, cursor, total = store.comments.thread_page(cursor=cursor, limit=7)
        assert total == 30
        seen += [summary.id for summary in page]
        if cursor is None:
            break
    assert seen == sorted(threads, key=lambda thread_id: (started[thread_id], thread_id), reverse=True)


def test_the_queue_pages_when_one_shard_holds_it_all(redis_client):
    store = Store(redis_client, prefix="yaynay-test")
    posted = [
        store.comments.submit("one-article", new_comment(n), status="pending", now=NOW + n, limits=LIMITS).id
        for n in range(45)
    ]
    first = store.moderation.queue("pending", thread_id=None, limit=40, cursor=None)
    rest = store.moderation.queue("pending", thread_id=None, limit=40, cursor=first.next_cursor)
    assert [c.id for c in first.items + rest.items] == posted and rest.next_cursor is None
