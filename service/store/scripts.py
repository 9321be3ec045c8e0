"""The Lua scripts under ``lua/``, read once and registered with the Redis client.

Each script is a file named after what it does, with a KEYS/ARGV/Returns header. A
script that says ``--!include NAME`` gets ``lua/lib/NAME.lua`` in that place, so logic
shared by several scripts (the rate limit, the duplicate guards) is written once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError

_INCLUDE = re.compile(r"^--!include (\w+)\s*$", re.MULTILINE)

ScriptCall = tuple[Script, Sequence[Any], Sequence[Any]]


@cache
def script_source(name: str) -> str:
    """The full source of ``lua/<name>.lua`` with its ``--!include``s expanded."""
    return _expand(files("service.store").joinpath("lua", f"{name}.lua").read_text())


@cache
def _library(name: str) -> str:
    return _expand(files("service.store").joinpath("lua", "lib", f"{name}.lua").read_text())


def _expand(text: str) -> str:
    return _INCLUDE.sub(lambda match: _library(match.group(1)), text)


class Scripts:
    """Every script, registered on one client: ``scripts.cast_vote(keys=..., args=...)``."""

    def __init__(self, redis: Any):
        self.redis = redis
        self.cast_vote: Script = self._register("cast_vote")
        self.count_rate_limits: Script = self._register("count_rate_limits")
        self.find_repeat: Script = self._register("find_repeat")
        self.submit_comment: Script = self._register("submit_comment")
        self.submit_comment_on_one_node: Script = self._register("submit_comment_on_one_node")
        self.decide_comment: Script = self._register("decide_comment")
        self.decide_comment_on_one_node: Script = self._register("decide_comment_on_one_node")
        self.clear_index_marker: Script = self._register("clear_index_marker")
        self.forget_indexed_thread: Script = self._register("forget_indexed_thread")
        self.set_poll_closing: Script = self._register("set_poll_closing")
        self.take_due: Script = self._register("take_due")
        self.save_poll: Script = self._register("save_poll")
        self.compact_voters: Script = self._register("compact_voters")
        self.import_comment: Script = self._register("import_comment")
        self.edit_comment: Script = self._register("edit_comment")

    @property
    def on_one_node(self) -> bool:
        """True on a single Redis node, where one script may write keys of several slots."""
        return not isinstance(self.redis, RedisCluster)

    def _register(self, name: str) -> Script:
        return self.redis.register_script(script_source(name))

    def all(self) -> dict[str, Script]:
        """Every registered script by its file name."""
        return {name: script for name, script in vars(self).items() if isinstance(script, Script)}

    def run_together(self, *calls: ScriptCall) -> list[Any]:
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
