"""The Lua scripts under ``lua/``, read once and registered with the Redis client.

A script that starts with ``--!include NAME`` gets ``lua/NAME.lua`` prepended, so
logic shared by several scripts (the rate limit) is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

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
        for name in self.NAMES:
            setattr(self, name, redis.register_script(script_source(name)))
