"""Rate limits: how one is written in the settings, where a client stands, how that is told.

The counting itself happens inside the Lua scripts that take reader input
(``store/lua/ratelimit.lua``), in the same round trip as the write it guards.
Nothing here knows HTTP or Flask: the store and the settings use ``RateLimit`` too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_PATTERN = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` hits in a fixed window of ``window`` seconds."""

    count: int
    window: int

    @classmethod
    @functools.cache
    def parse(cls, text: str) -> RateLimit:
        """Read ``"30/minute"`` or ``"30 per minute"``; each text is parsed once, off the hot path.

        Raises ValueError for anything else; the settings turn that into a ConfigError naming the setting.
        """
        match = _RATE_PATTERN.match(text)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"not a rate limit: {text!r} (expected e.g. '30/minute')")
        return cls(int(match.group(1)), RATE_UNITS[match.group(2)])


@dataclass(frozen=True)
class RateState:
    """Where a client stands against one limit."""

    policy: str
    limit: int
    window: int
    remaining: int
    reset: int


def rate_limit_headers(rate: RateState, *, retry_after: bool = False) -> dict[str, str]:
    """The IETF draft ``RateLimit``/``RateLimit-Policy`` fields and the ``X-RateLimit-*`` trio."""
    headers = {
        "RateLimit-Policy": f'"{rate.policy}";q={rate.limit};w={rate.window}',
        "RateLimit": f'"{rate.policy}";r={rate.remaining};t={rate.reset}',
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Reset": str(rate.reset),
    }
    if retry_after:
        headers["Retry-After"] = str(rate.reset)
    return headers
