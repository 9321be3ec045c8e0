"""Export everything to JSON Lines, and restore it into another Redis.

The first line is a header, ``{"format": "yaynay-export", "version": 1, ...}``; each
following line is one record: a poll (its hash: question, settings, tally), a voter
bucket (the bucket's key suffix, ``"layout": "split"`` unless it is one of a legacy poll's
16,384 fixed buckets, and each voter's digest field, base64, with the choice),
a thread (registry score, comment counter, article URL, imported source ids), a comment
(every field, any status; emails, email digests, IP digests and user agents left out
with ``personal_data=False``), a moderation log entry (with its stream id) and a token
holder (name and role, never the token or its hash). A restore writes them back key for
key, so every public answer is the same and a voter who voted before is still
recognised: voter and email digests are keyed by SECRET_KEY, so the restoring service
must use the same one (the header carries a fingerprint of the key, and a restore under
another key is refused). Tokens are not restored (only their hashes could check them);
the restore names them so they can be issued again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from service.core import Core
from service.errors import YaynayError
from service.identity import secret_fingerprint

FORMAT = "yaynay-export"
VERSION = 1
RECORD_TYPES = ("poll", "voters", "thread", "comment", "log", "token")


class RestoreRefused(YaynayError):
    """The file cannot be restored here; the message says why in one line."""


@dataclass
class RestoreSummary:
    """How many records of each type were restored, and the token holders to issue again."""

    counts: dict[str, int] = field(default_factory=dict)
    tokens_to_issue: list[str] = field(default_factory=list)


def export_lines(core: Core, *, personal_data: bool = True) -> Iterator[str]:
    """The export as JSON lines (without line ends): the header, then one record a line."""
    yield json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": core.now(),
            "personal_data": personal_data,
            "secret_key_fingerprint": secret_fingerprint(core.secret_key),
        },
        sort_keys=True,
    )
    for record in core.store.archive.export_records(personal_data=personal_data):
        yield json.dumps(record, sort_keys=True, ensure_ascii=False)


def restore_lines(core: Core, lines: Iterable[str], *, merge: bool = False) -> RestoreSummary:
    """Write an export back. Refused (RestoreRefused) when the first line is not a header of
    a version this service reads, when a line is not a record, or when Redis already holds
    yaynay keys and ``merge`` is False (with ``merge``, each record overwrites what it names)."""
    numbered = iter(enumerate(lines, start=1))
    first = next(numbered, None)
    header = _json(first[1], 1) if first else None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RestoreRefused("not a yaynay export: the first line is not its header")
    if header.get("version") != VERSION:
        raise RestoreRefused(f"export format version {header.get('version')!r}; this yaynay reads version {VERSION}")
    if header.get("secret_key_fingerprint") != secret_fingerprint(core.secret_key):
        raise RestoreRefused(
            "the export was made under another SECRET_KEY; restore with that key, "
            "or returning voters would vote again and privacy requests would not find emails"
        )
    if not merge and not core.store.archive.is_empty():
        raise RestoreRefused("Redis already holds yaynay data; restore into an empty one, or pass --merge")
    summary = RestoreSummary()

    def records() -> Iterator[dict[str, Any]]:
        for number, line in numbered:
            if not line.strip():
                continue
            record = _json(line, number)
            if not isinstance(record, dict) or record.get("type") not in RECORD_TYPES:
                raise RestoreRefused(f"line {number}: not an export record")
            if record["type"] == "token":
                summary.tokens_to_issue.append(str(record.get("name")))
            yield record

    try:
        summary.counts = core.store.archive.restore_records(records())
    except (KeyError, TypeError, ValueError) as error:
        raise RestoreRefused(f"a record is incomplete or malformed ({type(error).__name__}: {error})") from None
    # Closing times still to come are announced (poll.closed) when they pass, as before the export.
    core.store.polls.schedule_closings(core.now())
    return summary


def _json(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise RestoreRefused(f"line {number}: not JSON") from None
