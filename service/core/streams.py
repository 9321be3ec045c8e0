"""The connection budget of live tally streams: how many one client and one worker may hold.

A stream is one long-lived connection to one worker process, so each worker counts its
own, in memory: nothing is shared, nothing is left behind in Redis when a worker dies,
and the count costs no round trip. The per-client cap is therefore per worker too: with
W workers one address may hold up to W x ``per_client`` streams in all, still a small
share of the W x ``per_worker`` the service holds. The worker cap leaves headroom under
gunicorn's ``worker_connections``, so ordinary requests are always answered.
"""

from __future__ import annotations

import threading
from collections import Counter

from service.errors import TooManyStreams

# Seconds a refused client is told to wait: streams are long-lived, so a place frees
# slowly; the widget polls meanwhile and does not come back to the stream by itself.
STREAM_RETRY_AFTER = 30


class StreamBudget:
    """Counts this worker's live streams, in all and by client address, and refuses one over a cap."""

    def __init__(self, per_client: int, per_worker: int):
        self.per_client = per_client
        self.per_worker = per_worker
        self._by_client: Counter[str] = Counter()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Streams this worker holds now."""
        return self._total

    def held_by(self, client_ip: str) -> int:
        """Streams this worker holds now for ``client_ip``."""
        return self._by_client[client_ip]

    def refusal(self, client_ip: str) -> TooManyStreams | None:
        """The refusal one more stream for ``client_ip`` would get now, or None if it fits."""
        if self._total >= self.per_worker:
            return TooManyStreams(
                "This server holds as many live streams as it can; poll the tally instead.",
                retry_after=STREAM_RETRY_AFTER,
            )
        if self._by_client.get(client_ip, 0) >= self.per_client:
            return TooManyStreams(
                "Too many live streams from your address; poll the tally instead.", retry_after=STREAM_RETRY_AFTER
            )
        return None

    def acquire(self, client_ip: str) -> None:
        """Count one more stream for ``client_ip``, or raise TooManyStreams over a cap.

        Every successful call must be paired with one ``release``.
        """
        with self._lock:
            refused = self.refusal(client_ip)
            if refused is not None:
                raise refused
            self._by_client[client_ip] += 1
            self._total += 1

    def release(self, client_ip: str) -> None:
        """Forget one stream of ``client_ip`` (it ended)."""
        with self._lock:
            self._total -= 1
            self._by_client[client_ip] -= 1
            if self._by_client[client_ip] <= 0:
                del self._by_client[client_ip]
