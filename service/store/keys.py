"""Every Redis key yaynay uses, built here and nowhere else.

Keys that belong to a poll carry the poll id as a hash tag, ``{prefix}:poll:{<id>}:...``,
so all of them live in one Redis Cluster slot and each Lua script that receives them
in KEYS touches a single slot.

| key | type | lifetime | holds |
| --- | --- | --- | --- |
| ``P:poll:{id}`` | hash | permanent | question, closes_at, allow_change, created_at, and the tally: yay, nay, version |
| ``P:poll:{id}:voters:<bucket>`` | hash | permanent | voter digest (6 bytes) -> 1 (yay) or 2 (nay); one of VOTER_BUCKETS buckets |
| ``P:poll:{id}:rl:vote:<ip>:<window>`` | string | window + 1 s | votes from one client IP in one rate-limit window |
| ``P:poll:{id}:newvoters:<ip>:<day>`` | string | 1 day + 1 h | new voters brought by one client IP in one UTC day |
| ``P:poll:{id}:integrity:<hour>`` | hash | 25 h | vote integrity: ``m<minute>`` -> votes cast or changed that minute, ``new``, ``refused`` (new voters over the per-IP ceiling), ``changes`` |
| ``P:poll:{id}:ips:<hour>`` | sorted set | 25 h | vote integrity: IP digest -> votes and refusals that hour, cut to the top 60 past 120 |
| ``P:polls`` | sorted set | permanent | every poll id, scored by creation time: the ceiling on auto-created polls |
| ``P:thread:{id}:comment:<key>`` | hash | permanent | one comment: text, email, hashed IP, status, signals; id is ``<thread>.<key>`` |
| ``P:thread:{id}:seq`` | string | permanent | comment counter of the thread: the order of its comments |
| ``P:thread:{id}:status:<status>`` | sorted set | permanent | comment keys by status (pending, approved, rejected, spam), scored by seq |
| ``P:thread:{id}:meta`` | hash | permanent | what is known of the thread's article: page_url (set once, by its first comment that names it) |
| ``P:thread:{id}:imported`` | hash | permanent | source comment id (Disqus, WordPress) -> comment key it became: a second import adds nothing |
| ``P:thread:{id}:log`` | stream | permanent | the thread's moderation decisions, written with the decision |
| ``P:thread:{id}:idem:<digest>`` | string | IDEMPOTENCY_TTL | comment key answered for one client's Idempotency-Key |
| ``P:thread:{id}:unindexed`` | hash | until indexed | Redis Cluster only: comment key -> "<time> <email digest>" of a write whose site-wide indexes may be missing |
| ``P:thread:{id}:same:<digest>`` | string | DUPLICATE_WINDOW | comment key of one client's identical submission |
| ``P:threads`` | sorted set | permanent | every thread id, scored by first comment: the ceiling on threads |
| ``P:ip:{<ip>}:rl:comment:<window>:<start>`` | string | window + 1 s | one client IP's comments in one window (site-wide) |
| ``P:ip:{<ip>}:rl:autopoll:<day start>`` | string | 1 day + 1 s | polls one client IP created by first votes in one UTC day |
| ``P:moderation:{queue}:<status>`` | sorted set | permanent | comment ids of every thread by status, scored by submission time (µs) |
| ``P:moderation:{queue}:log`` | stream | permanent | every decision of every thread, newest last |
| ``P:moderation:{queue}:surge:<hour>`` | string | 2 h | comments submitted site-wide in one hour |
| ``P:text:{<digest>}`` | string | 30 days | how many times a comment body was submitted (the "same text" signal) |
| ``P:email:{<digest>}`` | set | permanent | comment ids submitted with one email address, for privacy export and delete |
| ``P:index:{repair}:threads`` | sorted set | until repaired | Redis Cluster only: threads that may hold "to index" marks, scored by the last marking write |
| ``P:index:{repair}:lock`` | string | INDEX_REPAIR_INTERVAL | held by the worker that runs the index repair in this interval |
| ``P:spam:{tools}:blocklist`` / ``:bans`` | hash | permanent (a ban ends at its time) | blocklist rules and bans, id -> JSON |
| ``P:spam:{tools}:version`` | string | permanent | bumped by every blocklist or ban change; each process reloads both when it moves |
| ``P:trust:{<email digest>}`` | string | 1 year | an author's approved comments in a row (TRUSTED_AFTER_APPROVED) |
| ``P:tokens:{auth}:by-hash`` / ``:by-name`` | hash | permanent | moderator tokens: SHA-256 of the token -> name, name -> role and metadata |
| ``P:webhooks:{webhooks}:endpoints`` | hash | permanent | webhook endpoint id -> JSON: url, events, format, private, the signing secret (kept: it signs), health |
| ``P:webhooks:{webhooks}:attempts:<id>`` | list | with the endpoint | its latest delivery attempts (JSON), newest first, at most 100 |
| ``P:webhooks:{webhooks}:message:<msg id>`` | string | 3 days | one emitted event (JSON), for its retries and redelivery |
| ``P:notify:{notify}:subscribers`` | set | permanent | moderators' mail addresses |
| ``P:notify:{notify}:digest:sent`` | string | permanent | when the last digest of pending comments went out |
| ``P:notify:{notify}:guard:<what>`` | string | its interval | "a digest is scheduled" / "this hour's surge was announced": one holder each |
| ``yaynay:{jobs}:*`` | (RQ's own) | RQ's | background jobs: RQ names its keys under ``RQ_KEY_PREFIX``, which ``store/jobs.py`` sets to this |

Pub/sub channels are not keys and hold nothing, but live in slots too: ``P:changes:{id}``
is the shard channel of poll ``id`` and thread ``id`` (``change_channel``), hash-tagged like
their keys, so the vote script SPUBLISHes a tally to it from the poll's slot and only the
shard that owns the id carries the message (``subscriptions.py``).

Voters are bucketed so each bucket stays a small listpack-encoded hash (Redis keeps a
hash compact up to ``hash-max-listpack-entries``; config/redis.conf and the embedded
Redis set 512): with 16,384 buckets a million voters on one poll average 61 a bucket,
about 13 bytes each, and a poll stays compact up to about 8 million voters. Past that,
or on a Redis left at the default of 128 (2 million), full buckets become plain hash
tables one at a time: the layout and every script work the same, at about four times
the memory for those buckets. Buckets and fields are slices of one keyed digest, so
neither reveals the token.

``P:polls`` lives in its own slot. Creating a poll writes it and the poll hash in two
steps, registry first; both steps are idempotent, so a failure between them is repaired
by the next attempt, and a registry entry without a poll hash only lowers the ceiling.
``<ip>`` is a keyed hash of the client address, never the address itself.

The vote-integrity keys cost about 59 KiB per poll per day of steady voting (MEMORY USAGE
after a simulated day of 3,000 votes an hour from 1,500 IP digests: 48 keys, 60,160 bytes,
all listpack-encoded); the IP set is cut to its top 60 past 120 members so it never leaves
the listpack encoding.

Comments span slots too: a comment and its thread's keys share the thread's slot, while
the site-wide indexes (the moderation queue, the surge counter, the same-text and email
indexes, the site-wide log) live in slots of their own. How they stay complete depends
on the deployment:

- On a single Redis node (not Cluster), which lets one script touch keys of several
  slots as long as every key is passed in KEYS, submitting is ONE script
  (``submit_comment_on_one_node.lua``): repeat check, the client's rate limits (counted
  only when the comment is stored, so the Idempotency-Key is reserved with the hit and
  concurrent retries count once), the MAX_THREADS registry, the thread's keys and every
  site-wide index. A decision is one script likewise (``decide_comment_on_one_node.lua``).
  Nothing can separate a comment from its indexes, and a post is one round trip.
- On Redis Cluster the thread's script (``submit_comment.lua``, ``decide_comment.lua``)
  also writes the comment's key into the thread's ``unindexed`` hash; the site-wide
  writes follow, then the mark is cleared (``clear_index_marker.lua``, only if no later
  write re-marked it). Before its script, the writer records the thread in
  ``P:index:{repair}:threads`` (its own slot), scored by time. ``reconcile_indexes``
  (``core.moderation.reconcile``) walks that registry, re-indexes marks older than
  REPAIR_AGE (10 s) from what the thread holds now (queue under the current status,
  email index; a deleted comment is removed from both), and drops threads left without
  marks unless a write recorded them after that cutoff. Every worker runs it at most
  every INDEX_REPAIR_INTERVAL seconds (a lock key makes one worker do it per interval),
  from a background thread and from queue reads, so an orphan is indexed within a
  minute; a retry of an orphaned submission heals it at once. The surge and same-text
  counters and the site-wide log line of a lost step are not replayed (counting twice
  would be worse than once less; each thread's log holds every decision). A writer
  stalled more than 10 s between recording its thread and marking its comment could
  have the record dropped: its comment then waits for a retry or ``yaynay check --repair``.
  Here concurrent retries of one Idempotency-Key may each count a hit: the repeat check
  and the count run in the client's and the thread's slots before the store script.

``yaynay import`` writes the thread registry, then ``import_comment.lua``, which stores
the comment in its thread's slot with its source id in the thread's ``imported`` hash (so
a second import of a file adds nothing), then a pipeline writes the queue and email index
entries; ``yaynay check --repair`` writes any a crash left out (on either deployment).

The queue reader still checks each entry against its comment and repairs a stale one,
and ``yaynay check`` compares every thread with the indexes on either deployment.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

VOTER_BUCKETS = 16384


def new_comment_key() -> str:
    """A fresh comment key: 8 characters of a-z and 2-7 (40 random bits, base32)."""
    return base64.b32encode(os.urandom(5)).decode().lower()


def comment_id(thread_id: str, comment_key: str) -> str:
    """A comment's public id, ``<thread id>.<comment key>``."""
    return f"{thread_id}.{comment_key}"


def split_comment_id(comment_id: str) -> tuple[str, str]:
    """``"mini-backpacks.k3x9a2mq"`` -> thread id and comment key."""
    thread_id, _, key = comment_id.rpartition(".")
    return thread_id, key


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

    def voter_record(self, poll_id: str, voter: bytes) -> tuple[str, bytes]:
        """The bucket key and field holding one voter's record, from the voter's 8-byte digest."""
        bucket = int.from_bytes(voter[:2], "big") % VOTER_BUCKETS
        return self.voter_bucket(poll_id, bucket), voter[2:]

    def vote_rate(self, poll_id: str, ip_digest: str, window_start: int) -> str:
        """Counter of one client IP's votes on the poll in one rate-limit window."""
        return f"{self.poll(poll_id)}:rl:vote:{ip_digest}:{window_start}"

    def new_voters(self, poll_id: str, ip_digest: str, day: int) -> str:
        """Counter of new voters one client IP brought to the poll on one UTC day."""
        return f"{self.poll(poll_id)}:newvoters:{ip_digest}:{day}"

    def poll_registry(self) -> str:
        """Sorted set of every poll id, scored by creation time."""
        return f"{self.prefix}:polls"

    def change_channel(self, poll_or_thread_id: str) -> str:
        """Shard pub/sub channel (not a key) of every change a public read of the poll or the
        thread ``poll_or_thread_id`` may show: a new tally as "<poll id> <version> <yay> <nay>",
        anything else as the bare id. One channel for both, as a thread page shows its poll's
        votes; hash-tagged like both, so a script may SPUBLISH to it on Redis Cluster."""
        return f"{self.prefix}:changes:{{{poll_or_thread_id}}}"

    def thread(self, thread_id: str) -> str:
        """Prefix of every key of one comment thread (not a key itself)."""
        return f"{self.prefix}:thread:{{{thread_id}}}"

    def comment(self, thread_id: str, comment_key: str) -> str:
        return f"{self.thread(thread_id)}:comment:{comment_key}"

    def thread_seq(self, thread_id: str) -> str:
        return f"{self.thread(thread_id)}:seq"

    def thread_status(self, thread_id: str, status: str) -> str:
        return f"{self.thread(thread_id)}:status:{status}"

    def thread_meta(self, thread_id: str) -> str:
        return f"{self.thread(thread_id)}:meta"

    def imported(self, thread_id: str) -> str:
        """Source comment id -> comment key, for the comments ``yaynay import`` brought in."""
        return f"{self.thread(thread_id)}:imported"

    def thread_log(self, thread_id: str) -> str:
        return f"{self.thread(thread_id)}:log"

    def idempotency(self, thread_id: str, digest: str) -> str:
        return f"{self.thread(thread_id)}:idem:{digest}"

    def duplicate(self, thread_id: str, digest: str) -> str:
        return f"{self.thread(thread_id)}:same:{digest}"

    def thread_registry(self) -> str:
        return f"{self.prefix}:threads"

    def index_marker(self, thread_id: str) -> str:
        """Redis Cluster only: the thread's comments whose site-wide indexes may be missing."""
        return f"{self.thread(thread_id)}:unindexed"

    def marked_threads(self) -> str:
        """Redis Cluster only: threads that may hold "to index" marks, scored by the last marking."""
        return f"{self.prefix}:index:{{repair}}:threads"

    def index_repair_lock(self) -> str:
        """Held by the one worker running the index repair, for one repair interval."""
        return f"{self.prefix}:index:{{repair}}:lock"

    def comment_rate(self, ip_digest: str, window: int, window_start: int) -> str:
        return f"{self.prefix}:ip:{{{ip_digest}}}:rl:comment:{window}:{window_start}"

    def auto_created_polls(self, ip_digest: str, day_start: int) -> str:
        return f"{self.prefix}:ip:{{{ip_digest}}}:rl:autopoll:{day_start}"

    def queue(self, status: str) -> str:
        return f"{self.prefix}:moderation:{{queue}}:{status}"

    def moderation_log(self) -> str:
        return f"{self.prefix}:moderation:{{queue}}:log"

    def surge(self, hour: int) -> str:
        return f"{self.prefix}:moderation:{{queue}}:surge:{hour}"

    def text_seen(self, digest: str) -> str:
        return f"{self.prefix}:text:{{{digest}}}"

    def email_comments(self, digest: str) -> str:
        return f"{self.prefix}:email:{{{digest}}}"

    def blocklist(self) -> str:
        """Hash of the blocklist rules: id -> JSON."""
        return f"{self.prefix}:spam:{{tools}}:blocklist"

    def bans(self) -> str:
        """Hash of the bans: id -> JSON with the end time."""
        return f"{self.prefix}:spam:{{tools}}:bans"

    def spam_version(self) -> str:
        """Counter bumped by every blocklist or ban change: processes reload when it moves."""
        return f"{self.prefix}:spam:{{tools}}:version"

    def trust(self, email_digest: str) -> str:
        """An author's approved comments in a row (trusted authors)."""
        return f"{self.prefix}:trust:{{{email_digest}}}"

    def vote_integrity(self, poll_id: str, hour: int) -> str:
        """Hash of one hour's vote-integrity counters of the poll."""
        return f"{self.poll(poll_id)}:integrity:{hour}"

    def vote_ips(self, poll_id: str, hour: int) -> str:
        """Sorted set of one hour's voting IP digests of the poll, by votes."""
        return f"{self.poll(poll_id)}:ips:{hour}"

    def tokens_by_hash(self) -> str:
        return f"{self.prefix}:tokens:{{auth}}:by-hash"

    def tokens_by_name(self) -> str:
        return f"{self.prefix}:tokens:{{auth}}:by-name"

    def webhook_endpoints(self) -> str:
        return f"{self.prefix}:webhooks:{{webhooks}}:endpoints"

    def webhook_attempts(self, endpoint_id: str) -> str:
        return f"{self.prefix}:webhooks:{{webhooks}}:attempts:{endpoint_id}"

    def webhook_message(self, message_id: str) -> str:
        return f"{self.prefix}:webhooks:{{webhooks}}:message:{message_id}"

    def mail_subscribers(self) -> str:
        return f"{self.prefix}:notify:{{notify}}:subscribers"

    def mail_digest_sent(self) -> str:
        return f"{self.prefix}:notify:{{notify}}:digest:sent"

    def mail_guard(self, what: str) -> str:
        """One holder at a time: ``digest`` (a digest is scheduled), ``surge:<hour>`` (announced)."""
        return f"{self.prefix}:notify:{{notify}}:guard:{what}"
