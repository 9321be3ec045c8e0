"""Bulk writes and reads: comments imported from another system, and a whole-site export and restore.

An imported comment is written in two steps, like a comment on Redis Cluster: a script
in the thread's slot (``import_comment.lua``) stores it with its original time, status
and parent, and records its source id in the thread's ``imported`` hash; the site-wide
indexes (queue, email index) follow in a pipeline, the thread registry having come first. All are idempotent,
so importing a file again adds nothing, and ``yaynay check --repair`` writes any index a
crash between the two steps left out.

An export is a stream of plain records (dicts) that a restore writes back key for key:
poll hashes, voter buckets (digests only), comment hashes with their thread's sets,
counters and meta, the moderation logs with their entry ids, and token names and roles
(never their hashes: restored tokens must be issued again).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from service.store.comments import STATUSES, CommentStore, queue_score
from service.store.connection import translate_errors
from service.store.keys import Keys, comment_id, new_comment_key, split_comment_id
from service.store.scripts import Scripts
from service.store.shards import every_member
from service.store.voters import LEGACY_BUCKETS

# Records written per pipeline: large enough that a round trip is not the cost, small
# enough that a restore's memory stays flat.
BATCH = 500
# Comment fields that identify a person: left out of an export made --no-personal-data.
PERSONAL_FIELDS = frozenset({"email", "email_digest", "ip_digest", "user_agent"})


@dataclass(frozen=True)
class ImportedComment:
    """One comment read from an export, ready to store (lengths already cut)."""

    thread_id: str
    source_id: str
    parent_source_id: str
    status: str
    created_at: float
    author: str
    body: str
    email: str
    email_digest: str
    website: str
    text_digest: str
    links: int
    page_url: str


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _text_fields(row: dict[bytes, bytes]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in row.items()}


class ArchiveStore:
    """Imports comments; exports and restores everything a public answer is made of."""

    def __init__(self, redis: Any, keys: Keys, scripts: Scripts, comments: CommentStore):
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.comments = comments

    # -- import ---------------------------------------------------------------------

    @translate_errors
    def import_comments(self, batch: Sequence[ImportedComment]) -> list[str]:
        """Store each comment unless its source id was imported before, in one round trip;
        the outcome of each, in order: "created", "existing", or "no_parent" (its parent's
        source id was not imported: the caller retries it later or imports it top-level)."""
        keys = [new_comment_key() for _ in batch]
        # The registry first, as a submission does: it is how `yaynay check` finds a thread,
        # so a crash after it leaves nothing that check cannot see. It is scored by a
        # thread's first comment; the per-client new-thread limit does not apply to an import.
        first_comment: dict[str, float] = {}
        for item in batch:
            first_comment[item.thread_id] = min(item.created_at, first_comment.get(item.thread_id, item.created_at))
        if first_comment:
            with self.redis.pipeline(transaction=False) as pipe:
                for thread_id, first in first_comment.items():
                    pipe.zadd(self.keys.thread_registry(thread_id), {thread_id: first}, lt=True)
                pipe.execute()
        replies = self.scripts.run_together(
            *(
                (
                    self.scripts.import_comment,
                    [
                        self.keys.comment(item.thread_id, key),
                        self.keys.thread_seq(item.thread_id),
                        self.keys.thread_status(item.thread_id, item.status),
                        self.keys.imported(item.thread_id),
                        self.keys.thread_meta(item.thread_id),
                    ],
                    [
                        key,
                        item.status,
                        repr(item.created_at),
                        item.source_id,
                        item.parent_source_id,
                        item.thread_id,
                        item.page_url,
                        *_import_fields(item),
                    ],
                )
                for item, key in zip(batch, keys, strict=True)
            )
        )
        outcomes = [reply[0].decode() for reply in replies]
        created = [
            (item, key) for item, key, outcome in zip(batch, keys, outcomes, strict=True) if outcome == "created"
        ]
        if created:
            with self.redis.pipeline(transaction=False) as pipe:
                for item, key in created:
                    the_id = comment_id(item.thread_id, key)
                    pipe.zadd(self.keys.queue_of(item.thread_id, item.status), {the_id: queue_score(item.created_at)})
                    if item.email_digest:
                        pipe.sadd(self.keys.email_comments(item.email_digest), the_id)
                pipe.execute()
        return outcomes

    # -- export ---------------------------------------------------------------------

    @translate_errors
    def is_empty(self) -> bool:
        """True when no key under the prefix exists."""
        return next(iter(self.redis.scan_iter(match=f"{self.keys.prefix}:*", count=1000)), None) is None

    @translate_errors
    def export_records(self, *, personal_data: bool) -> Iterator[dict[str, Any]]:
        """Every poll, voter bucket, thread, comment, log entry and token holder, as plain records."""
        yield from self._export_polls()
        yield from self._export_threads(personal_data)
        for stream in self.keys.moderation_logs():
            yield from self._export_log(None, stream)
        for name, raw in sorted(self.redis.hgetall(self.keys.tokens_by_name()).items()):
            record = json.loads(raw)
            yield {
                "type": "token",
                "name": name.decode(),
                "role": record["role"],
                "created_at": record.get("created_at"),
                "expires_at": record.get("expires_at"),
            }

    def _export_polls(self) -> Iterator[dict[str, Any]]:
        for poll_id, score in every_member(self.redis, self.keys.poll_registries()):
            fields = self.redis.hgetall(self.keys.poll(poll_id))
            yield {"type": "poll", "id": poll_id, "registered_at": score, "fields": _text_fields(fields)}
        # One pass over the keyspace for every poll's voters (the legacy buckets, then those
        # that split): walking 16,384 buckets a legacy poll would cost more than its few keys.
        for family, layout in (("voters", {}), ("v", {"layout": "split"})):
            for bucket_key in self.redis.scan_iter(match=f"{self.keys.prefix}:poll:*:{family}:*", count=1000):
                name = bucket_key.decode()
                poll_id = name[name.index(":poll:{") + 7 : name.rindex(f"}}:{family}:")]
                records = self.redis.hgetall(bucket_key)
                yield {
                    "type": "voters",
                    "poll": poll_id,
                    "bucket": name.rpartition(":")[2],
                    **layout,
                    "records": [[_b64(field), value.decode()] for field, value in sorted(records.items())],
                }

    def _export_threads(self, personal_data: bool) -> Iterator[dict[str, Any]]:
        for thread_id, score in every_member(self.redis, self.keys.thread_registries()):
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.keys.thread_seq(thread_id))
                pipe.hgetall(self.keys.thread_meta(thread_id))
                pipe.hgetall(self.keys.imported(thread_id))
                for status in STATUSES:
                    pipe.zrange(self.keys.thread_status(thread_id, status), 0, -1)
                seq, meta, imported, *by_status = pipe.execute()
            yield {
                "type": "thread",
                "id": thread_id,
                "registered_at": score,
                "seq": int(seq or 0),
                "meta": _text_fields(meta),
                "imported": _text_fields(imported),
            }
            comment_keys = [key.decode() for members in by_status for key in members]
            for start in range(0, len(comment_keys), BATCH):
                chunk = comment_keys[start : start + BATCH]
                with self.redis.pipeline(transaction=False) as pipe:
                    for key in chunk:
                        pipe.hgetall(self.keys.comment(thread_id, key))
                    rows = pipe.execute()
                for key, row in zip(chunk, rows, strict=True):
                    if row:
                        yield _comment_record(thread_id, key, row, personal_data)
            yield from self._export_log(thread_id, self.keys.thread_log(thread_id))

    def _export_log(self, thread_id: str | None, stream: str) -> Iterator[dict[str, Any]]:
        after = "-"
        while True:
            entries = self.redis.xrange(stream, min=after, max="+", count=BATCH)
            for entry_id, data in entries:
                yield {"type": "log", "thread": thread_id, "id": entry_id.decode(), "fields": _text_fields(data)}
            if len(entries) < BATCH:
                return
            after = f"({entries[-1][0].decode()}"

    # -- restore --------------------------------------------------------------------

    @translate_errors
    def restore_records(self, records: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Write exported records back, BATCH a round trip; how many of each type were written.

        Log entries whose id a stream already holds (a --merge) are left as they are.
        Token records are counted, not written: a token's hash is never exported.
        """
        counts: dict[str, int] = {}
        pending: list[dict[str, Any]] = []
        threads: set[str] = set()
        for record in records:
            kind = record["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "thread":
                threads.add(record["id"])
            if kind != "token":
                pending.append(record)
            if len(pending) >= BATCH:
                self._write(pending)
                pending = []
        self._write(pending)
        self.comments.published_changed(threads)
        return counts

    def _write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        writers = {
            "poll": self._restore_poll,
            "voters": self._restore_voters,
            "thread": self._restore_thread,
            "comment": self._restore_comment,
            "log": self._restore_log,
        }
        with self.redis.pipeline(transaction=False) as pipe:
            for record in records:
                writers[record["type"]](pipe, record)
            replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, ResponseError) and "equal or smaller" not in str(reply):
                raise reply

    def _restore_poll(self, pipe: Any, record: dict[str, Any]) -> None:
        pipe.zadd(self.keys.poll_registry(record["id"]), {record["id"]: record["registered_at"]})
        if record["fields"]:
            pipe.hset(self.keys.poll(record["id"]), mapping=record["fields"])

    def _restore_voters(self, pipe: Any, record: dict[str, Any]) -> None:
        """A bucket goes back under its own name: the poll record brought its layout
        (``voter_buckets``, absent for a legacy poll) with it."""
        bucket = int(record["bucket"], 16)
        split = record.get("layout") == "split"
        if not 0 <= bucket < (1 << 32 if split else LEGACY_BUCKETS):
            raise ValueError(f"voter bucket {record['bucket']!r} is out of range")
        name = self.keys.voter_bucket if split else self.keys.legacy_voter_bucket
        if record["records"]:
            pipe.hset(
                name(record["poll"], bucket),
                mapping={base64.b64decode(field): value for field, value in record["records"]},
            )

    def _restore_thread(self, pipe: Any, record: dict[str, Any]) -> None:
        thread_id = record["id"]
        pipe.zadd(self.keys.thread_registry(thread_id), {thread_id: record["registered_at"]}, lt=True)
        # A merge keeps the higher counter, so no restored comment shares a seq with a later one.
        # (Read apart from the pipeline: Redis Cluster pipelines take no scripts.)
        seq_key = self.keys.thread_seq(thread_id)
        if int(self.redis.get(seq_key) or 0) < int(record["seq"]):
            pipe.set(seq_key, int(record["seq"]))
        if record["meta"]:
            pipe.hset(self.keys.thread_meta(thread_id), mapping=record["meta"])
        if record["imported"]:
            pipe.hset(self.keys.imported(thread_id), mapping=record["imported"])

    def _restore_comment(self, pipe: Any, record: dict[str, Any]) -> None:
        thread_id, key, fields = record["thread"], record["key"], dict(record["fields"])
        stored: dict[str, str | bytes] = dict(fields)
        if record.get("voter"):
            stored["voter"] = base64.b64decode(record["voter"])
        the_id = comment_id(thread_id, key)
        status = fields["status"]
        if status not in STATUSES:
            raise ValueError(f"comment {the_id} has an unknown status {status!r}")
        pipe.hset(self.keys.comment(thread_id, key), mapping=stored)
        pipe.zadd(self.keys.thread_status(thread_id, status), {key: int(fields["seq"])})
        pipe.zadd(self.keys.queue_of(thread_id, status), {the_id: queue_score(float(fields["created_at"]))})
        if fields.get("email_digest"):
            pipe.sadd(self.keys.email_comments(fields["email_digest"]), the_id)

    def _restore_log(self, pipe: Any, record: dict[str, Any]) -> None:
        thread_id = record["thread"]
        if thread_id:
            stream = self.keys.thread_log(thread_id)
        else:
            stream = self.keys.moderation_log_of(split_comment_id(record["fields"].get("comment", ""))[0])
        pipe.xadd(stream, record["fields"], id=record["id"])


def _import_fields(item: ImportedComment) -> list[Any]:
    fields: dict[str, Any] = {
        "author": item.author,
        "body": item.body,
        "email": item.email,
        "website": item.website,
        "voter": "",
        "ip_digest": "",
        "user_agent": "",
        "text_digest": item.text_digest,
        "email_digest": item.email_digest,
        "links": item.links,
        "imported_from": item.source_id,
    }
    return [value for pair in fields.items() for value in pair]


def _comment_record(thread_id: str, key: str, row: dict[bytes, bytes], personal_data: bool) -> dict[str, Any]:
    voter = row.pop(b"voter", b"")
    fields = _text_fields(row)
    if not personal_data:
        fields = {name: value for name, value in fields.items() if name not in PERSONAL_FIELDS}
    record: dict[str, Any] = {"type": "comment", "thread": thread_id, "key": key, "fields": fields}
    if voter:
        record["voter"] = _b64(voter)
    return record
