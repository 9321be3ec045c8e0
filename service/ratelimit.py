"""Rate limits in Python: what a limit is, and where a client stands against one.

This is the one Python home of rate limiting. The counting happens inside the Lua
scripts that take reader input (``store/lua/lib/ratelimit.lua``, included by
``cast_vote.lua`` and ``count_rate_limits.lua``), in the same round trip as the write
it guards; ``api/errors.py`` tells the outcome to clients as headers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?\s*$")
# More hits than any window sees: a counter that never refuses.
_UNLIMITED = 2**31


class InvalidRateLimit(ValueError):
    """A rate limit written in a form ``RateLimit.parse`` does not read."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` hits in a fixed window of ``window`` seconds."""

    count: int
    window: int

    @classmethod
    @functools.cache
    def parse(cls, text: str) -> RateLimit:
        """Read ``"30/minute"`` or ``"30 per minute"``; each text is parsed once."""
        match = _RATE_PATTERN.match(text)
        if not match or int(match.group(1)) < 1:
            raise InvalidRateLimit(f"not a rate limit: {text!r} (expected e.g. '30/minute')")
        return cls(int(match.group(1)), RATE_UNITS[match.group(2)])

    @classmethod
    def counter(cls, window: int) -> RateLimit:
        """A window that only counts hits and never refuses one: a signal, not a limit."""
        return cls(_UNLIMITED, window)

    def window_start(self, now: float) -> int:
        """When the fixed window holding ``now`` began (epoch seconds)."""
        return int(now // self.window) * self.window


@dataclass(frozen=True)
class RateState:
    """Where a client stands against one limit, named ``policy``."""

    policy: str
    limit: int
    window: int
    remaining: int
    reset: int
