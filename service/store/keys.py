"""Every Redis key yaynay uses, built here and nowhere else.

Every key is hash-tagged. Keys that belong to a poll carry the poll id as a hash tag,
``{prefix}:poll:{<id>}:...``, so all of them live in one Redis Cluster slot and each Lua
script that receives them in KEYS touches a single slot. The site-wide indexes (the
poll and thread registries, the moderation queue, its log and the surge counter) are
split into SHARDS (16) shards, ``{reg:<n>}`` and ``{queue:<n>}``, by a CRC-32 of the
poll or thread id, so no one slot takes every comment, decision or new thread; reads
merge the shards (``shards.py``, ``ModerationStore.log``).

| key | type | lifetime | holds |
| --- | --- | --- | --- |
| ``P:poll:{id}`` | hash | permanent | question, closes_at, allow_change, created_at, the tally (yay, nay, version) and voter_buckets (absent: legacy layout) |
| ``P:poll:{id}:v:<bucket>`` | hash | permanent | voter digest (7 bytes) -> 1 (yay) or 2 (nay); buckets 0 .. voter_buckets - 1 (hex), see store/voters.py |
| ``P:poll:{id}:voters:<bucket>`` | hash | permanent | legacy layout (a poll without voter_buckets): voter digest (6 bytes) -> 1 or 2, in 16,384 fixed buckets (04x) |
| ``P:poll:{id}:rl:vote:<ip>:<window>`` | string | window + 1 s | votes from one client IP in one rate-limit window |
| ``P:poll:{id}:newvoters:<ip>:<day>`` | string | 1 day + 1 h | new voters brought by one client IP in one UTC day |
| ``P:poll:{id}:integrity:<hour>`` | hash | 25 h | vote integrity: ``m<minute>`` -> votes cast or changed that minute, ``new``, ``refused`` (new voters over the per-IP ceiling), ``changes`` |
| ``P:poll:{id}:ips:<hour>`` | sorted set | 25 h | vote integrity: IP digest -> votes and refusals that hour, cut to the top 60 past 120 |
| ``P:polls:{reg:<n>}`` | sorted set | permanent | shard n of the poll registry: poll ids scored by creation time (the MAX_POLLS count, when set, sums the shards) |
| ``P:polls:{closing}`` | sorted set | until announced | poll id -> its future closes_at: the worker's sweep takes the due ones and emits ``poll.closed`` |
| ``P:thread:{id}:comment:<key>`` | hash | permanent | one comment: text, email, hashed IP, status, signals; id is ``<thread>.<key>`` |
| ``P:thread:{id}:seq`` | string | permanent | comment counter of the thread: the order of its comments |
| ``P:thread:{id}:status:<status>`` | sorted set | permanent | comment keys by status (pending, approved, rejected, spam), scored by seq |
| ``P:thread:{id}:meta`` | hash | permanent | what is known of the thread's article: page_url (set once, by its first comment that names it) |
| ``P:thread:{id}:imported`` | hash | permanent | source comment id (Disqus, WordPress) -> comment key it became: a second import adds nothing |
| ``P:thread:{id}:log`` | stream | entries LOG_RETENTION_DAYS | the thread's moderation decisions, written with the decision |
| ``P:thread:{id}:idem:<digest>`` | string | IDEMPOTENCY_TTL | comment key answered for one client's Idempotency-Key |
| ``P:thread:{id}:unindexed`` | hash | until indexed | Redis Cluster only: comment key -> "<time> <email digest>" of a write whose site-wide indexes may be missing |
| ``P:thread:{id}:same:<digest>`` | string | DUPLICATE_WINDOW | comment key of one client's identical submission |
| ``P:threads:{reg:<n>}`` | sorted set | permanent | shard n of the thread registry: thread ids scored by first comment |
| ``P:ip:{<ip>}:rl:comment:<window>:<start>`` | string | window + 1 s | one client IP's comments in one window (site-wide) |
| ``P:ip:{<ip>}:rl:autopoll:<day start>`` | string | 1 day + 1 s | polls one client IP created by first votes in one UTC day |
| ``P:ip:{<ip>}:rl:newthreads:<day start>`` | string | 1 day + 1 s | threads one client IP started in one UTC day (NEW_THREADS_PER_IP_PER_DAY) |
| ``P:moderation:{queue:<n>}:<status>`` | sorted set | pending: permanent; others DECIDED_RETENTION_DAYS | shard n of the site-wide queue: comment ids of its threads by status, scored by submission time (µs) |
| ``P:moderation:{queue:<n>}:log`` | stream | entries LOG_RETENTION_DAYS | shard n of the site-wide log: its threads' decisions, newest last |
| ``P:moderation:{queue:<n>}:surge:<hour>`` | string | 2 h | comments submitted to shard n's threads in one hour; the site-wide count is the sum |
| ``P:polls``, ``P:threads``, ``P:moderation:{queue}:<status>`` / ``:log`` | | until moved | earlier versions' single keys: the first queue read or ``yaynay check --repair`` moves the registries and queues into their shards; the single log is read, never written, as one more shard |
| ``P:moderation:{queue:<n>}:replicated`` | string | 1 s | Redis Cluster only: written in shard n's slot just before a ``WAIT`` that confirms its replicas have the shard's entries |
| ``P:text:{<digest>}`` | string | 30 days | how many times a comment body was submitted (the "same text" signal) |
| ``P:email:{<digest>}`` | set | permanent | comment ids submitted with one email address, for privacy export and delete |
| ``P:index:{repair}:threads`` | sorted set | until repaired | Redis Cluster only: threads that may hold "to index" marks, scored by the last marking write |
| ``P:index:{repair}:lock`` | string | INDEX_REPAIR_INTERVAL | held by the worker that runs the index repair in this interval |
| ``P:spam:{tools}:blocklist`` | hash | permanent | blocklist rules, id -> JSON |
| ``P:spam:{tools}:ban:<id>`` | string | until the ban ends | one ban (JSON): Redis frees it when it ends |
| ``P:spam:{tools}:ban-ends`` | sorted set | permanent, pruned | ban id -> its end time: the list of bans; ended ones are cut at every ban added, listed or reloaded |
| ``P:spam:{tools}:bans`` | hash | until moved | earlier versions' bans (id -> JSON with the end time): the first reload moves those still in force to their own keys |
| ``P:spam:{tools}:version`` | string | permanent | bumped by every blocklist or ban change; each process reloads both when it moves |
| ``P:trust:{<email digest>}`` | string | 1 year | an author's approved comments in a row (TRUSTED_AFTER_APPROVED) |
| ``P:tokens:{auth}:by-hash`` / ``:by-name`` | hash | permanent | moderator tokens: SHA-256 of the token -> name, name -> role and metadata |
| ``P:webhooks:{webhooks}:endpoints`` | hash | permanent | webhook endpoint id -> JSON: url, events, format, private, the signing secret (kept: it signs), health |
| ``P:webhooks:{webhooks}:attempts:<id>`` | list | with the endpoint | its latest delivery attempts (JSON), newest first, at most 100 |
| ``P:webhooks:{webhooks}:message:<msg id>`` | string | 3 days | one emitted event (JSON), for its retries and redelivery |
| ``P:notify:{notify}:subscribers`` | set | permanent | moderators' mail addresses, as first given; one per casefolded address (older versions may have stored two casings) |
| ``P:notify:{notify}:digest:sent`` | string | permanent | when the last digest of pending comments went out |
| ``P:notify:{notify}:guard:<what>`` | string | its interval | "a digest is scheduled" / "a closing sweep is scheduled" / "this hour's surge was announced": one holder each |
| ``yaynay:{jobs}:*`` | (RQ's own) | RQ's | background jobs: RQ names its keys under ``RQ_KEY_PREFIX``, which ``store/jobs.py`` sets to this |

Pub/sub channels are not keys and hold nothing, but live in slots too: ``P:changes:{id}``
is the shard channel of poll ``id`` and thread ``id`` (``change_channel``), hash-tagged like
their keys, so the vote script SPUBLISHes a tally to it from the poll's slot and only the
shard that owns the id carries the message (``subscriptions.py``).

Voters are bucketed so each bucket stays a small listpack-encoded hash (Redis keeps a
hash compact up to ``hash-max-listpack-entries``; config/redis.conf and the embedded
Redis set 512). The buckets split one at a time as the poll grows (linear hashing,
store/voters.py): a poll has one bucket per 200 voters, so a voter costs about 13 bytes
(MEMORY USAGE of the poll's keys, ``./dev bench``: 12.9 B at 1,000 voters, 12.3 at
10,000, 12.9 at 100,000, 12.6 at 1,000,000, 12.3 at 10,000,000) and the vote touches one
bucket, plus two when it splits one, whatever the size. On a Redis left at the default of 128 entries the buckets are
plain hash tables: the layout and every script work the same, at about four times the
memory. Buckets and fields are slices of one keyed digest, so neither reveals the token.
A poll stored before buckets split keeps the legacy layout (16,384 fixed buckets, 109 B
a voter at 1,000 voters) until ``yaynay poll compact`` rewrites it.

A poll's registry shard is in a slot of its own. Creating a poll writes it and the poll
hash in two steps, registry first; both steps are idempotent, so a failure between them
is repaired by the next attempt, and a registry entry without a poll hash is skipped by
the listings. There is no site-wide ceiling on polls or threads by default: auto-created
polls are bounded per client IP a day (AUTO_CREATE_POLLS_PER_IP_PER_DAY), new threads
likewise (NEW_THREADS_PER_IP_PER_DAY); MAX_POLLS, when set, is checked by summing the
shards' sizes before the write, so creations racing at the ceiling may pass it by as
many as race. ``<ip>`` is a keyed hash of the client address, never the address itself.

The vote-integrity keys cost about 59 KiB per poll per day of steady voting (MEMORY USAGE
after a simulated day of 3,000 votes an hour from 1,500 IP digests: 48 keys, 60,160 bytes,
all listpack-encoded); the IP set is cut to its top 60 past 120 members so it never leaves
the listpack encoding.

Comments span slots too: a comment and its thread's keys share the thread's slot, while
the site-wide indexes (the thread's shard of the registry, the queue, the surge counter
and the log; the same-text and email indexes; the author's trust count) live in slots
of their own. How they stay complete depends on the deployment:

- On a single Redis node (not Cluster), which lets one script touch keys of several
  slots as long as every key is passed in KEYS, submitting is ONE script
  (``submit_comment_on_one_node.lua``) and one round trip: the check that the process
  screened with the current blocklist and bans (``P:spam:{tools}:version``; "stale" makes
  it reload them and screen again), repeat check, the client's rate limits (counted only
  when the comment is stored, so the Idempotency-Key is reserved with the hit and
  concurrent retries count once), the client's new threads of the day, the surge hold
  (all 16 surge shards summed) and the trusted-author check, the thread's keys, its
  article URL and every site-wide index; it also answers the hour's count and how many
  webhook endpoints exist, so the events need no read. A decision is one script likewise
  (``decide_comment_on_one_node.lua``), with its author's trust count; only its
  author's email digest is read before it (the script's keys name it). Nothing can
  separate a comment from its indexes.
- On Redis Cluster a post takes the round trips its slots require, most in parallel:
  a pipeline reads the lists version, the 16 surge shards and the author's trust (the
  status is settled in Python as the one-node script does); the repeat check and the
  rate limits (two scripts, one each in the thread's and the client's slot); the first
  comment on a thread checks its registry shard and counts the client's new threads
  (up to three, once per thread and process); the ``P:index:{repair}:threads`` record;
  the thread's script; the site-wide pipeline; the mark's clearing; the events' read of
  the webhook endpoints and the hour's count. That is 8 round trips a post (up to 11 on
  a thread new to the process), against 1 on one node. The thread's script (``submit_comment.lua``,
  ``decide_comment.lua``) also writes the comment's key into the thread's
  ``unindexed`` hash; the site-wide writes follow, then the mark is cleared (``clear_index_marker.lua``, only if no later
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
import zlib
from dataclasses import dataclass

# Site-wide indexes (the poll and thread registries, the moderation queue, its log and the
# surge counter) are split into this many shards, each its own hash tag, so on Redis
# Cluster their writes spread over up to this many slots. Fixed: changing it would move
# entries between shards. A read merges every shard in one pipeline.
SHARDS = 16


def shard_of(item_id: str) -> int:
    """The shard of a site-wide index that holds a poll or a thread: a CRC-32 of its id."""
    return zlib.crc32(item_id.encode()) % SHARDS


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
        """One bucket of the poll's voter records (store/voters.py says which)."""
        return f"{self.poll(poll_id)}:v:{bucket:x}"

    def legacy_voter_bucket(self, poll_id: str, bucket: int) -> str:
        """One of the 16,384 fixed buckets of a poll stored before buckets split."""
        return f"{self.poll(poll_id)}:voters:{bucket:04x}"

    def vote_rate(self, poll_id: str, ip_digest: str, window_start: int) -> str:
        """Counter of one client IP's votes on the poll in one rate-limit window."""
        return f"{self.poll(poll_id)}:rl:vote:{ip_digest}:{window_start}"

    def new_voters(self, poll_id: str, ip_digest: str, day: int) -> str:
        """Counter of new voters one client IP brought to the poll on one UTC day."""
        return f"{self.poll(poll_id)}:newvoters:{ip_digest}:{day}"

    def _registry(self, kind: str, shard: int) -> str:
        return f"{self.prefix}:{kind}:{{reg:{shard}}}"

    def poll_registry(self, poll_id: str) -> str:
        """The registry shard holding the poll: poll ids scored by creation time."""
        return self._registry("polls", shard_of(poll_id))

    def poll_registries(self) -> list[str]:
        """Every shard of the poll registry."""
        return [self._registry("polls", shard) for shard in range(SHARDS)]

    def legacy_poll_registry(self) -> str:
        """The one poll registry of earlier versions: read only to migrate it."""
        return f"{self.prefix}:polls"

    def closing_schedule(self) -> str:
        """Sorted set of polls with a closing time still to come, scored by it (its own slot)."""
        return f"{self.prefix}:polls:{{closing}}"

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

    def thread_registry(self, thread_id: str) -> str:
        """The registry shard holding the thread: thread ids scored by first comment."""
        return self._registry("threads", shard_of(thread_id))

    def thread_registries(self) -> list[str]:
        """Every shard of the thread registry."""
        return [self._registry("threads", shard) for shard in range(SHARDS)]

    def legacy_thread_registry(self) -> str:
        """The one thread registry of earlier versions: read only to migrate it."""
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

    def new_threads(self, ip_digest: str, day_start: int) -> str:
        """Threads one client IP started (first comments on new articles) in one UTC day."""
        return f"{self.prefix}:ip:{{{ip_digest}}}:rl:newthreads:{day_start}"

    def queue(self, status: str, shard: int) -> str:
        """One shard of the site-wide queue of a status."""
        return f"{self.prefix}:moderation:{{queue:{shard}}}:{status}"

    def queue_of(self, thread_id: str, status: str) -> str:
        """The queue shard of a status that holds the thread's comments."""
        return self.queue(status, shard_of(thread_id))

    def queues(self, status: str) -> list[str]:
        """Every shard of the site-wide queue of a status."""
        return [self.queue(status, shard) for shard in range(SHARDS)]

    def legacy_queue(self, status: str) -> str:
        """The one queue of a status of earlier versions: read only to migrate it."""
        return f"{self.prefix}:moderation:{{queue}}:{status}"

    def moderation_log(self, shard: int) -> str:
        """One shard of the site-wide moderation log."""
        return f"{self.prefix}:moderation:{{queue:{shard}}}:log"

    def moderation_log_of(self, thread_id: str) -> str:
        return self.moderation_log(shard_of(thread_id))

    def moderation_logs(self) -> list[str]:
        """Every shard of the site-wide log, then the one log of earlier versions (read only)."""
        return [*(self.moderation_log(shard) for shard in range(SHARDS)), self.legacy_moderation_log()]

    def legacy_moderation_log(self) -> str:
        return f"{self.prefix}:moderation:{{queue}}:log"

    def surge(self, hour: int, shard: int) -> str:
        """One shard of the count of comments submitted site-wide in an hour."""
        return f"{self.prefix}:moderation:{{queue:{shard}}}:surge:{hour}"

    def surges(self, hour: int) -> list[str]:
        """Every shard of an hour's surge counter: their sum is the site-wide count."""
        return [self.surge(hour, shard) for shard in range(SHARDS)]

    def queue_probe(self, shard: int) -> str:
        """Redis Cluster: the key written, in a queue shard's slot, right before waiting for its replicas."""
        return f"{self.prefix}:moderation:{{queue:{shard}}}:replicated"

    def text_seen(self, digest: str) -> str:
        return f"{self.prefix}:text:{{{digest}}}"

    def email_comments(self, digest: str) -> str:
        return f"{self.prefix}:email:{{{digest}}}"

    def blocklist(self) -> str:
        """Hash of the blocklist rules: id -> JSON."""
        return f"{self.prefix}:spam:{{tools}}:blocklist"

    def ban(self, ban_id: str) -> str:
        """One ban (JSON), expiring when the ban ends."""
        return f"{self.prefix}:spam:{{tools}}:ban:{ban_id}"

    def legacy_bans(self) -> str:
        """The one hash of bans of earlier versions: read only to move its bans to their keys."""
        return f"{self.prefix}:spam:{{tools}}:bans"

    def ban_ends(self) -> str:
        """Sorted set of ban ids scored by their end time: the index of the bans."""
        return f"{self.prefix}:spam:{{tools}}:ban-ends"

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
        """One holder at a time: ``digest`` (a digest is scheduled), ``closing-sweep`` (likewise),
        ``surge:<hour>`` (announced)."""
        return f"{self.prefix}:notify:{{notify}}:guard:{what}"
