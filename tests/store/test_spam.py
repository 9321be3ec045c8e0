"""Bans in the spam store on a real Redis: each ends by itself, and an ended one costs nothing."""

import json
import time

import pytest

from service.store import Store
from service.store.spam import Ban

NOW = 1_790_000_000.0


@pytest.fixture
def store(redis_client):
    return Store(redis_client, prefix="yaynay-test")


def ban(ban_id: str, lasts: float, ip: str = "ip-digest") -> Ban:
    return Ban(ban_id, "thread.key", ip, None, NOW + lasts, NOW)


def test_a_ban_is_a_key_redis_expires_when_the_ban_ends(store, redis_client):
    store.spam.add_ban(ban("hour", 3600))
    assert 3590 <= redis_client.ttl(store.keys.ban("hour")) <= 3600
    store.spam.add_ban(ban("blink", 1))
    time.sleep(1.1)
    assert redis_client.exists(store.keys.ban("blink")) == 0
    assert [b.id for b in store.spam.bans(NOW)] == ["hour"]  # listed by what Redis still holds
    assert redis_client.zrange(store.keys.ban_ends(), 0, -1) == [b"hour"]  # and the index forgot it


def test_ended_bans_leave_the_index_at_the_next_ban_or_listing(store, redis_client):
    for number in range(50):
        store.spam.add_ban(ban(f"b{number}", 60 + number))
    assert len(store.spam.bans(NOW)) == 50
    assert len(store.spam.bans(NOW + 80)) == 29
    assert redis_client.zcard(store.keys.ban_ends()) == 29
    store.spam.add_ban(Ban("late", "thread.key", "ip", None, NOW + 10_000, NOW + 200))
    assert redis_client.zrange(store.keys.ban_ends(), 0, -1) == [b"late"]


def test_another_process_loads_a_new_or_lifted_ban_and_its_version_moves(store, redis_client):
    other = Store(redis_client, prefix="yaynay-test")
    before = other.spam.reload()
    assert before.bans == ()
    store.spam.add_ban(ban("fresh", 3600))
    loaded = other.spam.reload()
    assert [b.id for b in loaded.bans] == ["fresh"]
    assert loaded.version != before.version  # the submit script answers "stale" to the old one
    assert store.spam.remove_ban("fresh") is True
    lifted = other.spam.reload()
    assert lifted.bans == ()
    assert lifted.version != loaded.version
    assert store.spam.remove_ban("fresh") is False
    assert redis_client.keys("yaynay-test:spam:*ban*") == []


def test_an_earlier_versions_bans_move_to_their_own_keys_at_the_first_reload(store, redis_client):
    now = redis_client.time()[0]
    in_force = Ban("old-live", "thread.key", "ip", None, now + 3600, now - 60)
    ended = Ban("old-ended", "thread.key", "ip", None, now - 10, now - 3600)
    redis_client.hset(store.keys.legacy_bans(), mapping={ban.id: json.dumps(ban.__dict__) for ban in (in_force, ended)})

    assert [ban.id for ban in store.spam.reload().bans] == ["old-live"]
    assert not redis_client.exists(store.keys.legacy_bans())
    assert 3590 <= redis_client.ttl(store.keys.ban("old-live")) <= 3600
    assert not redis_client.exists(store.keys.ban("old-ended"))
