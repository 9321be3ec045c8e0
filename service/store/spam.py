"""Moderators' spam tools in Redis: blocklist rules, bans, trusted authors' counts, and the
per-poll vote-integrity figures (written by ``cast_vote.lua``, read here).

Each ban is a key of its own that Redis expires when the ban ends, listed in a sorted
set by end time that is cut back past ``now`` whenever a ban is added or listed (and past
the bans Redis has expired whenever they are reloaded): an ended ban costs nothing.

The blocklist and the bans are small, change rarely and are read on every comment post,
so each process keeps them in memory with the version it loaded. A post screens with
them and hands the version to the store, whose write checks it in the same step
(``SpamListsMoved`` when a moderator changed a list: reload both, screen again). The
trust counts are written with each decision, by ``ModerationStore``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from service.store.connection import translate_errors
from service.store.keys import Keys

RULE_KINDS = ("word", "domain", "email", "ip")
RULE_ACTIONS = ("hold", "reject")
# A trusted author's count of approvals in a row is forgotten after a year without comments.
TRUST_TTL = 365 * 86400
# Vote-integrity keys live a day past their hour: "recent" figures, bounded memory.
INTEGRITY_TTL = 25 * 3600
# The busiest-IP set of an hour is cut back to its top TOP_IPS_KEPT when it grows past twice that:
# 120 members stay under zset-max-listpack-entries (128 by default), so the set stays compact.
TOP_IPS_KEPT = 60


def new_id() -> str:
    """A short random id for a rule or a ban."""
    return os.urandom(6).hex()


@dataclass(frozen=True)
class Rule:
    """One blocklist entry: ``value`` is lower case; for ``email`` it is the address's keyed digest."""

    id: str
    kind: str
    value: str
    action: str
    created_at: float
    created_by: str = ""


@dataclass(frozen=True)
class Ban:
    """A ban of an IP digest and/or an email digest until ``until`` (epoch seconds)."""

    id: str
    comment_id: str
    ip_digest: str | None
    email_digest: str | None
    until: float
    created_at: float
    created_by: str = ""


@dataclass(frozen=True)
class SpamLists:
    """The blocklist and the bans as this process loaded them, and their version ('' none set)."""

    rules: tuple[Rule, ...]
    bans: tuple[Ban, ...]
    version: str


@dataclass(frozen=True)
class Integrity:
    """A poll's vote-integrity figures over the hours asked for."""

    votes_by_minute: dict[int, int]
    new_voters: int
    refused_new_voters: int
    changes: int
    busiest_ips: list[tuple[str, int]] = field(default_factory=list)


class SpamStore:
    """Blocklist rules, bans, trust counts and vote-integrity figures."""

    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._loaded: SpamLists | None = None

    # -- the hot path -------------------------------------------------------------------

    @translate_errors
    def lists(self) -> SpamLists:
        """The rules and bans this process holds (loaded from Redis the first time only)."""
        if self._loaded is None:
            return self.reload()
        return self._loaded

    @translate_errors
    def reload(self) -> SpamLists:
        """Load the rules, the bans and their version again, in one round trip."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.spam_version())
            pipe.hgetall(self.keys.blocklist())
            pipe.zrange(self.keys.ban_ends(), 0, -1)
            pipe.exists(self.keys.legacy_bans())
            version, rules, ban_ids, legacy = pipe.execute()
        if legacy:
            self._move_legacy_bans()
            return self.reload()
        self._loaded = SpamLists(
            tuple(sorted((Rule(**json.loads(v)) for v in rules.values()), key=lambda r: r.created_at)),
            tuple(self._load_bans([ban_id.decode() for ban_id in ban_ids])),
            (version or b"").decode(),
        )
        return self._loaded

    def _move_legacy_bans(self) -> None:
        """Earlier versions kept every ban in one hash with its end time: each ban still in
        force becomes a key of its own that expires when it ends, then the hash goes. Once."""
        seconds, _ = self.redis.time()  # the server's clock: the store is handed no time here
        with self.redis.pipeline(transaction=True) as pipe:
            for raw in self.redis.hvals(self.keys.legacy_bans()):
                ban = Ban(**json.loads(raw))
                if ban.until > seconds:
                    pipe.set(self.keys.ban(ban.id), raw, ex=max(1, math.ceil(ban.until - seconds)))
                    pipe.zadd(self.keys.ban_ends(), {ban.id: ban.until})
            pipe.delete(self.keys.legacy_bans())
            pipe.incr(self.keys.spam_version())
            pipe.execute()

    def _load_bans(self, ban_ids: list[str]) -> list[Ban]:
        """The bans with these ids that Redis still holds, oldest first; the index forgets the rest."""
        if not ban_ids:
            return []
        found = self.redis.mget([self.keys.ban(ban_id) for ban_id in ban_ids])
        expired = [ban_id for ban_id, raw in zip(ban_ids, found, strict=True) if raw is None]
        if expired:
            self.redis.zrem(self.keys.ban_ends(), *expired)
        return sorted((Ban(**json.loads(raw)) for raw in found if raw is not None), key=lambda b: b.created_at)

    # -- blocklist and bans -------------------------------------------------------------

    @translate_errors
    def add_rule(self, rule: Rule) -> None:
        """Store a blocklist rule; every process sees it at its next post."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.blocklist(), rule.id, json.dumps(rule.__dict__))
            pipe.incr(self.keys.spam_version())
            pipe.execute()

    @translate_errors
    def rules(self) -> list[Rule]:
        """Every blocklist rule, oldest first."""
        rows = self.redis.hgetall(self.keys.blocklist())
        return sorted((Rule(**json.loads(v)) for v in rows.values()), key=lambda r: r.created_at)

    @translate_errors
    def remove_rule(self, rule_id: str) -> bool:
        """Delete a rule; False when there was none with that id."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.blocklist(), rule_id)
            pipe.incr(self.keys.spam_version())
            removed, _ = pipe.execute()
        return bool(removed)

    @translate_errors
    def add_ban(self, ban: Ban) -> None:
        """Store a ban that Redis forgets when it ends (``until``, counted from ``created_at``);
        every process sees it at its next post."""
        lasts = max(1, math.ceil(ban.until - ban.created_at))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.ban(ban.id), json.dumps(ban.__dict__), ex=lasts)
            pipe.zadd(self.keys.ban_ends(), {ban.id: ban.until})
            pipe.zremrangebyscore(self.keys.ban_ends(), "-inf", ban.created_at)
            pipe.incr(self.keys.spam_version())
            pipe.execute()

    @translate_errors
    def bans(self, now: float) -> list[Ban]:
        """Bans still in force, oldest first; ended ones are cut from the index on the way."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self.keys.ban_ends(), "-inf", now)
            pipe.zrange(self.keys.ban_ends(), 0, -1)
            _, ban_ids = pipe.execute()
        return [ban for ban in self._load_bans([ban_id.decode() for ban_id in ban_ids]) if ban.until > now]

    @translate_errors
    def remove_ban(self, ban_id: str) -> bool:
        """Lift a ban; False when there was none with that id (or it had ended)."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.keys.ban_ends(), ban_id)
            pipe.delete(self.keys.ban(ban_id))
            pipe.incr(self.keys.spam_version())
            listed, held, _ = pipe.execute()
        return bool(listed or held)

    # -- vote integrity -----------------------------------------------------------------

    @translate_errors
    def integrity(self, poll_id: str, hours: list[int], top: int) -> Integrity | None:
        """The poll's figures summed over ``hours`` (None when the poll does not exist)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.poll(poll_id))
            for hour in hours:
                pipe.hgetall(self.keys.vote_integrity(poll_id, hour))
                pipe.zrange(self.keys.vote_ips(poll_id, hour), 0, -1, withscores=True)
            exists, *replies = pipe.execute()
        if not exists:
            return None
        by_minute: dict[int, int] = {}
        totals = {"new": 0, "refused": 0, "changes": 0}
        ips: dict[str, int] = {}
        for counters, ranked in zip(replies[::2], replies[1::2], strict=True):
            for name, count in counters.items():
                label = name.decode()
                if label.startswith("m"):
                    by_minute[int(label[1:])] = by_minute.get(int(label[1:]), 0) + int(count)
                elif label in totals:
                    totals[label] += int(count)
            for member, score in ranked:
                ips[member.decode()] = ips.get(member.decode(), 0) + int(score)
        busiest = sorted(ips.items(), key=lambda item: (-item[1], item[0]))[:top]
        return Integrity(by_minute, totals["new"], totals["refused"], totals["changes"], busiest)
