"""Every metric yaynay exports at ``GET /metrics``, in one table (Prometheus, via prometheus_client).

A plain module: it imports prometheus_client alone, so the core and the store count
what only they see (votes, comments, Redis errors, cache hits) without knowing HTTP.
Under gunicorn, ``service/gunicorn_conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker imports this module, so each worker writes its samples to files there and a
scrape of any worker adds up all of them (``multiprocess`` mode). Without it (tests,
the CLI) the metrics simply live in the process.

Labels take only a handful of values each: a route is a URL rule (``/api/v1/polls/<poll_id>``),
never a path, and reasons are exception class names. Counting costs about a microsecond
an increment, so the vote path pays two: its outcome and its request.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets for calls that normally take a millisecond or two and a Redis timeout (0.5 s) at worst.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter(
    "yaynay_requests", "HTTP requests answered, by route (URL rule), method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "yaynay_request_duration_seconds",
    "Time to answer the hot requests: vote, tally (a poll read) and comment (a comment post).",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
VOTES = Counter("yaynay_votes", "Votes by outcome: cast (new), changed, repeated (no change).", ["outcome"])
VOTES_REFUSED = Counter("yaynay_votes_refused", "Votes refused, by reason (the refusal's name).", ["reason"])
COMMENTS = Counter(
    "yaynay_comments",
    "Comments submitted, by outcome: pending, approved, rejected or spam (the spam tools), repeated (a retry),"
    " dropped (honeypot), or the refusal's name.",
    ["outcome"],
)
SPAM_TOOLS = Counter(
    "yaynay_spam_tools",
    "New comments a spam tool decided, by tool: banned, blocklist, content_check, content_check_failed, surge,"
    " trusted.",
    ["tool"],
)
RATE_LIMITED = Counter("yaynay_rate_limited", "Requests refused with 429, by the limit that refused them.", ["limit"])
UNAVAILABLE = Counter("yaynay_unavailable", "Requests answered 503 because Redis was unavailable.")
REDIS_ERRORS = Counter("yaynay_redis_errors", "Redis calls that failed: connection lost, timeout, cluster down.")
REDIS_RECONNECTS = Counter(
    "yaynay_redis_reconnects", "Times the change feed subscribed to Redis again after losing it."
)
WEBHOOK_DELIVERIES = Counter(
    "yaynay_webhook_deliveries", "Webhook delivery attempts by outcome: delivered, failed.", ["outcome"]
)
WEBHOOKS_DISABLED = Counter("yaynay_webhooks_disabled", "Webhook endpoints disabled after failing for a day.")
MAIL_SENT = Counter("yaynay_mail_sent", "Mails to moderators by kind (digest, surge) and outcome.", ["kind", "outcome"])
STREAMS_OPEN = Gauge("yaynay_streams_open", "Live tally streams open now.", multiprocess_mode="livesum")
READ_CACHE = Counter(
    "yaynay_read_cache", "Public reads served from a worker's memory (hit) or Redis (miss).", ["result"]
)

# Bound once: the hot paths skip ``labels()``, which validates and locks (measured in
# multiprocess mode on the 2-core dev box: a bound increment 1.4 us, ``labels().inc()`` 9 us,
# a bound histogram observation 5 us, so a vote pays about 8 us for its three counts).
VOTE_CAST, VOTE_CHANGED, VOTE_REPEATED = (VOTES.labels(outcome) for outcome in ("cast", "changed", "repeated"))
CACHE_HIT, CACHE_MISS = READ_CACHE.labels("hit"), READ_CACHE.labels("miss")
HOT_LATENCY = {operation: LATENCY.labels(operation) for operation in ("vote", "tally", "comment")}
_request_counters: dict[tuple[str, str, int], Any] = {}


def count_request(route: str, method: str, status: int) -> None:
    """One request answered; the counter of each (route, method, status) is bound on first use."""
    counter = _request_counters.get((route, method, status))
    if counter is None:
        counter = _request_counters[(route, method, status)] = REQUESTS.labels(route, method, status)
    counter.inc()


def is_multiprocess() -> bool:
    """True under gunicorn: every worker writes its samples to PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get(MULTIPROCESS_VARIABLE))


def scrape_registry() -> CollectorRegistry:
    """The registry a scrape reads: every worker's files in multiprocess mode, else this process's."""
    if is_multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY
