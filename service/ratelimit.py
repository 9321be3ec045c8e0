"""Rate-limit state and how it is told to clients.

The counting itself happens inside the Lua scripts that take reader input
(``store/lua/ratelimit.lua``), in the same round trip as the write it guards.
"""

from __future__ import annotations

from dataclasses import dataclass


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
