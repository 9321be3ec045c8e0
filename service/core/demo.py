"""The demo article's poll, which `yaynay serve` and the demo page create when the demo is on."""

from __future__ import annotations

from service.core import Core
from service.core.polls import ensure_poll

DEMO_POLL = "mini-backpacks"
DEMO_QUESTION = "Are you YAY or NAY on mini backpacks?"


def ensure_demo_poll(core: Core) -> None:
    """Create the demo poll unless it exists; its tally is left alone."""
    ensure_poll(core, DEMO_POLL, DEMO_QUESTION)
