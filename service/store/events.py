"""Changes, as Redis announces them: one sharded subscription per id a worker serves, used twice.

The vote script SPUBLISHes every new tally on the poll's ``Keys.change_channel(poll id)``
as ``"<poll id> <version> <yay> <nay>"``; poll settings and comment writes publish the
bare poll or thread id on its channel. Each process holds a single ``ChangeFeed``, which
subscribes to the ids it serves (``subscriptions.py``); a reading thread (a greenlet
under gevent) per Redis master

- marks the id changed in the process's ``ReadCache`` at once (``cache.py``), and
- for tallies, another thread flushes the latest tally of each changed poll to every
  live stream listening to it at most every ``interval`` seconds, so heavy voting is
  coalesced to a few events a second per poll however many readers watch it.

The same flush thread notices streams whose client has gone. A gone client is otherwise
seen only when a write fails, which takes two keep-alive writes (the first lands in the
kernel's buffer), so 30 s at the default keep-alive: long enough for one client that
opens and drops streams in a loop to fill a worker. Every ``liveness_interval`` seconds
one non-blocking ``poll()`` over all the streams' sockets asks the kernel which peers
have hung up (``POLLRDHUP``/``POLLHUP``/``POLLERR``), without writing or waking the
streams that are still there; the gone ones are woken and end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from service import metrics
from service.errors import StoreUnavailable
from service.store.cache import ReadCache
from service.store.connection import UNAVAILABLE_ERRORS
from service.store.subscriptions import ShardedSubscriber

log = logging.getLogger(__name__)

# A peer that closed (FIN), reset (RST) or errored; POLLRDHUP is Linux's, absent elsewhere.
HUNG_UP = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR


def _original_poll() -> type:
    """The operating system's poll(): gevent's monkey patching removes select.poll, and a
    zero-timeout poll never blocks, so the original is safe to call from a greenlet."""
    try:
        from gevent import monkey

        return monkey.get_original("select", "poll")
    except (ImportError, AttributeError):
        return select.poll


@dataclass(frozen=True)
class TallyUpdate:
    poll_id: str
    version: int
    yay: int
    nay: int


def parse_change(payload: bytes) -> TallyUpdate | str | None:
    """A TallyUpdate for ``"<poll id> <version> <yay> <nay>"``, the id for a bare id, else None."""
    try:
        parts = payload.decode().split(" ")
        if len(parts) == 1:
            return parts[0] or None
        poll_id, version, yay, nay = parts
        return TallyUpdate(poll_id, int(version), int(yay), int(nay))
    except ValueError:
        return None


class Inbox:
    """What one live stream waits on: the newest tally of its poll, or a keep-alive nudge.

    Streams only ever need the newest tally, so there is no queue: a later update
    replaces an unread one. One gevent Event and a few slots, because a worker holds
    thousands of these (a queue.Queue and its timed wait cost about 3 KiB more each).
    """

    __slots__ = ("update", "ready", "fileno", "gone", "closed")

    def __init__(self, fileno: int = -1):
        self.update: TallyUpdate | None = None
        self.ready = threading.Event()
        self.fileno = fileno  # the stream's socket, watched for a client that left; -1: unknown
        self.gone = False  # set once that client has hung up: the stream should end
        self.closed = False  # the server is stopping: the stream should end

    def close(self) -> None:
        """Wake the stream for good: the worker is shutting down."""
        self.closed = True
        self.ready.set()

    def put(self, update: TallyUpdate | None) -> None:
        """Hand over ``update`` (None: only wake the stream for a keep-alive)."""
        if update is not None:
            self.update = update
        self.ready.set()

    def wait(self) -> TallyUpdate | None:
        """Block until woken; the newest unread update, or None for a keep-alive."""
        self.ready.wait()
        self.ready.clear()
        update, self.update = self.update, None
        return update


KEEP_ALIVE = b": keep-alive\n\n"


class AdoptedStream:
    """A live stream whose socket the feed writes to itself, with no greenlet waiting on it.

    Under gunicorn's gevent worker a stream's greenlet, its Python frames, gunicorn's request
    objects and the WSGI environ cost most of a stream's memory while it idles (about 20 KiB
    a stream, see the README's Performance); once the response head and the opening tally
    are written, the view hands the connection (a duplicate of its file descriptor) to the
    feed, and the greenlet ends. Events are then written by the flush thread with one
    non-blocking write each: a client so far behind that its socket buffer is full is
    closed, and reconnects with Last-Event-ID.
    """

    __slots__ = ("poll_id", "fileno", "sent", "render", "on_end", "gone")

    def __init__(
        self, poll_id: str, fileno: int, sent: int, render: Callable[[TallyUpdate], bytes], on_end: Callable[[], None]
    ):
        self.poll_id = poll_id
        self.fileno = fileno
        self.sent = sent  # the tally version the client has
        self.render = render  # a TallyUpdate as the event's bytes
        self.on_end = on_end
        self.gone = False


class ChangeFeed:
    """Keeps the process's ReadCache fresh and fans tally changes out to live streams.

    Subscribes (``subscriptions.py``) to the change channel of each poll or thread id this
    process holds a live stream or a cached answer for, and lets an id go once it has had
    neither for ``idle`` seconds: the cache's ttl, past which no entry of it is served.
    Starts its threads on first use: the first cached read or the first stream.
    """

    # How often idle subscriptions are looked for: a pass walks every subscribed id.
    RELEASE_EVERY = 1.0

    def __init__(
        self,
        redis,
        channel_of: Callable[[str], str],
        *,
        tally_of: Callable[[str], TallyUpdate | None] = lambda poll_id: None,
        interval: float = 0.25,
        reconnect_delay: float = 1.0,
        cache_ttl: float = 5.0,
        keepalive: float = 15.0,
        liveness_interval: float = 1.0,
    ):
        self.interval = interval
        self.keepalive = keepalive
        self.liveness_interval = liveness_interval
        self.idle = cache_ttl
        self._listeners: dict[str, set[Inbox | AdoptedStream]] = defaultdict(set)
        self._latest: dict[str, TallyUpdate] = {}
        self._lock = threading.Lock()
        self._started = False
        self._stopped = threading.Event()
        self._closing = False
        self.received = 0  # change messages this process has decoded (the benchmark counts them)
        self.tally_of = tally_of
        self._resumed: set[str] = set()
        self.subscriptions = ShardedSubscriber(
            redis, channel_of, self._receive, on_resumed=self._resumed.add, reconnect_delay=reconnect_delay
        )
        self.cache = ReadCache(ttl=cache_ttl, watch=self.watch)

    def watch(self, tag: str) -> float | None:
        """Subscribe to ``tag``'s changes if not yet done; since when (monotonic clock) they
        are confirmed, or None: only a cached entry loaded after that may be served."""
        if not self._started:
            self._start()
        return self.subscriptions.want(tag)

    def is_live(self, tag: str) -> bool:
        """True while ``tag``'s subscription is confirmed (subscribing if need be)."""
        return self.watch(tag) is not None

    def stop(self) -> None:
        """End the threads within about a second (tests; a worker simply exits)."""
        self._stopped.set()
        self.subscriptions.stop()

    def close_streams(self) -> None:
        """End every live stream now and any opened later: the worker is shutting down, and
        gunicorn would otherwise wait out its graceful timeout for streams that never end."""
        with self._lock:
            self._closing = True
            inboxes = [inbox for listeners in self._listeners.values() for inbox in listeners]
        for inbox in inboxes:
            if isinstance(inbox, AdoptedStream):
                self._end(inbox)
            else:
                inbox.close()

    def listen(self, poll_id: str, *, wait: float = 2.0, fileno: int = -1) -> Inbox:
        """An Inbox that receives the poll's TallyUpdates, and a nudge every ``keepalive``
        seconds, until ``forget`` is called; with the stream's socket ``fileno``, also a
        nudge with ``gone`` set within about ``liveness_interval`` seconds of its client
        hanging up.

        Returns once the poll's subscription is confirmed by Redis (or after ``wait``
        seconds), so a tally read after this call misses no later change.
        """
        self._start()
        inbox = Inbox(fileno)
        with self._lock:
            self._listeners[poll_id].add(inbox)
            if self._closing:
                inbox.close()
        metrics.STREAMS_OPEN.inc()
        self.subscriptions.want(poll_id)
        self.subscriptions.wait_live(poll_id, wait)
        return inbox

    def adopt(
        self,
        poll_id: str,
        inbox: Inbox,
        fileno: int,
        *,
        sent: int,
        render: Callable[[TallyUpdate], bytes],
        on_end: Callable[[], None],
    ) -> None:
        """Write the poll's events to the socket ``fileno`` (now the feed's to close) in place of
        ``inbox``'s stream; ``on_end`` runs once it is closed (the client left, fell behind, or
        the worker stops). The client has the tally of version ``sent``."""
        os.set_blocking(fileno, False)
        adopted = AdoptedStream(poll_id, fileno, sent, render, on_end)
        with self._lock:
            listeners = self._listeners[poll_id]
            listeners.discard(inbox)
            listeners.add(adopted)
            closing = self._closing
        if closing:
            self._end(adopted)

    def _write(self, stream: AdoptedStream, data: bytes) -> None:
        try:
            written = os.write(stream.fileno, data)
        except OSError:  # the client left (EPIPE, ECONNRESET) or is too far behind (EAGAIN)
            written = -1
        if written != len(data):
            self._end(stream)

    def _end(self, stream: AdoptedStream) -> None:
        """Close an adopted stream's socket and free its place (once)."""
        with self._lock:
            listeners = self._listeners.get(stream.poll_id)
            if listeners is None or stream not in listeners:
                return
            listeners.discard(stream)
            if not listeners:
                del self._listeners[stream.poll_id]
        with contextlib.suppress(OSError):
            os.close(stream.fileno)
        metrics.STREAMS_OPEN.dec()
        stream.on_end()

    def forget(self, poll_id: str, inbox: Inbox) -> None:
        """Stop delivering to ``inbox`` (its stream ended)."""
        metrics.STREAMS_OPEN.dec()
        with self._lock:
            listeners = self._listeners.get(poll_id)
            if listeners is not None:
                listeners.discard(inbox)
                if not listeners:
                    del self._listeners[poll_id]

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._flush, name="yaynay-tally-flush", daemon=True).start()

    def _receive(self, tag: str, payload: bytes) -> None:
        """A message on ``tag``'s channel (called by a subscription's reading thread)."""
        self.received += 1
        self._apply(parse_change(payload))

    def _apply(self, change: TallyUpdate | str | None) -> None:
        if isinstance(change, TallyUpdate):
            self.cache.changed(change.poll_id)
            with self._lock:
                self._latest[change.poll_id] = change
        elif change is not None:
            self.cache.changed(change)

    def _flush(self) -> None:
        """Every ``interval``, hand each listener the newest tally of its poll, if it changed;
        every ``keepalive`` seconds, nudge every listener (one timer, not one a stream);
        every ``liveness_interval`` seconds, wake the listeners whose client has gone; every
        second, unsubscribe from ids without streams that nobody read for ``idle`` seconds."""
        next_nudge = time.monotonic() + self.keepalive
        next_check = time.monotonic() + self.liveness_interval
        next_release = time.monotonic() + self.RELEASE_EVERY
        while not self._stopped.is_set():
            time.sleep(self.interval)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.liveness_interval
                self._release_gone()
            if self._resumed:
                self._catch_up()
            if time.monotonic() >= next_release:
                next_release = time.monotonic() + self.RELEASE_EVERY
                with self._lock:
                    streamed = set(self._listeners)
                self.subscriptions.release_idle(streamed, self.idle)
            nudge = time.monotonic() >= next_nudge
            with self._lock:
                latest, self._latest = self._latest, {}
                if nudge:
                    next_nudge = time.monotonic() + self.keepalive
                    deliveries = [(latest.get(poll_id), list(inboxes)) for poll_id, inboxes in self._listeners.items()]
                else:
                    deliveries = [
                        (update, list(self._listeners.get(poll_id, ()))) for poll_id, update in latest.items()
                    ]
            for update, inboxes in deliveries:
                rendered = None
                for inbox in inboxes:
                    if not isinstance(inbox, AdoptedStream):
                        inbox.put(update)
                    elif update is None:
                        self._write(inbox, KEEP_ALIVE)
                    elif update.version > inbox.sent:
                        rendered = rendered or inbox.render(update)  # once for all of the poll's streams
                        inbox.sent = update.version
                        self._write(inbox, rendered)

    def _catch_up(self) -> None:
        """Read again the tally of each streamed poll whose subscription came back: a vote made
        while it was down (a failover) was never heard, and the poll may have gone quiet since."""
        resumed, self._resumed = self._resumed, set()
        for poll_id in resumed:
            if poll_id in self._listeners:
                with contextlib.suppress(StoreUnavailable, *UNAVAILABLE_ERRORS):
                    self._apply(self.tally_of(poll_id))

    def _release_gone(self) -> None:
        """Wake, with ``gone`` set, every listener whose socket's peer has hung up.

        One poll() system call for all of them, with its registrations: measured at 4 ms for
        4,000 sockets on a busy 2-core machine, so 0.4 % of a core at one sweep a second, and
        it wakes nobody who is still there.
        """
        with self._lock:
            watched = {
                inbox.fileno: inbox for inboxes in self._listeners.values() for inbox in inboxes if inbox.fileno >= 0
            }
        if not watched:
            return
        poller = _original_poll()()
        for fileno in watched:
            poller.register(fileno, HUNG_UP)
        try:
            events = poller.poll(0)
        except OSError:  # a socket closed meanwhile; the next sweep sees the rest
            return
        for fileno, event in events:
            if event & HUNG_UP and fileno in watched:
                inbox = watched[fileno]
                inbox.gone = True
                if isinstance(inbox, AdoptedStream):
                    self._end(inbox)
                else:
                    inbox.put(None)
