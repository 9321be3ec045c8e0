"""The change feed's subscriptions on a real Redis: what a lost subscription costs a stream."""

import threading

from service.store import Store


def test_a_stream_whose_subscription_came_back_gets_the_tally_it_missed(redis_client):
    store = Store(redis_client, "resumed")
    feed = store.changes
    feed.interval = 0.05
    poll_key = store.keys.poll("quiet-poll")
    redis_client.hset(poll_key, mapping={"question": "Q?", "created_at": 1000, "yay": 0, "nay": 0, "version": 0})
    try:
        inbox = feed.listen("quiet-poll")
        assert feed.subscriptions.wait_live("quiet-poll", 5)
        # A vote Redis took while this worker's subscription was down: never announced to it.
        redis_client.hset(poll_key, mapping={"yay": 1, "version": 1})
        redis_client.client_kill_filter(_type="pubsub")
        received = []
        waiter = threading.Thread(target=lambda: received.append(inbox.wait()), daemon=True)
        waiter.start()
        waiter.join(5)
        assert received and received[0] is not None, "the stream never heard of the missed vote"
        assert (received[0].version, received[0].yay) == (1, 1)
    finally:
        store.close()
