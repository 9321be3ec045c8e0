"""The HTTP API: one module a resource, each a flask-smorest Blueprint of thin views."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from flask import Response, current_app, request
from marshmallow import Schema, ValidationError
from werkzeug.routing import BaseConverter

from service.errors import InvalidFields, InvalidJson, UnsupportedMediaType
from service.extensions import store
from service.identity import ip_digest
from service.schemas import COMMENT_ID_PATTERN, POLL_ID_PATTERN

BEARER_AUTH = [{"bearerAuth": []}]


class ResourceIdConverter(BaseConverter):
    """Poll and thread ids: 1-64 of ``[a-z0-9-]``; anything else is a 404."""

    regex = POLL_ID_PATTERN.strip("^$")


class CommentIdConverter(BaseConverter):
    """Comment ids: ``<thread id>.<8 characters of a-z and 2-7>``."""

    regex = COMMENT_ID_PATTERN.strip("^$")


def now() -> float:
    """The current time, from the app's clock (tests may pin it)."""
    return current_app.config["CLOCK"]()


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
    def of(cls, data, *, valid_until: float | None = None) -> Rendered:
        """``data``, already dumped by its schema, as compact JSON with a content ETag."""
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(body, hashlib.sha1(body, usedforsecurity=False).hexdigest(), valid_until)

    def holds_at(self, at: float) -> bool:
        """Whether the answer is still true at app time ``at`` (a poll's state changes as it closes)."""
        return self.valid_until is None or at < self.valid_until


def cached_answer(key: Hashable, tag: str, render: Callable[[], Rendered | None]) -> Rendered | None:
    """The answer this worker rendered before, unless ``tag`` (a poll or thread id) changed
    since or it expired; else ``render()``'s, kept for the next reader (see store/cache.py)."""
    rendered = store.read_cache.get(key, tag)
    if rendered is not None and rendered.holds_at(now()):
        return rendered
    return store.read_cache.refresh(key, tag, render)


def public_json(rendered: Rendered) -> Response:
    """200 with the body, or 304 when the client sent its ETag; cacheable for a few seconds."""
    headers = {"ETag": f'"{rendered.etag}"', **public_cache_headers()}
    if request.if_none_match.contains_weak(rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, mimetype="application/json", headers=headers)


def client_ip_digest() -> str:
    """The keyed digest of the client address (ProxyFix has already applied PROXY_HOPS)."""
    return ip_digest(current_app.config["SECRET_KEY"], request.remote_addr or "unknown")


def require_json_body() -> None:
    """Refuse a write whose body is not JSON with 415, before any parsing."""
    if request.method in {"POST", "PUT", "PATCH"} and not request.is_json:
        raise UnsupportedMediaType(
            "Send the body as application/json.",
            errors={"headers": {"Content-Type": ["Must be application/json."]}},
        )


def documented(*decorators):
    """Document a view with flask-smorest's decorators without wrapping it in them.

    flask-smorest builds the OpenAPI document from the ``_apidoc`` its decorators attach,
    and each of them also wraps the view (with ``ensure_sync``, a dump, a jsonify). On the
    vote path those layers cost more than the Redis round trip, and on a cached read more
    than the read, so such a view parses with ``load_json``/``load_query``, dumps with its
    schema and returns its own Response; the document is the same.
    """

    def apply(view):
        def stand_in(*args, **kwargs):
            return None

        for decorator in reversed(decorators):
            stand_in = decorator(stand_in)
        view._apidoc = stand_in._apidoc
        return view

    return apply


def json_response(body: str, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON body already dumped by its schema (``Schema.dumps``), as a Response."""
    return Response(body, status=status, mimetype="application/json", headers=headers)


def load_json(schema: Schema) -> dict:
    """The JSON body as ``schema`` loads it: 400 when it is not JSON, 422 naming each bad field.

    The same answers flask-smorest's ``arguments`` gives, without webargs: on the vote path
    webargs cost about as much as the Redis round trip. Views using this document their
    body with ``@blp.doc(requestBody=...)``.
    """
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:  # also UnicodeDecodeError
        raise InvalidJson() from None
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidFields({"json": error.messages}) from None


def load_query(schema: Schema) -> dict:
    """The query string as ``schema`` loads it (first value of each name): 422 naming each bad one."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as error:
        raise InvalidFields({"query": error.messages}) from None


def is_publisher_origin(origin: str) -> bool:
    """True for this service's own origin and those in ALLOWED_ORIGINS, compared whole."""
    allowed = {o.lower().rstrip("/") for o in current_app.config["ALLOWED_ORIGINS"]}
    allowed.add(request.host_url.lower().rstrip("/"))
    return origin.lower().rstrip("/") in allowed


def refuse_foreign_form_post() -> str | None:
    """Why a plain form post must be refused, or None.

    Browsers name the page a form was posted from in ``Origin``. A form on some other
    site would otherwise make every visitor's browser vote or comment for it, from as
    many IPs as it has visitors. A post without ``Origin`` (curl, old browsers) passes.
    """
    origin = request.headers.get("Origin")
    if origin is None or is_publisher_origin(origin):
        return None
    return "This form was sent from a page of another site; nothing was stored."


def publisher_sources() -> str:
    """``'self'`` and the publisher's origins (ALLOWED_ORIGINS), as a CSP source list."""
    return " ".join(["'self'", *current_app.config["ALLOWED_ORIGINS"]])


def content_security_policy(frame_ancestors: str) -> str:
    """Our pages run only our own scripts and styles; forms may end on the publisher's pages
    (a comment form redirects back to the article, and CSP form-action covers redirects)."""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; form-action {publisher_sources()}; base-uri 'none'; "
            f"frame-ancestors {frame_ancestors}")


def secure_html(response: Response, frame_ancestors: str | None = None) -> Response:
    """Headers every HTML page of ours carries; by default only the publisher may frame it."""
    response.headers["Content-Security-Policy"] = content_security_policy(frame_ancestors or publisher_sources())
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


def register(app, api) -> None:
    """Add every API blueprint to the flask-smorest Api."""
    from service.api import comments, health, moderation, polls

    for name, converter, pattern in (("resource_id", ResourceIdConverter, POLL_ID_PATTERN),
                                     ("comment_id", CommentIdConverter, COMMENT_ID_PATTERN)):
        app.url_map.converters[name] = converter
        api.register_converter(converter, lambda _, pattern=pattern: {"type": "string", "pattern": pattern})
    for module in (polls, comments, moderation, health):
        api.register_blueprint(module.blp)
