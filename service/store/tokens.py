"""Moderator and admin bearer tokens: only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from service.store.connection import translate_errors
from service.store.keys import Keys


@dataclass(frozen=True)
class TokenHolder:
    """Who holds a token: the name the log shows, and the role."""

    name: str
    role: str
    created_at: float | None = None
    # When the token stops working (epoch seconds); None: until revoked.
    expires_at: float | None = None

    def expired(self, now: float) -> bool:
        """True once ``now`` reaches the token's expiry."""
        return self.expires_at is not None and now >= self.expires_at


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to keep them unguessable at rest."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Stored bearer tokens, found by their SHA-256."""

    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    @translate_errors
    def create(self, name: str, role: str, *, now: float, expires_at: float | None = None) -> str | None:
        """A new token for ``name`` with ``role``, valid until ``expires_at`` (None: until revoked),
        returned once; None when the name is taken."""
        token = secrets.token_urlsafe(32)
        digest = token_hash(token)
        record = json.dumps({"role": role, "created_at": now, "expires_at": expires_at, "hash": digest})
        if not self.redis.hsetnx(self.keys.tokens_by_name(), name, record):
            return None
        self.redis.hset(self.keys.tokens_by_hash(), digest, name)
        return token

    @translate_errors
    def holder(self, token: str, *, now: float) -> TokenHolder | None:
        """Who a token belongs to, or None for an unknown, revoked or expired token."""
        name = self.redis.hget(self.keys.tokens_by_hash(), token_hash(token))
        if name is None:
            return None
        record = self.redis.hget(self.keys.tokens_by_name(), name)
        if record is None:
            return None
        holder = _holder(name.decode(), record)
        return None if holder.expired(now) else holder

    @translate_errors
    def all(self) -> list[TokenHolder]:
        """Every token holder, by name."""
        records = self.redis.hgetall(self.keys.tokens_by_name())
        return sorted((_holder(name.decode(), raw) for name, raw in records.items()), key=lambda holder: holder.name)

    @translate_errors
    def revoke(self, name: str) -> bool:
        """Revoke ``name``'s token; False when there is none."""
        record = self.redis.hget(self.keys.tokens_by_name(), name)
        if record is None:
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.tokens_by_hash(), json.loads(record)["hash"])
            pipe.hdel(self.keys.tokens_by_name(), name)
            pipe.execute()
        return True


def _holder(name: str, record: bytes) -> TokenHolder:
    data = json.loads(record)
    # Records written before tokens could expire have no "expires_at": they last until revoked.
    return TokenHolder(name, data["role"], data["created_at"], data.get("expires_at"))
