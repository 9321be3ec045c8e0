"""The change feed's subscriptions on a real Redis: what a lost subscription costs a stream."""

import threading
import time

import pytest
import redis

from service.store import Store
from service.store.embedded import RedisProcess, free_port
from service.store.subscriptions import ShardedSubscriber


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


@pytest.mark.one_redis_node(reason="it starts a redis-server of its own")
def test_the_subscriber_outlives_a_refused_connection_and_subscribes_once_allowed(tmp_path):
    """A connection's handshake answered with an error, not a dropped connection (here an ACL
    refusing CLIENT SETNAME; in CI once, a reply of one handshake read by another): the one
    thread that sends SSUBSCRIBE must log it and try again, not end with every subscription
    still to send."""
    server = RedisProcess(tmp_path, port=free_port(), persist=False).start()
    admin = redis.Redis.from_url(server.url)
    admin.execute_command("ACL", "SETUSER", "default", "-client|setname")
    received: list[tuple[str, bytes]] = []
    subscriber = ShardedSubscriber(
        redis.Redis.from_url(server.url, client_name="subscriber"),
        lambda tag: f"changes:{tag}",
        lambda tag, data: received.append((tag, data)),
        reconnect_delay=0.1,
    )
    try:
        subscriber.want("poll")
        assert not subscriber.wait_live("poll", 1.0), "the refused handshake went unnoticed"
        admin.execute_command("ACL", "SETUSER", "default", "+client|setname")
        assert subscriber.wait_live("poll", 5.0), "never subscribed once the handshake was allowed"
        admin.spublish("changes:poll", b"a tally")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert received == [("poll", b"a tally")]
    finally:
        subscriber.stop()
        admin.close()
        server.stop()
