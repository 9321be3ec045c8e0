"""Webhook endpoints, their delivery attempts, the messages to deliver, and the mail subscribers.

Every key sits in the ``{webhooks}`` slot (see ``keys.py``); endpoints are few, so one hash
holds them all and an event reads every subscriber in one round trip. The signing secret
is stored as given: it must be, to sign each delivery.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from service.store.connection import translate_errors
from service.store.keys import Keys

# Attempts kept per endpoint (newest first): enough for a day of retries of a few messages.
DELIVERIES_KEPT = 100
# A message is kept for redelivery this long after it was emitted.
MESSAGE_TTL = 3 * 86400


@dataclass(frozen=True)
class Endpoint:
    """A receiver of events: where, which events, in which format, whether personal data goes along."""

    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    format: str = "standard"
    private: bool = False
    created_at: float = 0.0
    disabled: bool = False
    # When its deliveries began failing without a success since (None: healthy).
    failing_since: float | None = None

    def listens_to(self, event_type: str) -> bool:
        """True when enabled and subscribed to ``event_type``."""
        return not self.disabled and event_type in self.events


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of one message to one endpoint."""

    message_id: str
    event: str
    attempt: int
    attempted_at: float
    status_code: int | None
    latency_ms: int
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _endpoint(raw: bytes) -> Endpoint:
    data = json.loads(raw)
    return Endpoint(**{**data, "events": tuple(data["events"])})


def mailbox_key(address: str) -> str:
    """What two addresses of one mailbox share, as mail services compare them: any casing.

    The whole address is lowercased, local part too: RFC 5321 lets a server tell ``Ann@``
    from ``ann@``, but providers do not, and a moderator who types either means one mailbox.
    """
    # lower(), not casefold(): casefold() makes ``straße@`` and ``strasse@`` one mailbox.
    return address.lower()


def _oldest_first(records: list[bytes]) -> list[Endpoint]:
    return sorted((_endpoint(raw) for raw in records), key=lambda endpoint: (endpoint.created_at, endpoint.id))


class WebhookStore:
    """Endpoints, messages and attempts under ``{webhooks}``; moderators' mail under ``{notify}``."""

    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    # -- endpoints --------------------------------------------------------------------

    @translate_errors
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, oldest first."""
        return _oldest_first(self.redis.hvals(self.keys.webhook_endpoints()))

    @translate_errors
    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint, or None."""
        raw = self.redis.hget(self.keys.webhook_endpoints(), endpoint_id)
        return _endpoint(raw) if raw is not None else None

    @translate_errors
    def save(self, endpoint: Endpoint) -> None:
        """Create or replace the endpoint."""
        record = {**asdict(endpoint), "events": list(endpoint.events)}
        self.redis.hset(self.keys.webhook_endpoints(), endpoint.id, json.dumps(record))

    @translate_errors
    def delete(self, endpoint_id: str) -> bool:
        """Forget the endpoint and its attempts; False when there was none."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.webhook_endpoints(), endpoint_id)
            pipe.delete(self.keys.webhook_attempts(endpoint_id))
            removed, _ = pipe.execute()
        return bool(removed)

    def mark(self, endpoint_id: str, **changes: Any) -> Endpoint | None:
        """Change some fields of a stored endpoint (its health); None when it is gone."""
        endpoint = self.endpoint(endpoint_id)
        if endpoint is None:
            return None
        changed = replace(endpoint, **changes)
        self.save(changed)
        return changed

    # -- messages and attempts ----------------------------------------------------------

    @translate_errors
    def keep_message(self, message_id: str, message: dict[str, Any]) -> None:
        """Keep an emitted event for its deliveries and for redelivery on demand."""
        self.redis.set(self.keys.webhook_message(message_id), json.dumps(message), ex=MESSAGE_TTL)

    @translate_errors
    def message(self, message_id: str) -> dict[str, Any] | None:
        """The emitted event, or None once expired."""
        raw = self.redis.get(self.keys.webhook_message(message_id))
        return json.loads(raw) if raw is not None else None

    @translate_errors
    def record_attempt(self, endpoint_id: str, attempt: Attempt) -> None:
        """Add an attempt to the endpoint's bounded list, newest first."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.webhook_attempts(endpoint_id), json.dumps(asdict(attempt)))
            pipe.ltrim(self.keys.webhook_attempts(endpoint_id), 0, DELIVERIES_KEPT - 1)
            pipe.execute()

    @translate_errors
    def attempts(self, endpoint_id: str) -> list[Attempt]:
        """The endpoint's latest attempts, newest first."""
        return [Attempt(**json.loads(raw)) for raw in self.redis.lrange(self.keys.webhook_attempts(endpoint_id), 0, -1)]

    # -- moderators' mail ----------------------------------------------------------------

    @translate_errors
    def subscribe(self, address: str) -> bool:
        """Add a moderator's address, kept as given; False when it, in any casing, was there."""
        key = self.keys.mail_subscribers()

        def add_unless_present(pipe: Any) -> bool:
            # Watched: two casings subscribed at once cannot both find the other absent.
            wanted = mailbox_key(address)
            if any(mailbox_key(member.decode()) == wanted for member in pipe.smembers(key)):
                return False
            pipe.multi()
            pipe.sadd(key, address)
            return True

        return bool(self.redis.transaction(add_unless_present, key, value_from_callable=True))

    @translate_errors
    def unsubscribe(self, address: str) -> bool:
        """Remove a moderator's address in every casing; False when none was there."""
        key = self.keys.mail_subscribers()
        # Every casing: a previous version stored ``Ann@x`` and ``ann@x`` as two subscriptions.
        wanted = mailbox_key(address)
        casings = [member for member in self.redis.smembers(key) if mailbox_key(member.decode()) == wanted]
        return bool(casings) and bool(self.redis.srem(key, *casings))

    @translate_errors
    def subscribers(self) -> list[str]:
        """Every subscribed address once, sorted: of casings a previous version stored apart, one."""
        addresses: dict[str, str] = {}
        for address in sorted(value.decode() for value in self.redis.smembers(self.keys.mail_subscribers())):
            addresses.setdefault(mailbox_key(address), address)
        return list(addresses.values())

    @translate_errors
    def claim(self, key: str, seconds: int) -> bool:
        """Take a one-off guard (``mail_guard``) for ``seconds``; False when already taken."""
        return bool(self.redis.set(key, 1, nx=True, ex=max(1, seconds)))

    @translate_errors
    def release(self, key: str) -> None:
        """Give a guard back."""
        self.redis.delete(key)

    @translate_errors
    def digest_since(self, now: float) -> float | None:
        """When the last digest was sent (None: never), and remember ``now`` as the new one."""
        previous = self.redis.getset(self.keys.mail_digest_sent(), repr(now))
        return float(previous) if previous is not None else None

    @translate_errors
    def pending_since(self, since: float, limit: int) -> tuple[list[str], int]:
        """Ids of pending comments submitted after ``since`` (oldest first, at most ``limit``), and their count."""
        low = f"({int(since * 1_000_000)}"
        with self.redis.pipeline(transaction=False) as pipe:
            for queue in self.keys.queues("pending"):
                pipe.zrangebyscore(queue, low, "+inf", start=0, num=limit, withscores=True)
                pipe.zcount(queue, low, "+inf")
            replies = pipe.execute()
        rows = sorted((score, value.decode()) for rows in replies[::2] for value, score in rows)
        return [value for _, value in rows[:limit]], sum(int(count) for count in replies[1::2])

    @translate_errors
    def endpoints_and_hour_count(self, now: float) -> tuple[list[Endpoint], int]:
        """Every endpoint, and the comments submitted site-wide this hour (the surge counter),
        in one round trip: what a new comment's events need to know."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hvals(self.keys.webhook_endpoints())
            for surge in self.keys.surges(int(now // 3600)):
                pipe.get(surge)
            raw_endpoints, *counts = pipe.execute()
        submitted = sum(int(count or 0) for count in counts)
        found = sorted(
            (_endpoint(raw) for raw in raw_endpoints), key=lambda endpoint: (endpoint.created_at, endpoint.id)
        )
        return found, submitted
