"""Every Redis key yaynay uses, built here and nowhere else.

Keys that belong to a poll carry the poll id as a hash tag, ``{prefix}:poll:{<id>}:...``,
so all of them live in one Redis Cluster slot and each Lua script that receives them
in KEYS touches a single slot.

| key | type | lifetime | holds |
| --- | --- | --- | --- |
| ``P:poll:{id}`` | hash | permanent | question, closes_at, allow_change, created_at, and the tally fields yay, nay |
| ``P:poll:{id}:voters:<bucket>`` | hash | permanent | voter digest (6 bytes) -> 1 (yay) or 2 (nay); one of VOTER_BUCKETS buckets |
| ``P:poll:{id}:rl:vote:<ip>:<window>`` | string | window + 1 s | votes from one client IP in one rate-limit window |
| ``P:poll:{id}:newvoters:<ip>:<day>`` | string | 1 day + 1 h | new voters brought by one client IP in one UTC day |
| ``P:polls`` | sorted set | permanent | every poll id, scored by creation time: the ceiling on auto-created polls |

Voters are bucketed so each bucket stays a small listpack-encoded hash (Redis keeps a
hash compact up to ``hash-max-listpack-entries``, 128 by default): with 16,384 buckets a
million voters on one poll average 61 a bucket, about 12 bytes each. Buckets and fields
are slices of one keyed digest, so neither reveals the token.

``P:polls`` lives in its own slot. Creating a poll writes it and the poll hash in two
steps, registry first; both steps are idempotent, so a failure between them is repaired
by the next attempt, and a registry entry without a poll hash only lowers the ceiling.
``<ip>`` is a keyed hash of the client address, never the address itself.
"""

from __future__ import annotations

from dataclasses import dataclass

VOTER_BUCKETS = 16384


@dataclass(frozen=True)
class Keys:
    """Builds key names under one prefix."""

    prefix: str = "yaynay"

    def poll(self, poll_id: str) -> str:
        """The poll's hash: its settings and its tally."""
        return f"{self.prefix}:poll:{{{poll_id}}}"

    def voter_bucket(self, poll_id: str, bucket: int) -> str:
        """One bucket of the poll's voter records."""
        return f"{self.poll(poll_id)}:voters:{bucket:04x}"

    def vote_rate(self, poll_id: str, ip_digest: str, window_start: int) -> str:
        """Counter of one client IP's votes on the poll in one rate-limit window."""
        return f"{self.poll(poll_id)}:rl:vote:{ip_digest}:{window_start}"

    def new_voters(self, poll_id: str, ip_digest: str, day: int) -> str:
        """Counter of new voters one client IP brought to the poll on one UTC day."""
        return f"{self.poll(poll_id)}:newvoters:{ip_digest}:{day}"

    def poll_registry(self) -> str:
        """Sorted set of every poll id, scored by creation time."""
        return f"{self.prefix}:polls"
