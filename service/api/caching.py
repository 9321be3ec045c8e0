"""Public answers rendered once and served from each worker's memory until they change."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request

from service.api.context import core, now


def public_cache_headers() -> dict[str, str]:
    """What public reads (tallies, published comments) may be cached for: a few seconds."""
    return {"Cache-Control": f"public, max-age={current_app.config['POLL_CACHE_MAX_AGE']}"}


@dataclass(frozen=True)
class Rendered:
    """A public answer rendered once: its JSON body, its ETag, and until when (app clock) it holds."""

    body: bytes
    etag: str
    valid_until: float | None = None

    @classmethod
    def of(cls, data: Any, *, valid_until: float | None = None) -> Rendered:
        """``data``, already dumped by its schema, as compact JSON with a content ETag."""
        return cls.of_json(json.dumps(data, separators=(",", ":")).encode(), valid_until=valid_until)

    @classmethod
    def of_json(cls, body: bytes, *, valid_until: float | None = None) -> Rendered:
        """A JSON body with a content ETag."""
        return cls(body, hashlib.sha1(body, usedforsecurity=False).hexdigest(), valid_until)

    def holds_at(self, at: float) -> bool:
        """Whether the answer is still true at app time ``at`` (a poll's state changes as it closes)."""
        return self.valid_until is None or at < self.valid_until


def cached_answer(key: Hashable, tag: str, render: Callable[[], Rendered | None]) -> Rendered | None:
    """The answer this worker rendered before, unless ``tag`` (a poll or thread id) changed
    since or it expired; else ``render()``'s, kept for the next reader (see store/cache.py)."""
    cache = core().read_cache
    rendered = cache.get(key, tag)
    if rendered is not None and rendered.holds_at(now()):
        return rendered
    return cache.refresh(key, tag, render)


def public_json(rendered: Rendered) -> Response:
    """200 with the body, or 304 when the client sent its ETag; cacheable for a few seconds."""
    headers = {"ETag": f'"{rendered.etag}"', **public_cache_headers()}
    if request.if_none_match.contains_weak(rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, mimetype="application/json", headers=headers)
