"""Comment threads as moderators list them: counts by status and the article each belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.core import Core
from service.store.comments import STATUSES, Comment, ThreadSummary

__all__ = ["STATUSES", "Context", "ThreadPage", "ThreadSummary", "context_of", "list_threads"]


@dataclass(frozen=True)
class ThreadPage:
    """One page of threads, newest first, the next page's cursor (None at the end), and how many exist."""

    threads: list[ThreadSummary]
    next_cursor: str | None
    total: int


def list_threads(core: Core, *, limit: int, cursor: str | None = None) -> ThreadPage:
    """Threads newest first (by first comment), each with its comments counted by status;
    ``cursor`` is the previous page's ``next_cursor``: the last thread's place, so a page
    costs the same at any depth and a thread started meanwhile shifts nothing."""
    found, next_cursor, total = core.store.comments.thread_page(cursor=cursor, limit=limit)
    return ThreadPage(found, next_cursor, total)


@dataclass(frozen=True)
class Context:
    """What a moderator reads beside queued comments: the comments they reply to, and each
    thread's article URL."""

    parents: dict[str, Comment]
    page_urls: dict[str, str | None]


def context_of(core: Core, comments: Sequence[Comment]) -> Context:
    """The parents (when still stored) and article URLs of ``comments``, in two round trips."""
    parent_ids = list(dict.fromkeys(comment.parent_id for comment in comments if comment.parent_id))
    parents = {parent.id: parent for parent in core.store.comments.load(parent_ids)}
    thread_ids = list(dict.fromkeys(comment.thread_id for comment in comments))
    return Context(parents, core.store.comments.page_urls(thread_ids) if thread_ids else {})
