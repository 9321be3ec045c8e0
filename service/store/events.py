"""Live tally changes: one Redis subscription per worker process, fanned out in-process.

The vote script publishes every change on ``Keys.tally_channel()``. Each process holds a
single ``TallyFeed``: one thread (a greenlet under gevent) reads the channel, another
flushes the latest tally of each changed poll to every stream listening to it at most
every ``interval`` seconds, so heavy voting is coalesced to a few events a second per
poll however many readers watch it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from service.store.connection import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TallyUpdate:
    poll_id: str
    version: int
    yay: int
    nay: int


def parse_update(payload: bytes) -> TallyUpdate | None:
    """Read ``"<poll id> <version> <yay> <nay>"``; None for anything else."""
    try:
        poll_id, version, yay, nay = payload.decode().split(" ")
        return TallyUpdate(poll_id, int(version), int(yay), int(nay))
    except ValueError:
        return None


class TallyFeed:
    """Fans tally changes out to per-stream queues; starts its threads on first use."""

    def __init__(self, redis, channel: str, *, interval: float = 0.25, reconnect_delay: float = 1.0):
        self.redis = redis
        self.channel = channel
        self.interval = interval
        self.reconnect_delay = reconnect_delay
        self._listeners: dict[str, set[queue.Queue]] = defaultdict(set)
        self._latest: dict[str, TallyUpdate] = {}
        self._lock = threading.Lock()
        self._started = False
        self.subscribed = threading.Event()

    def listen(self, poll_id: str, *, wait: float = 2.0) -> queue.Queue:
        """A queue that receives the poll's TallyUpdates until ``forget`` is called.

        Returns once the process's subscription is confirmed by Redis (or after ``wait``
        seconds), so a tally read after this call misses no later change.
        """
        self._start()
        inbox: queue.Queue = queue.Queue(maxsize=64)
        with self._lock:
            self._listeners[poll_id].add(inbox)
        self.subscribed.wait(wait)
        return inbox

    def forget(self, poll_id: str, inbox: queue.Queue) -> None:
        with self._lock:
            listeners = self._listeners.get(poll_id)
            if listeners is not None:
                listeners.discard(inbox)
                if not listeners:
                    del self._listeners[poll_id]

    @property
    def stream_count(self) -> int:
        with self._lock:
            return sum(len(listeners) for listeners in self._listeners.values())

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._read_channel, name="yaynay-tally-feed", daemon=True).start()
        threading.Thread(target=self._flush, name="yaynay-tally-flush", daemon=True).start()

    def _read_channel(self) -> None:
        """Keep one subscription open, reconnecting after Redis outages."""
        while True:
            pubsub = self.redis.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "subscribe":
                        self.subscribed.set()  # Redis confirmed: from now on nothing is missed
                    elif message and message["type"] == "message":
                        update = parse_update(message["data"])
                        if update is not None:
                            with self._lock:
                                self._latest[update.poll_id] = update
            except UNAVAILABLE_ERRORS:
                self.subscribed.clear()
                log.warning("tally feed lost Redis; reconnecting in %s s", self.reconnect_delay)
                time.sleep(self.reconnect_delay)
            finally:
                with contextlib.suppress(UNAVAILABLE_ERRORS):
                    pubsub.close()

    def _flush(self) -> None:
        """Every ``interval``, hand each listener the newest tally of its poll, if it changed."""
        while True:
            time.sleep(self.interval)
            with self._lock:
                latest, self._latest = self._latest, {}
                deliveries = [(update, list(self._listeners.get(poll_id, ())))
                              for poll_id, update in latest.items()]
            for update, inboxes in deliveries:
                for inbox in inboxes:
                    # A stalled reader misses updates; it never blocks the others.
                    with contextlib.suppress(queue.Full):
                        inbox.put_nowait(update)
