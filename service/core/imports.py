"""Importing comments from a Disqus export or a WordPress export (WXR).

The file is parsed with defusedxml as a stream: each ``<post>`` (Disqus) or ``<item>``
(WordPress) is read, turned into comments and dropped, so a 200 MB export takes the
memory of one record plus the replies still waiting for their parent. A DTD may be
present, but any entity declaration or external reference stops the import with one line.

Each comment keeps its author, date, status and parent; a reply whose parent comes later
in the file waits for it, and a reply whose parent never comes (deleted, or missing from
the file) is imported as a top-level comment and counted as an orphan. Deleted comments,
pingbacks and records missing what a comment needs (text, date, article, id) are skipped
and counted by reason. Author names and bodies longer than the configured lengths are
cut to them and counted. Importing the same file again adds nothing: each thread
remembers the source ids it imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from service.core import Core
from service.core.comments import count_links
from service.errors import YaynayError
from service.identity import email_digest, text_digest
from service.store.archive import BATCH, ImportedComment

__all__ = [
    "FORMATS",
    "ImportRefused",
    "ImportSummary",
    "FieldChecks",
    "import_comments",
    "read_thread_map",
    "thread_id_of",
]

FORMATS = ("disqus", "wordpress")
THREAD_ID_MAX = 64
_THREAD_ID = re.compile(r"^[a-z0-9-]{1,64}$")
_NOT_ID = re.compile(r"[^a-z0-9]+")
_BREAK = re.compile(r"<br\s*/?>|</p\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
ANONYMOUS = "Anonymous"
# WordPress comment_approved values; anything else (trash, post-trashed) is a deleted comment.
_WORDPRESS_STATUS = {"1": "approved", "approve": "approved", "0": "pending", "hold": "pending", "spam": "spam"}


class ImportRefused(YaynayError):
    """The file cannot be imported (hostile or malformed XML); the message is one line."""


@dataclass(frozen=True)
class FieldChecks:
    """Which emails and websites a comment may keep (the web layer owns the patterns)."""

    email: Callable[[str], bool]
    website: Callable[[str], bool]


@dataclass
class ImportSummary:
    """What an import did: comments stored, found already imported, skipped by reason."""

    threads: set[str] = field(default_factory=set)
    created: int = 0
    already_imported: int = 0
    orphans: int = 0
    shortened: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Comments read a second (stored or found already imported)."""
        return (self.created + self.already_imported) / self.seconds if self.seconds else 0.0


def thread_id_of(url: str) -> str:
    """The thread id an article URL gets: its last path segment, lower-cased, each run of
    characters outside a-z0-9 made one ``-``, cut to 64 characters; "" when nothing is left."""
    segment = urlsplit(url.strip()).path.rstrip("/").rpartition("/")[2]
    return _NOT_ID.sub("-", segment.lower())[:THREAD_ID_MAX].strip("-")


def read_thread_map(lines: Iterable[str]) -> dict[str, str]:
    """``url,thread_id`` rows (a header row ``url,thread_id`` is allowed) as a dict; raises
    ValueError naming the first bad row."""
    mapping: dict[str, str] = {}
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or (number == 1 and [cell.strip() for cell in row] == ["url", "thread_id"]):
            continue
        if len(row) != 2 or not _THREAD_ID.match(row[1].strip()):
            raise ValueError(f"row {number}: expected url,thread_id with 1-64 characters of a-z, 0-9 and '-'")
        mapping[row[0].strip()] = row[1].strip()
    return mapping


@dataclass
class _Context:
    core: Core
    checks: FieldChecks
    thread_map: Mapping[str, str]
    summary: ImportSummary
    source: str


def import_comments(
    core: Core,
    source: str,
    stream: IO[bytes],
    *,
    checks: FieldChecks,
    thread_map: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import every comment of a Disqus (``source="disqus"``) or WordPress export read from
    ``stream``; ``progress`` is told how many bytes were read as parsing goes.
    Raises ImportRefused for hostile or malformed XML (what was read before stays imported)."""
    summary = ImportSummary()
    context = _Context(core, checks, thread_map or {}, summary, source)
    started = time.perf_counter()
    reader = _CountingReader(stream, progress)
    parse = _disqus_comments if source == "disqus" else _wordpress_comments
    waiting: dict[str, list[ImportedComment]] = {}
    batch: list[ImportedComment] = []
    try:
        try:
            for comment in parse(reader, context):
                batch.append(comment)
                if len(batch) >= BATCH:
                    _store(context, batch, waiting)
                    batch = []
        except ImportRefused as refusal:
            # What was read before the fault is stored, so the summary and a rerun on the
            # repaired file (which adds only the rest) agree with the message.
            _store(context, batch, waiting)
            _store_orphans(context, waiting)
            raise ImportRefused(f"{refusal.message} (imported before it: {context.summary.created})") from None
        _store(context, batch, waiting)
        _store_orphans(context, waiting)
    finally:
        summary.seconds = time.perf_counter() - started
        core.store.comments.published_changed(summary.threads)
    return summary


def _store(context: _Context, batch: list[ImportedComment], waiting: dict[str, list[ImportedComment]]) -> None:
    """Store a batch, then the replies that waited for a comment of it, until none is left."""
    while batch:
        outcomes = context.core.store.archive.import_comments(batch)
        ready: list[ImportedComment] = []
        for comment, outcome in zip(batch, outcomes, strict=True):
            if outcome == "no_parent":
                waiting.setdefault(comment.parent_source_id, []).append(comment)
                continue
            context.summary.threads.add(comment.thread_id)
            if outcome == "created":
                context.summary.created += 1
            else:
                context.summary.already_imported += 1
            ready += waiting.pop(comment.source_id, [])
        batch = ready


def _store_orphans(context: _Context, waiting: dict[str, list[ImportedComment]]) -> None:
    """Replies whose parent never came become top-level comments; their own replies follow them."""
    while waiting:
        waiting_ids = {comment.source_id for comments in waiting.values() for comment in comments}
        parents = [parent for parent in waiting if parent not in waiting_ids] or list(waiting)
        orphans = [_top_level(comment) for parent in parents for comment in waiting.pop(parent)]
        context.summary.orphans += len(orphans)
        for start in range(0, len(orphans), BATCH):
            _store(context, orphans[start : start + BATCH], waiting)


def _top_level(comment: ImportedComment) -> ImportedComment:
    return replace(comment, parent_source_id="")


class _CountingReader:
    """A file that tells ``progress`` how many bytes each read returned."""

    def __init__(self, stream: IO[bytes], progress: Callable[[int], None] | None):
        self.stream = stream
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.progress and data:
            self.progress(len(data))
        return data


def _records(reader: _CountingReader, depth: int) -> Iterator[Element]:
    """Each element closing at ``depth`` (the root is 1), then cleared and dropped from its
    parent, so memory holds one record at a time."""
    path: list[Element] = []
    try:
        for event, element in iterparse(reader, events=("start", "end"), forbid_dtd=False):
            if event == "start":
                path.append(element)
                continue
            path.pop()
            if len(path) == depth - 1:
                yield element
                element.clear()
                if path:
                    path[-1].remove(element)
    except DefusedXmlException as refusal:
        raise ImportRefused(
            f"refused: the file declares entities or external references ({type(refusal).__name__}); "
            "an export never needs them"
        ) from None
    except ParseError as error:
        raise ImportRefused(f"malformed XML: {error}") from None


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _text(element: Element | None, name: str) -> str:
    found = _child(element, name) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def _attribute(element: Element | None, name: str) -> str:
    if element is None:
        return ""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value.strip()
    return ""


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def _disqus_comments(reader: _CountingReader, context: _Context) -> Iterator[ImportedComment]:
    """Disqus: ``<thread dsq:id>`` records (the article URL) come before the ``<post>``s naming them."""
    articles: dict[str, str] = {}
    for record in _records(reader, depth=2):
        kind = _local(record.tag)
        if kind == "thread":
            articles[_attribute(record, "id")] = _text(record, "link")
        elif kind == "post":
            if _true(_text(record, "isDeleted")):
                context.summary.skipped["deleted"] += 1
                continue
            status = "spam" if _true(_text(record, "isSpam")) else "approved"
            if _text(record, "isApproved").lower() == "false" and status == "approved":
                status = "pending"
            author = _child(record, "author")
            post_id = _attribute(record, "id")
            thread_ref = _attribute(_child(record, "thread"), "id")
            made = _comment(
                context,
                source_id=f"disqus:{post_id}" if post_id else "",
                parent=_attribute(_child(record, "parent"), "id"),
                url=articles.get(thread_ref, ""),
                status=status,
                date=_text(record, "createdAt"),
                author=_text(author, "name") or _text(author, "username"),
                email=_text(author, "email"),
                website="",
                html_body=_text(record, "message"),
            )
            if made:
                yield made


def _wordpress_comments(reader: _CountingReader, context: _Context) -> Iterator[ImportedComment]:
    """WordPress (WXR): each ``<item>`` (a post) holds its ``<wp:comment>``s."""
    for item in _records(reader, depth=3):
        if _local(item.tag) != "item":
            continue
        url = _text(item, "link")
        for record in item:
            if _local(record.tag) != "comment":
                continue
            if _text(record, "comment_type") not in ("", "comment"):
                context.summary.skipped["pingback or trackback"] += 1
                continue
            status = _WORDPRESS_STATUS.get(_text(record, "comment_approved").lower())
            if status is None:
                context.summary.skipped["deleted"] += 1
                continue
            comment_id = _text(record, "comment_id")
            parent = _text(record, "comment_parent")
            date = _text(record, "comment_date_gmt")
            made = _comment(
                context,
                source_id=f"wordpress:{comment_id}" if comment_id else "",
                parent="" if parent in ("", "0") else parent,
                url=url,
                status=status,
                date=date if date and not date.startswith("0000") else _text(record, "comment_date"),
                author=_text(record, "comment_author"),
                email=_text(record, "comment_author_email"),
                website=_text(record, "comment_author_url"),
                html_body=_text(record, "comment_content"),
            )
            if made:
                yield made


def _comment(
    context: _Context,
    *,
    source_id: str,
    parent: str,
    url: str,
    status: str,
    date: str,
    author: str,
    email: str,
    website: str,
    html_body: str,
) -> ImportedComment | None:
    """One comment ready to store, or None (counted as skipped) when a field it needs is missing."""
    skipped = context.summary.skipped
    thread_id = context.thread_map.get(url) or thread_id_of(url)
    created_at = _timestamp(date)
    body = _plain_text(html_body)
    if not source_id:
        skipped["malformed: no id"] += 1
    elif not thread_id:
        skipped["malformed: no article URL to name the thread (give it in --map)"] += 1
    elif created_at is None:
        skipped["malformed: no valid date"] += 1
    elif not body:
        skipped["malformed: no text"] += 1
    else:
        lengths = context.core.policy.comment_lengths
        author = " ".join(author.split()) or ANONYMOUS
        if len(author) > lengths.author or len(body) > lengths.body:
            context.summary.shortened += 1
            author, body = author[: lengths.author], body[: lengths.body]
        email = email if email and context.checks.email(email) else ""
        secret = context.core.secret_key
        return ImportedComment(
            thread_id=thread_id,
            source_id=source_id,
            parent_source_id=f"{context.source}:{parent}" if parent else "",
            status=status,
            created_at=created_at,
            author=author,
            body=body,
            email=email,
            email_digest=email_digest(secret, email) if email else "",
            website=website if website and context.checks.website(website) else "",
            text_digest=text_digest(secret, body),
            links=count_links(body),
            page_url=url if url.startswith(("http://", "https://")) else "",
        )
    return None


def _timestamp(value: str) -> float | None:
    """An ISO 8601 date (UTC unless it says otherwise) as epoch seconds, or None."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _plain_text(markup: str) -> str:
    """A comment's HTML as the plain text yaynay stores: line breaks kept, tags dropped."""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", markup)))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
