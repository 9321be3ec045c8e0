"""Which sites are the publisher's, and the headers every HTML page of ours carries."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request

log = logging.getLogger("yaynay")
# Origins already reported by this worker: a line each, not one a request.
_reported_origins: set[str] = set()
_REPORTED_MAX = 1000


def report_refused_origin(origin: str, what: str) -> None:
    """Log, once an origin, that a page of ``origin`` was refused, and how to allow it."""
    key = normalized_origin(origin)
    if key in _reported_origins or len(_reported_origins) >= _REPORTED_MAX:
        return
    _reported_origins.add(key)
    log.warning(
        "refused %s from origin %s, which is not in ALLOWED_ORIGINS; if it is one of your sites, "
        "add it to YAYNAY_ALLOWED_ORIGINS",
        what,
        origin[:200],
        extra={"origin": origin[:200]},
    )


def normalized_origin(origin: str) -> str:
    """An origin as compared everywhere: lower-case, without a trailing slash."""
    return origin.strip().lower().rstrip("/")


def allowed_origins() -> frozenset[str]:
    """The publisher's origins (ALLOWED_ORIGINS), normalized."""
    return frozenset(normalized_origin(origin) for origin in current_app.config["ALLOWED_ORIGINS"])


def is_publisher_origin(origin: str) -> bool:
    """True for this service's own origin and those in ALLOWED_ORIGINS, compared whole."""
    candidate = normalized_origin(origin)
    return candidate in allowed_origins() or candidate == normalized_origin(request.host_url)


def refuse_foreign_form_post() -> str | None:
    """Why a plain form post must be refused, or None.

    Browsers name the page a form was posted from in ``Origin``. A form on some other
    site would otherwise make every visitor's browser vote or comment for it, from as
    many IPs as it has visitors. A post without ``Origin`` (curl, old browsers) passes.
    """
    origin = request.headers.get("Origin")
    if origin is None or is_publisher_origin(origin):
        return None
    report_refused_origin(origin, "a form post")
    return "This form was sent from a page of another site; nothing was stored."


def publisher_sources() -> str:
    """``'self'`` and the publisher's origins (ALLOWED_ORIGINS), as a CSP source list."""
    return " ".join(["'self'", *current_app.config["ALLOWED_ORIGINS"]])


def content_security_policy(frame_ancestors: str) -> str:
    """Our pages run only our own scripts and styles; forms may end on the publisher's pages
    (a comment form redirects back to the article, and CSP form-action covers redirects)."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action {publisher_sources()}; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


def secure_html(response: Response, frame_ancestors: str | None = None) -> Response:
    """Headers every HTML page of ours carries; by default only the publisher may frame it."""
    response.headers["Content-Security-Policy"] = content_security_policy(frame_ancestors or publisher_sources())
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


def init_app(app: Flask) -> None:
    """Every answer (JSON, SVG, scripts, pages, errors, static files) carries ``nosniff``, so a
    browser never runs or renders a body as some other type than the one we declared."""

    @app.after_request
    def forbid_sniffing(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
