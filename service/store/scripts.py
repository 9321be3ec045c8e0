"""The Lua scripts under ``lua/``, read once and registered with the Redis client.

A script that starts with ``--!include NAME`` gets ``lua/NAME.lua`` prepended, so
logic shared by several scripts (the rate limit) is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

_INCLUDE = re.compile(r"^--!include (\w+)\s*$", re.MULTILINE)


@cache
def script_source(name: str) -> str:
    """The full source of ``lua/<name>.lua`` with its includes expanded."""
    text = files("service.store").joinpath("lua", f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda match: script_source(match.group(1)), text)


class Scripts:
    """Every script, registered on one client; call them as ``scripts.vote(keys=..., args=...)``."""

    NAMES = ("vote", "register", "rate_limit", "find_repeat", "submit_comment", "decide")

    def __init__(self, redis):
        self.redis = redis
        for name in self.NAMES:
            setattr(self, name, redis.register_script(script_source(name)))

    def run_together(self, *calls) -> list:
        """Run (script, keys, args) calls in one round trip (a pipeline; each call may be in
        another slot) and return their replies in order.

        A Redis that has not loaded a script yet (a restart, a failover) answers NOSCRIPT
        for it; that call alone runs again on its own, which loads the script. redis-py
        refuses scripts in Redis Cluster pipelines, so there each call is a round trip.
        """
        if isinstance(self.redis, RedisCluster):
            return [script(keys=keys, args=args) for script, keys, args in calls]
        with self.redis.pipeline(transaction=False) as pipe:
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            replies = pipe.execute(raise_on_error=False)
        for index, (reply, (script, keys, args)) in enumerate(zip(replies, calls, strict=True)):
            if isinstance(reply, NoScriptError):
                replies[index] = script(keys=keys, args=args)
            elif isinstance(reply, Exception):
                raise reply
        return replies
