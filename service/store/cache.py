"""A per-process cache of public reads, kept fresh by the change feed.

Tallies and published comments are read far more often than they change, and every
change is announced on the id's change channel (``events.py``): the vote script publishes
each new tally, and poll and comment writes publish the id they touched. Each worker
process therefore keeps what it last read (the rendered answer, typically) and drops it
the moment a change to its id arrives, so a read costs Redis nothing until something
changes.

Staleness bound: an entry is served only while the process's subscription to its id's
channel is confirmed by Redis (``watch``, which also subscribes on first use), only if it
was loaded after that confirmation (messages sent while unsubscribed are lost), and for
at most ``ttl`` seconds after it was loaded; a change makes it stale as soon as its
message reaches the process (well under a millisecond on one host). A load that was
under way when a change arrived is not kept. An id whose subscription is down (its
Redis Cluster master is failing over, say) is read from Redis every time; other ids are
not affected.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from service import metrics


@dataclass(frozen=True)
class _Entry:
    value: Any
    tag: str
    loaded_at: float


class ReadCache:
    """Values by key, each tagged with the poll or thread id whose changes make it stale."""

    def __init__(
        self,
        *,
        ttl: float = 5.0,
        max_entries: int = 10_000,
        watch: Callable[[str], float | None] = lambda tag: float("-inf"),
        clock: Callable[[], float] = time.monotonic,
    ):
        """``watch(tag)`` subscribes to the tag's changes if not yet done and answers since
        when (``clock``) the subscription is confirmed, or None while it is not."""
        self.ttl = ttl
        self.max_entries = max_entries
        self.watch = watch
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        # tag -> when it last changed, oldest first; kept for ttl seconds, which covers
        # every entry that could still be served.
        self._changed: OrderedDict[str, float] = OrderedDict()
        self._cleared_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, key: Hashable, tag: str) -> Any | None:
        """The cached value, or None when there is none or it may be stale."""
        live_since = self.watch(tag) if self.ttl > 0 else None
        entry = self._entries.get(key) if live_since is not None else None
        if (
            entry is None
            or live_since is None
            or entry.loaded_at < live_since
            or self.clock() - entry.loaded_at >= self.ttl
            or entry.loaded_at <= self._cleared_at
            or entry.loaded_at <= self._changed.get(tag, float("-inf"))
        ):
            metrics.CACHE_MISS.inc()
            return None
        metrics.CACHE_HIT.inc()
        return entry.value

    def load(self, key: Hashable, tag: str, loader: Callable[[], Any]) -> Any:
        """The cached value, else ``refresh``'s."""
        value = self.get(key, tag)
        return value if value is not None else self.refresh(key, tag, loader)

    def refresh(self, key: Hashable, tag: str, loader: Callable[[], Any]) -> Any:
        """``loader()``'s value, kept unless ``tag`` changed meanwhile (None is not kept)."""
        live = self.ttl > 0 and self.watch(tag) is not None
        started = self.clock()
        value = loader()
        if value is not None and live:
            self.put(key, tag, value, loaded_at=started)
        return value

    def put(self, key: Hashable, tag: str, value: Any, *, loaded_at: float) -> None:
        """Keep ``value``, read from Redis at ``loaded_at`` (taken before the read began)."""
        with self._lock:
            self._entries[key] = _Entry(value, tag, loaded_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def changed(self, tag: str) -> None:
        """Everything tagged ``tag`` is stale from now on."""
        at = self.clock()
        with self._lock:
            self._changed[tag] = at
            self._changed.move_to_end(tag)
            while self._changed and next(iter(self._changed.values())) < at - self.ttl:
                self._changed.popitem(last=False)

    def clear(self) -> None:
        """Everything is stale from now on (messages may have been missed)."""
        with self._lock:
            self._cleared_at = self.clock()
            self._entries.clear()
