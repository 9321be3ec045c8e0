"""Where a poll's voter records live: buckets that split one at a time as the poll grows.

The layout is linear hashing (``lua/lib/voters.lua`` does the same arithmetic inside the
vote script). A poll's hash counts its buckets in ``voter_buckets``; a record's field is
7 bytes of the voter's 8-byte digest, and the field's last 4 bytes, read as a number,
choose the bucket: ``hash mod 2**level``, or ``mod 2**(level + 1)`` for buckets already
split at this level. When a new voter takes the poll past VOTERS_PER_BUCKET voters a
bucket on average, the vote script splits the next bucket in order into itself and one
new bucket, so a poll of N voters has ``ceil(N / VOTERS_PER_BUCKET)`` buckets and no
bucket leaves the listpack encoding.

Callers cannot read the bucket count inside a script (under Redis Cluster a script may
touch only the keys it is given), so each process remembers the layout it last saw of
each poll (``Layouts``) and names keys from it; the script checks the guess and answers
"moved" with the true layout when the voter's bucket differs, which costs a second
round trip only on the first vote of a process on a poll that has grown past one bucket.

A poll stored before this layout has no ``voter_buckets`` field: it keeps its 16,384
fixed buckets (``LEGACY``) with 6-byte fields until ``yaynay polls compact`` rewrites it.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.store.keys import Keys

# Voters a bucket holds on average before the next split. Unsplit buckets hold up to
# twice this, and 2 x 200 leaves room for 4.5 standard deviations below the 512 entries a
# listpack hash may hold. Measured at 1,000 to 10,000,000 voters: see README, Performance.
VOTERS_PER_BUCKET = 200
LAYOUT_FIELD = "voter_buckets"
LEGACY = 0  # the layout code of a poll in the old fixed buckets
LEGACY_BUCKETS = 16384
# A process forgets every remembered layout when it holds this many; it costs one extra
# round trip per poll to learn them again.
REMEMBERED_POLLS = 100_000


def record_field(voter: bytes) -> bytes:
    """The field of the voter's record: 7 of the digest's 8 bytes (the first is dropped, so a
    legacy record, whose bucket holds that byte's low 6 bits and the next, converts)."""
    return voter[1:]


def field_hash(field: bytes) -> int:
    """The number that places a record: the field's last 4 bytes, big-endian."""
    return int.from_bytes(field[-4:], "big")


def level_size(buckets: int) -> int:
    """The largest power of two not above ``buckets``."""
    return 1 << (buckets.bit_length() - 1)


def bucket_of(field: bytes, buckets: int) -> int:
    """The bucket holding the record with ``field`` in a poll of ``buckets`` buckets."""
    hash_ = field_hash(field)
    size = level_size(buckets)
    bucket = hash_ % size
    return hash_ % (2 * size) if bucket < buckets - size else bucket


def buckets_for(voters: int) -> int:
    """The bucket count of a poll of ``voters`` voters."""
    return max(1, -(-voters // VOTERS_PER_BUCKET))


def split_pair(buckets: int) -> tuple[int, int]:
    """The bucket the next split divides, and the bucket it creates."""
    size = level_size(buckets)
    return buckets - size, buckets


def legacy_address(voter: bytes) -> tuple[int, bytes]:
    """The bucket and field of a voter's record in the legacy layout."""
    return int.from_bytes(voter[:2], "big") % LEGACY_BUCKETS, voter[2:]


def field_from_legacy(bucket: int, field: bytes) -> bytes:
    """The field a legacy record (6 bytes, in ``bucket``) has in the current layout."""
    return bytes([bucket % 256]) + field


@dataclass(frozen=True)
class VoterAddress:
    """Where one voter's record is, in one assumed layout."""

    layout: int
    bucket: int
    key: str
    field: bytes


def address(keys: Keys, poll_id: str, voter: bytes, layout: int) -> VoterAddress:
    """The key and field of ``voter``'s record, in a poll whose layout is ``layout``."""
    if layout == LEGACY:
        bucket, field = legacy_address(voter)
        return VoterAddress(layout, bucket, keys.legacy_voter_bucket(poll_id, bucket), field)
    field = record_field(voter)
    bucket = bucket_of(field, layout)
    return VoterAddress(layout, bucket, keys.voter_bucket(poll_id, bucket), field)


def layout_of(value: bytes | str | None) -> int:
    """The layout a poll's ``voter_buckets`` field gives (None: legacy)."""
    return int(value) if value else LEGACY


def bucket_keys(keys: Keys, poll_id: str, layout: int) -> list[str]:
    """Every bucket key of a poll in ``layout``."""
    if layout == LEGACY:
        return [keys.legacy_voter_bucket(poll_id, bucket) for bucket in range(LEGACY_BUCKETS)]
    return [keys.voter_bucket(poll_id, bucket) for bucket in range(layout)]


class Layouts:
    """The layout this process last saw of each poll; a poll it has not seen is guessed to
    have one bucket, which every poll has until its 201st voter."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def get(self, poll_id: str) -> int:
        return self._seen.get(poll_id, 1)

    def saw(self, poll_id: str, layout: int) -> None:
        if len(self._seen) >= REMEMBERED_POLLS:
            self._seen.clear()
        self._seen[poll_id] = layout

    def forget(self, poll_id: str) -> None:
        self._seen.pop(poll_id, None)


class VoterReads:
    """Reads voters' records with the remembered layouts: one round trip, a second only
    for the polls whose layout moved since."""

    def __init__(self, redis, keys: Keys, layouts: Layouts):
        self.redis = redis
        self.keys = keys
        self.layouts = layouts

    def queue(self, pipe, poll_id: str, voter: bytes) -> VoterAddress:
        """Add to ``pipe`` the two reads of one record (the layout, the record where the
        remembered layout puts it); pass their answers to ``resolve``."""
        where = address(self.keys, poll_id, voter, self.layouts.get(poll_id))
        pipe.hget(self.keys.poll(poll_id), LAYOUT_FIELD)
        pipe.hget(where.key, where.field)
        return where

    def resolve(self, poll_id: str, voter: bytes, where: VoterAddress, layout: bytes | None, code: bytes | None):
        """The record's value (b"1" yay, b"2" nay, or None), read again where the poll's
        actual layout puts it when that differs from the guess."""
        actual = layout_of(layout)
        self.layouts.saw(poll_id, actual)
        if actual == where.layout:
            return code
        moved = address(self.keys, poll_id, voter, actual)
        if moved.key == where.key and moved.field == where.field:
            return code
        return self.redis.hget(moved.key, moved.field)

    def read(self, poll_id: str, voter: bytes) -> bytes | None:
        """One voter's record value, or None."""
        with self.redis.pipeline(transaction=True) as pipe:
            where = self.queue(pipe, poll_id, voter)
            layout, code = pipe.execute()
        return self.resolve(poll_id, voter, where, layout, code)
