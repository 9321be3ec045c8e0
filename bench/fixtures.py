"""The data the scenarios need, made through the public API where that is quick enough."""

from __future__ import annotations

from bench.api import Api, ApiError
from service.store.keys import Keys

COMMENT_TEXT = (
    "Mini backpacks hold a phone, keys and a paperback; anything more and you are back to a "
    "tote. Comment {n} of the thread, and a NAY from me."
)


def create_polls(api: Api, redis, keys: Keys, poll_ids: list[str]) -> None:
    """Create the polls: the first with ``PUT /api/v1/polls/<id>``, the others as copies of it.

    A copy is every key under the first poll's hash tag, DUMPed and RESTOREd under the
    other ids, plus its registry entry: as the app wrote them, whatever its layout, and a
    hundred thousand polls in seconds where as many PUTs would take minutes.
    """
    template, *others = poll_ids
    api.create_poll(template)
    prefix = keys.poll(template)
    dumps = {key: redis.dump(key) for key in redis.scan_iter(match=f"{prefix}*", count=1000)}
    created_at = redis.zscore(keys.poll_registry(template), template)
    batch = 1000
    for start in range(0, len(others), batch):
        chunk = others[start : start + batch]
        with redis.pipeline(transaction=False) as pipe:
            for poll_id in chunk:
                for key, dumped in dumps.items():
                    new_key = key.decode().replace(prefix, keys.poll(poll_id), 1)
                    pipe.restore(new_key, 0, dumped, replace=True)
            if created_at is not None:
                for poll_id in chunk:
                    pipe.zadd(keys.poll_registry(poll_id), {poll_id: created_at})
            pipe.execute()


def seed_thread(api: Api, thread_id: str, count: int) -> None:
    """A thread (with a poll of the same id) whose ``count`` comments are approved, each by a voter."""
    api.create_poll(thread_id, "Mini backpacks: YAY or NAY?")
    for n in range(count):
        voter = f"bench-commenter-{n:06d}"
        api.vote(thread_id, voter, "yay" if n % 3 else "nay")
        comment_id = api.post_comment(
            thread_id, author=f"Reader {n}", email=f"reader{n}@example.com", body=COMMENT_TEXT.format(n=n), voter=voter
        )
        api.approve(comment_id)
    published = api.request("GET", f"/api/v1/threads/{thread_id}/comments").body["count"]
    if published != count:
        raise ApiError(f"thread {thread_id} shows {published} published comments, not {count}")


def seed_pending(api: Api, thread_id: str, count: int) -> None:
    """``count`` comments waiting for moderation (the oldest of the queue)."""
    for n in range(count):
        api.post_comment(
            thread_id, author=f"Waiting {n}", email=f"waiting{n}@example.com", body=COMMENT_TEXT.format(n=n)
        )
    queue = api.request("GET", f"/api/v1/moderation/queue?thread={thread_id}&limit=100", admin=True).body
    if len(queue["comments"]) != count:
        raise ApiError(f"the moderation queue holds {len(queue['comments'])} comments of {thread_id}, not {count}")
