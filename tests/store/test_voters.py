"""Voter buckets that split as a poll grows, and polls stored in the legacy fixed buckets."""

import pytest

from service.identity import voter_digest
from service.ratelimit import RateLimit
from service.store import Store
from service.store.polls import VoteLimits
from service.store.voters import (
    LEGACY,
    LEGACY_BUCKETS,
    VOTERS_PER_BUCKET,
    address,
    bucket_of,
    buckets_for,
    legacy_address,
    record_field,
)

NOW = 1_790_000_000.0
GENEROUS = VoteLimits(RateLimit(count=10_000_000, window=60), new_voters_per_day=10_000_000)


@pytest.fixture
def store(redis_client):
    return Store(redis_client, prefix="yaynay-test")


def voters_of(poll_id: str, count: int, start: int = 0) -> list[bytes]:
    return [voter_digest("secret", poll_id, f"voter-{n:07d}") for n in range(start, start + count)]


def vote_all(store: Store, poll_id: str, voters: list[bytes]) -> None:
    for n, voter in enumerate(voters):
        store.polls.cast_vote(poll_id, voter=voter, choice="yay" if n % 3 else "nay", ip="ip", now=NOW, limits=GENEROUS)


def bucket_sizes(redis_client, poll_id: str) -> dict[bytes, int]:
    return {key: redis_client.hlen(key) for key in redis_client.keys(f"yaynay-test:poll:{{{poll_id}}}:v:*")}


def test_a_poll_splits_one_bucket_each_time_it_passes_the_load_and_every_voter_is_found(store, redis_client):
    store.polls.save("growing", question="Q?", closes_at=None, allow_change=True, now=NOW)
    voters = voters_of("growing", 5 * VOTERS_PER_BUCKET + 1)
    vote_all(store, "growing", voters)

    assert store.polls.layout("growing") == 6 == buckets_for(len(voters))
    sizes = bucket_sizes(redis_client, "growing")
    assert len(sizes) == 6 and sum(sizes.values()) == len(voters)
    assert all(redis_client.object("encoding", key) == b"listpack" for key in sizes)
    poll = store.polls.get("growing")
    assert store.polls.count_voter_records("growing") == {"yay": poll.yay, "nay": poll.nay}
    # A process that never saw the poll guesses one bucket, and finds every voter anyway.
    fresh = Store(redis_client, prefix="yaynay-test")
    assert [fresh.polls.vote_of("growing", voter) for voter in voters[:50]] == [
        "nay" if n % 3 == 0 else "yay" for n in range(50)
    ]


def test_the_script_and_python_place_a_record_in_the_same_bucket(store, redis_client):
    store.polls.save("placed", question="Q?", closes_at=None, allow_change=True, now=NOW)
    voters = voters_of("placed", 3 * VOTERS_PER_BUCKET + 7)
    vote_all(store, "placed", voters)
    layout = store.polls.layout("placed")
    for voter in voters:
        where = address(store.keys, "placed", voter, layout)
        assert redis_client.hexists(where.key, where.field), voter.hex()


def test_two_processes_voting_on_one_poll_each_catch_up_with_the_others_splits(store, redis_client):
    other = Store(redis_client, prefix="yaynay-test")
    store.polls.save("shared", question="Q?", closes_at=None, allow_change=True, now=NOW)
    voters = voters_of("shared", 4 * VOTERS_PER_BUCKET)
    for n, voter in enumerate(voters):
        (store if n % 2 else other).polls.cast_vote(
            "shared", voter=voter, choice="yay", ip="ip", now=NOW, limits=GENEROUS
        )
    # Each voter's second vote, through the process that did not cast the first, is a repeat.
    for n, voter in enumerate(voters):
        result = (other if n % 2 else store).polls.cast_vote(
            "shared", voter=voter, choice="yay", ip="ip", now=NOW, limits=GENEROUS
        )
        assert result.repeated
    assert store.polls.get("shared").yay == len(voters)
    assert store.polls.layout("shared") == buckets_for(len(voters))


def test_a_thousand_and_ten_thousand_voters_cost_at_most_16_bytes_each(store, redis_client):
    for poll_id, count in (("small", 1_000), ("medium", 10_000)):
        store.polls.save(poll_id, question="Q?", closes_at=None, allow_change=True, now=NOW)
        vote_all(store, poll_id, voters_of(poll_id, count))
        used = sum(redis_client.memory_usage(key, samples=0) for key in bucket_sizes(redis_client, poll_id))
        assert used / count <= 16, (poll_id, used / count)


def write_legacy_poll(redis_client, store: Store, poll_id: str, voters: list[bytes]) -> None:
    """A poll as the service stored it before buckets split: no ``voter_buckets`` field,
    6-byte fields in 16,384 fixed buckets."""
    redis_client.hset(
        store.keys.poll(poll_id),
        mapping={"question": "Old?", "closes_at": "", "allow_change": "1", "created_at": NOW, "yay": 0, "nay": 0},
    )
    redis_client.zadd(store.keys.poll_registry(poll_id), {poll_id: NOW})
    for n, voter in enumerate(voters):
        bucket, field = legacy_address(voter)
        redis_client.hset(store.keys.legacy_voter_bucket(poll_id, bucket), field, 1 + n % 2)
        redis_client.hincrby(store.keys.poll(poll_id), ("yay", "nay")[n % 2], 1)


def test_a_legacy_poll_keeps_taking_votes_in_its_fixed_buckets(store, redis_client):
    voters = voters_of("old", 300)
    write_legacy_poll(redis_client, store, "old", voters)

    repeat = store.polls.cast_vote("old", voter=voters[0], choice="yay", ip="ip", now=NOW, limits=GENEROUS)
    change = store.polls.cast_vote("old", voter=voters[1], choice="yay", ip="ip", now=NOW, limits=GENEROUS)
    newcomer = voters_of("old", 1, start=300)[0]
    store.polls.cast_vote("old", voter=newcomer, choice="nay", ip="ip", now=NOW, limits=GENEROUS)

    assert repeat.repeated and change.changed
    assert store.polls.layout("old") == LEGACY and bucket_sizes(redis_client, "old") == {}
    bucket, field = legacy_address(newcomer)
    assert redis_client.hget(store.keys.legacy_voter_bucket("old", bucket), field) == b"2"
    poll = store.polls.get("old")
    assert (poll.yay, poll.nay) == (151, 150)
    assert store.polls.count_voter_records("old") == {"yay": 151, "nay": 150}
    # Saving the poll's settings leaves its layout alone.
    store.polls.save("old", question="Still old?", closes_at=None, allow_change=True, now=NOW + 1)
    assert store.polls.layout("old") == LEGACY


def test_compacting_a_legacy_poll_moves_every_voter_into_buckets_that_split(store, redis_client):
    voters = voters_of("old", 2 * VOTERS_PER_BUCKET + 50)
    write_legacy_poll(redis_client, store, "old", voters)
    before = sum(redis_client.memory_usage(key, samples=0) for key in redis_client.keys("*:{old}:voters:*"))

    assert store.polls.compact_voters("old") == (len(voters), 3)

    assert redis_client.keys("*:{old}:voters:*") == []
    assert store.polls.layout("old") == 3
    after = sum(redis_client.memory_usage(key, samples=0) for key in bucket_sizes(redis_client, "old"))
    assert after < before / 5
    assert store.polls.count_voter_records("old") == {"yay": 225, "nay": 225}
    fresh = Store(redis_client, prefix="yaynay-test")
    assert [fresh.polls.vote_of("old", voter) for voter in voters[:4]] == ["yay", "nay", "yay", "nay"]
    again = fresh.polls.cast_vote("old", voter=voters[0], choice="yay", ip="ip", now=NOW, limits=GENEROUS)
    assert again.repeated
    assert store.polls.compact_voters("old") is None  # already compact


def test_deleting_a_poll_removes_every_bucket_of_either_layout(store, redis_client):
    store.polls.save("gone", question="Q?", closes_at=None, allow_change=True, now=NOW)
    vote_all(store, "gone", voters_of("gone", 2 * VOTERS_PER_BUCKET + 1))
    write_legacy_poll(redis_client, store, "old", voters_of("old", 10))
    assert store.polls.delete("gone") and store.polls.delete("old")
    assert redis_client.keys("*:{gone}:v:*") == [] and redis_client.keys("*:{old}:voters:*") == []


def test_a_record_field_keeps_the_digest_byte_a_legacy_bucket_number_holds():
    voter = bytes.fromhex("c3a17788990a0b0c")
    bucket, field = legacy_address(voter)
    assert bucket == 0x03A1 and bytes([bucket % 256]) + field == record_field(voter)
    assert [bucket_of(record_field(voter), buckets) for buckets in (1, 2, 3, 4, 5)] == [0, 0, 0, 0, 4]
    assert LEGACY_BUCKETS == 16_384


def test_an_export_restores_both_layouts_and_every_voter_is_found(store, redis_client):
    store.polls.save("grown", question="Q?", closes_at=None, allow_change=True, now=NOW)
    grown = voters_of("grown", 2 * VOTERS_PER_BUCKET + 3)
    vote_all(store, "grown", grown)
    old = voters_of("old", 20)
    write_legacy_poll(redis_client, store, "old", old)

    restored = Store(redis_client, prefix="yaynay-restored")
    restored.archive.restore_records(store.archive.export_records(personal_data=True))

    assert restored.polls.layout("grown") == 3 and restored.polls.layout("old") == LEGACY
    assert [restored.polls.vote_of("grown", voter) for voter in grown[:6]] == ["nay", "yay", "yay"] * 2
    assert [restored.polls.vote_of("old", voter) for voter in old[:2]] == ["yay", "nay"]
    for poll_id in ("grown", "old"):
        poll = restored.polls.get(poll_id)
        assert restored.polls.count_voter_records(poll_id) == {"yay": poll.yay, "nay": poll.nay}
