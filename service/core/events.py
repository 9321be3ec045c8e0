"""Events the core emits, and their delivery to webhook endpoints and moderators' mail.

``emit(core, type, data)`` is the one hook point: it reads the subscribed endpoints (one
round trip) and, only when some subscribe, keeps the message and enqueues one RQ job per
endpoint; nothing waits for a delivery. ``yaynay worker`` runs the jobs: ``deliver``
signs and posts one message to one endpoint, retrying with backoff for a day.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from service import metrics
from service.core import Core
from service.errors import InvalidInput, WebhookNotFound, WebhookUrlRefused
from service.store.webhooks import Attempt, Endpoint

__all__ = ["EVENTS", "FORMATS", "Attempt", "Endpoint", "emit"]

log = logging.getLogger(__name__)

EVENTS = ("comment.submitted", "comment.decided", "comment.surge", "poll.created", "poll.closed")
FORMATS = ("standard", "slack")
# Fields only an endpoint marked private receives: personal data.
PERSONAL = ("email", "ip_digest")
# Seconds before each retry: the first within 10 s, then spread so the last falls just past
# a day after the first attempt (the Standard Webhooks schedule, roughly).
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
GIVE_UP_AFTER = 86400
RECEIVER_TIMEOUT = 10

# The core of the worker process: jobs run in it (set by ``run_worker``).
_worker_core: Core | None = None


# -- emitting ----------------------------------------------------------------------------


def emit(
    core: Core, event_type: str, data: Mapping[str, Any], *, known: Sequence[Endpoint] | None = None
) -> str | None:
    """Queue ``data`` as an event for every endpoint subscribed to ``event_type``; the
    message id, or None when none subscribes (then nothing is stored). ``known``: the
    endpoints, when the caller has just read them."""
    every = core.store.webhooks.endpoints() if known is None else known
    endpoints = [endpoint for endpoint in every if endpoint.listens_to(event_type)]
    if not endpoints:
        return None
    message_id = f"msg_{secrets.token_hex(12)}"
    at = core.now()
    core.store.webhooks.keep_message(message_id, {"type": event_type, "timestamp": at, "data": dict(data)})
    for endpoint in endpoints:
        core.store.jobs.enqueue(deliver, endpoint.id, message_id, 0, at)
    return message_id


def comment_submitted(
    core: Core, comment: Mapping[str, Any], *, submitted: int | None = None, endpoint_count: int | None = None
) -> None:
    """A new comment was stored: ``comment.submitted``, and ``comment.surge`` (with a mail
    to moderators) for the comment that takes the hour's count past the surge level.
    ``submitted`` (the hour's count) and ``endpoint_count``: when the write told them."""
    now = core.now()
    if submitted is not None and endpoint_count == 0:
        # The write told both: nothing to read when nothing subscribes (no round trip).
        endpoints: list[Endpoint] = []
    else:
        # One round trip when nothing subscribes and no surge: the endpoints and the hour's count.
        endpoints, submitted = core.store.webhooks.endpoints_and_hour_count(now)
    emit(core, "comment.submitted", comment, known=endpoints)
    if comment["status"] != "pending":
        return
    level = core.policy.comment_limits.surge_per_hour
    hour = int(now // 3600)
    if submitted > level and core.store.webhooks.claim(core.store.keys.mail_guard(f"surge:{hour}"), 7200):
        surge = {"hour_started_at": hour * 3600, "submitted_this_hour": submitted, "level": level}
        emit(core, "comment.surge", surge, known=endpoints)
        if core.store.webhooks.subscribers():
            from service.core import mail

            core.store.jobs.enqueue(mail.send_surge_mail, surge)


def schedule_once(core: Core, what: str, job: Callable[[], None], delay: float) -> bool:
    """Run ``job`` in a worker ``delay`` seconds from now unless a job of that name (``what``)
    is scheduled already: a guard key, so however many workers start, one is pending.
    True when scheduled; the job releases the guard (``release_schedule``) when it runs."""
    # The guard outlives the job's due time a little, so a lost job is replaced at the next start.
    if not core.store.webhooks.claim(core.store.keys.mail_guard(what), int(delay) + 300):
        return False
    core.store.jobs.enqueue(job, delay=delay)
    return True


def release_schedule(core: Core, what: str) -> None:
    """Let ``schedule_once`` schedule the job named ``what`` again."""
    core.store.webhooks.release(core.store.keys.mail_guard(what))


# -- managing endpoints --------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def check_url(core: Core, url: str) -> None:
    """Refuse a URL that is not http(s) with a host (InvalidInput), or whose host does not
    resolve or resolves to a loopback, private or link-local address unless
    WEBHOOK_ALLOW_PRIVATE (WebhookUrlRefused)."""
    if not core.policy.notifying.allow_private_webhooks:
        checked_address(core, url)
    elif not _is_web_url(url):
        raise _refuse("url", "Must be an http:// or https:// URL with a host.")


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def checked_address(core: Core, url: str) -> str:
    """Resolve the URL's host and return the address to connect to, refusing as ``check_url``
    does. A delivery connects to this very address, so a name that resolves to a public
    address when checked and to a local one a moment later (DNS rebinding) reaches nothing."""
    if not _is_web_url(url):
        raise _refuse("url", "Must be an http:// or https:// URL with a host.")
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise WebhookUrlRefused(f"The host {parts.hostname!r} does not resolve.") from None
    addresses = [str(info[4][0]) for info in found]
    if not core.policy.notifying.allow_private_webhooks:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
                raise WebhookUrlRefused(f"The host resolves to {ip}, a local address (see WEBHOOK_ALLOW_PRIVATE).")
    return addresses[0]


def _check_events(events: list[str]) -> tuple[str, ...]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise _refuse("events", f"Name one or more of {', '.join(EVENTS)}.")
    return tuple(dict.fromkeys(events))


def add_endpoint(
    core: Core, url: str, events: list[str], *, format: str = "standard", private: bool = False
) -> Endpoint:
    """Register an endpoint with a new secret; raises InvalidInput for a URL or event refused."""
    check_url(core, url)
    endpoint = Endpoint(
        id=f"wh_{secrets.token_hex(8)}",
        url=url,
        events=_check_events(events),
        secret=new_secret(),
        format=format,
        private=private,
        created_at=core.now(),
    )
    core.store.webhooks.save(endpoint)
    return endpoint


def get_endpoint(core: Core, endpoint_id: str) -> Endpoint:
    """The endpoint; raises WebhookNotFound."""
    endpoint = core.store.webhooks.endpoint(endpoint_id)
    if endpoint is None:
        raise WebhookNotFound(endpoint_id)
    return endpoint


def list_endpoints(core: Core) -> list[Endpoint]:
    """Every endpoint, oldest first."""
    return core.store.webhooks.endpoints()


def update_endpoint(core: Core, endpoint_id: str, changes: Mapping[str, Any]) -> Endpoint:
    """Change url, events, format, private or disabled (re-enabling clears the failure clock)."""
    endpoint = get_endpoint(core, endpoint_id)
    if "url" in changes:
        check_url(core, changes["url"])
    if "events" in changes:
        changes = {**changes, "events": _check_events(changes["events"])}
    if changes.get("disabled") is False:
        changes = {**changes, "failing_since": None}
    updated = Endpoint(**{**endpoint.__dict__, **changes})
    core.store.webhooks.save(updated)
    return updated


def remove_endpoint(core: Core, endpoint_id: str) -> None:
    """Forget the endpoint and its attempts; raises WebhookNotFound."""
    if not core.store.webhooks.delete(endpoint_id):
        raise WebhookNotFound(endpoint_id)


def attempts(core: Core, endpoint_id: str) -> list[Attempt]:
    """The endpoint's latest delivery attempts, newest first; raises WebhookNotFound."""
    get_endpoint(core, endpoint_id)
    return core.store.webhooks.attempts(endpoint_id)


def redeliver(core: Core, endpoint_id: str, message_id: str) -> None:
    """Queue the message to the endpoint again now; raises WebhookNotFound (or for an expired message)."""
    get_endpoint(core, endpoint_id)
    if core.store.webhooks.message(message_id) is None:
        raise WebhookNotFound(endpoint_id, message_id)
    core.store.jobs.enqueue(deliver, endpoint_id, message_id, 0, core.now())


# -- delivering (in the worker) ------------------------------------------------------------


def worker_core() -> Core:
    """The worker's core (``run_worker`` sets it before any job runs)."""
    if _worker_core is None:
        raise RuntimeError("jobs run in `yaynay worker`, which sets up the core first")
    return _worker_core


def set_worker_core(core: Core | None) -> None:
    """Make ``core`` the one jobs of this process use (the worker, or a test)."""
    global _worker_core
    _worker_core = core


def body_for(endpoint: Endpoint, message: Mapping[str, Any], public_url: str = "") -> bytes:
    """What the endpoint receives: the event without personal data unless private; Slack: ``text``."""
    data = dict(message["data"])
    if not endpoint.private:
        for name in PERSONAL:
            data.pop(name, None)
    when = dt.datetime.fromtimestamp(message["timestamp"], dt.timezone.utc)
    if endpoint.format == "slack":
        return json.dumps({"text": slack_text(message["type"], data, public_url)}).encode()
    return json.dumps({"type": message["type"], "timestamp": when.isoformat(), "data": data}).encode()


def slack_text(event_type: str, data: Mapping[str, Any], public_url: str) -> str:
    """One line a person reads in a chat channel."""
    console = f"{public_url}/moderate"
    if event_type == "comment.submitted":
        excerpt = str(data.get("body", ""))[:200]
        where = f"{data.get('thread_id')} ({data.get('status')})"
        return f"New comment by {data.get('author')} on {where}: {excerpt} — {console}"
    if event_type == "comment.decided":
        return f"Comment {data.get('id')} {data.get('action')} by {data.get('moderator')}."
    if event_type == "comment.surge":
        count, level = data.get("submitted_this_hour"), data.get("level")
        return f"Comment surge: {count} comments this hour (level {level}) — {console}"
    if event_type == "poll.created":
        return f"New poll {data.get('id')}: {data.get('question')}"
    return f"Poll {data.get('id')} closed: {data.get('tally')}"


def deliver(endpoint_id: str, message_id: str, attempt: int, first_at: float) -> None:
    """RQ job: sign and POST one message to one endpoint; on failure, schedule the next try
    until a day has passed since the first, then disable an endpoint failing for a day."""
    core = worker_core()
    endpoint = core.store.webhooks.endpoint(endpoint_id)
    message = core.store.webhooks.message(message_id)
    if endpoint is None or endpoint.disabled or message is None:
        return
    now = core.now()
    status, error, latency = _post(core, endpoint, message_id, message, now)
    core.store.webhooks.record_attempt(
        endpoint_id, Attempt(message_id, message["type"], attempt, now, status, latency, error)
    )
    if status is not None and 200 <= status < 300:
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        if endpoint.failing_since is not None:
            core.store.webhooks.mark(endpoint_id, failing_since=None)
        return
    metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
    failing_since = endpoint.failing_since if endpoint.failing_since is not None else now
    if now - failing_since >= GIVE_UP_AFTER:
        core.store.webhooks.mark(endpoint_id, disabled=True, failing_since=failing_since)
        metrics.WEBHOOKS_DISABLED.inc()
        log.warning("webhook %s disabled: every delivery to %s failed for a day", endpoint_id, endpoint.url)
        return
    if endpoint.failing_since is None:
        core.store.webhooks.mark(endpoint_id, failing_since=now)
    if attempt < len(RETRY_DELAYS) and now - first_at < GIVE_UP_AFTER:
        core.store.jobs.enqueue(deliver, endpoint_id, message_id, attempt + 1, first_at, delay=RETRY_DELAYS[attempt])


def _post(
    core: Core, endpoint: Endpoint, message_id: str, message: Mapping[str, Any], now: float
) -> tuple[int | None, str | None, int]:
    """POST the signed body; the status code (None when no answer came), an error, the latency in ms."""
    body = body_for(endpoint, message, core.policy.notifying.public_url)
    timestamp = dt.datetime.fromtimestamp(int(now), dt.timezone.utc)
    signature = Webhook(endpoint.secret).sign(message_id, timestamp, body.decode())
    headers = {
        "content-type": "application/json",
        "user-agent": "yaynay-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
    }
    started = time.monotonic()
    try:
        # Resolved and checked again at delivery, and the connection goes to that address.
        address = checked_address(core, endpoint.url)
        status, location = _send(endpoint.url, address, body, headers)
        # Redirects are not followed (nor are they by Svix or the Standard Webhooks
        # reference): each hop would need the address check again, and a receiver that
        # moved should be updated by its admin. A 3xx is a failed attempt.
        error = f"redirect to {location[:150]} not followed" if 300 <= status < 400 else None
    except (InvalidInput, WebhookUrlRefused) as refusal:
        status, error = None, refusal.message
    except (OSError, ValueError, http.client.HTTPException) as failure:
        status, error = None, f"{type(failure).__name__}: {failure}"[:200]
    return status, error, int((time.monotonic() - started) * 1000)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to ``address``, naming the URL's host in the Host header."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to ``address``, with SNI and the certificate checked for the URL's host."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _send(url: str, address: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
    """POST ``body`` to ``url`` over a connection to ``address``; the status and any Location."""
    parts = urlsplit(url)
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(parts.hostname or "", parts.port, address, RECEIVER_TIMEOUT)
    try:
        path = parts.path or "/"
        connection.request("POST", f"{path}?{parts.query}" if parts.query else path, body=body, headers=dict(headers))
        answer = connection.getresponse()
        answer.read(65536)
        return answer.status, answer.getheader("location") or ""
    finally:
        connection.close()
