"""The poll store on a real Redis: tallies never drift from voter records."""

import random
import threading

import pytest
from redis.crc import key_slot

from service.identity import voter_digest
from service.ratelimit import RateLimit
from service.store import Store
from service.store.keys import Keys
from service.store.polls import VoteLimits
from service.store.voters import address

NOW = 1_790_000_000.0
GENEROUS = VoteLimits(RateLimit(count=1_000_000, window=60), new_voters_per_day=1_000_000)


@pytest.fixture
def store(redis_client):
    return Store(redis_client, prefix="yaynay-test")


def test_fifty_threads_casting_and_changing_5000_votes_leave_the_tally_equal_to_the_records(store):
    store.polls.save("busy", question="Q?", closes_at=None, allow_change=True, now=NOW)
    voters = [voter_digest("secret", "busy", f"voter-{n:05d}-token") for n in range(800)]
    errors = []

    def cast(seed: int) -> None:
        chooser = random.Random(seed)
        try:
            for _ in range(100):
                store.polls.cast_vote(
                    "busy",
                    voter=chooser.choice(voters),
                    choice=chooser.choice(["yay", "nay"]),
                    ip=f"ip{seed % 7}",
                    now=NOW,
                    limits=GENEROUS,
                )
        except Exception as error:  # surfaced below; a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=cast, args=(seed,)) for seed in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    poll = store.polls.get("busy")
    records = store.polls.count_voter_records("busy")
    assert records == {"yay": poll.yay, "nay": poll.nay}
    assert poll.total == sum(records.values()) > 700


def test_every_key_of_a_poll_shares_one_cluster_slot():
    keys = Keys("yaynay")
    poll_keys = [
        keys.poll("mini-backpacks"),
        keys.voter_bucket("mini-backpacks", 0),
        keys.voter_bucket("mini-backpacks", 65_535),
        keys.legacy_voter_bucket("mini-backpacks", 16_383),
        keys.vote_rate("mini-backpacks", "aXBoYXNo", 1_790_000_000),
        keys.new_voters("mini-backpacks", "aXBoYXNo", 20_717),
    ]
    assert len({key_slot(key.encode()) for key in poll_keys}) == 1
    assert all("{mini-backpacks}" in key for key in poll_keys)


def test_the_vote_script_receives_only_keys_of_its_poll_slot(store, monkeypatch):
    store.polls.save("slotted", question="Q?", closes_at=None, allow_change=True, now=NOW)
    seen = []
    script = store.scripts.cast_vote

    def recording(keys, args):
        seen.append(keys)
        return script(keys=keys, args=args)

    monkeypatch.setattr(store.scripts, "cast_vote", recording)
    store.polls.cast_vote("slotted", voter=b"\x01" * 8, choice="yay", ip="ip", now=NOW, limits=GENEROUS)
    assert len(seen) == 1
    assert len({key_slot(key.encode()) for key in seen[0]}) == 1


def test_voter_records_are_compact_digests_never_the_token(store, redis_client):
    store.polls.save("compact", question="Q?", closes_at=None, allow_change=True, now=NOW)
    token = "my-secret-voter-token-123"
    store.polls.cast_vote(
        "compact", voter=voter_digest("secret", "compact", token), choice="nay", ip="ip", now=NOW, limits=GENEROUS
    )
    buckets = redis_client.keys("yaynay-test:poll:{compact}:v:*")
    assert len(buckets) == 1
    assert redis_client.object("encoding", buckets[0]) in (b"listpack", b"ziplist")
    ((field, value),) = redis_client.hgetall(buckets[0]).items()
    assert len(field) == 7 and value == b"2"
    everything = b"".join(redis_client.dump(key) for key in redis_client.keys("*"))
    assert token.encode() not in everything


def test_a_voter_digest_differs_per_poll_and_per_secret():
    assert voter_digest("s", "a", "token") != voter_digest("s", "b", "token")
    assert voter_digest("s", "a", "token") != voter_digest("t", "a", "token")
    assert len(voter_digest("s", "a", "token")) == 8


def test_saving_reports_whether_the_poll_is_new(store):
    _, created = store.polls.save("new", question="Q?", closes_at=None, allow_change=True, now=NOW)
    poll, created_again = store.polls.save("new", question="Q2?", closes_at=NOW + 5, allow_change=False, now=NOW)
    assert (created, created_again) == (True, False)
    assert poll.question == "Q2?" and poll.closes_at == NOW + 5 and poll.allow_change is False
    assert poll.created_at == NOW


@pytest.fixture
def tiny_listpacks(redis_client):
    """This Redis keeps no hash as a listpack, as a poll's buckets are once they pass
    hash-max-listpack-entries: a few thousand voters stand for tens of millions."""
    before = redis_client.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"]
    redis_client.config_set("hash-max-listpack-entries", 0)
    yield
    redis_client.config_set("hash-max-listpack-entries", before)


def test_votes_still_count_once_buckets_outgrow_listpack_encoding(store, redis_client, tiny_listpacks):
    store.polls.save("huge", question="Q?", closes_at=None, allow_change=True, now=NOW)
    voters = [voter_digest("secret", "huge", f"voter-{n:06d}-token") for n in range(5_000)]
    ballots = [(voter, "yay" if n % 3 else "nay") for n, voter in enumerate(voters)]
    for voter, choice in ballots:
        store.polls.cast_vote("huge", voter=voter, choice=choice, ip=voter.hex(), now=NOW, limits=GENEROUS)
    for voter, _ in ballots[:500]:
        store.polls.cast_vote("huge", voter=voter, choice="nay", ip=voter.hex(), now=NOW, limits=GENEROUS)

    sample = address(store.keys, "huge", voters[0], store.polls.layout("huge")).key
    assert redis_client.object("encoding", sample) == b"hashtable"
    poll = store.polls.get("huge")
    assert store.polls.count_voter_records("huge") == {"yay": poll.yay, "nay": poll.nay}
    assert poll.total == 5_000
    assert store.polls.vote_of("huge", voters[1]) == "nay" and store.polls.vote_of("huge", voters[1000]) == "yay"


def test_the_integrity_keys_live_their_day_and_the_ip_set_is_cut_to_its_busiest(store, redis_client):
    from service.store.spam import INTEGRITY_TTL, TOP_IPS_KEPT

    store.polls.save("watched", question="Q?", closes_at=None, allow_change=True, now=NOW)
    for n in range(2 * TOP_IPS_KEPT + 5):
        voter = voter_digest("secret", "watched", f"voter-{n}")
        store.polls.cast_vote("watched", voter=voter, choice="yay", ip=f"ip{n}", now=NOW + n, limits=GENEROUS)
    hour = int(NOW // 3600)
    integrity, ips = store.keys.vote_integrity("watched", hour), store.keys.vote_ips("watched", hour)
    assert INTEGRITY_TTL - 5 <= redis_client.ttl(integrity) <= INTEGRITY_TTL
    assert INTEGRITY_TTL - 5 <= redis_client.ttl(ips) <= INTEGRITY_TTL
    assert redis_client.zcard(ips) <= 2 * TOP_IPS_KEPT
    assert int(redis_client.hget(integrity, "new")) == 2 * TOP_IPS_KEPT + 5
