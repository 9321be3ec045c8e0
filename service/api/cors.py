"""CORS for ``/api/*``: the publisher's pages (ALLOWED_ORIGINS) may call the API from a browser.

This replaced flask-cors, which measured at 50 to 80 us a request, whatever the request
(it matches its resource patterns and rebuilds its options each time): a third of a
cached tally read's own time. What yaynay needs is small: one path prefix, one list of
exact origins, answers to preflight requests, and ``Vary: Origin`` so that a shared
cache never hands one site's answer to another.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.api.security import normalized_origin, report_refused_origin

ALLOW_HEADERS = "Content-Type, Authorization, If-None-Match, Idempotency-Key, Yaynay-Edit-Token"
EXPOSE_HEADERS = (
    "ETag, Retry-After, RateLimit, RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)
PREFLIGHT_MAX_AGE = "600"


def init_app(app: Flask, *, prefix: str = "/api/") -> None:
    """Add the CORS headers to every answer under ``prefix``, errors and preflights included."""
    allowed = frozenset(normalized_origin(origin) for origin in app.config["ALLOWED_ORIGINS"])

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if not request.path.startswith(prefix):
            return response
        headers = response.headers
        headers.add("Vary", "Origin")
        origin = request.headers.get("Origin")
        if origin is None:
            return response
        if normalized_origin(origin) not in allowed:
            if normalized_origin(origin) != normalized_origin(request.host_url):  # our own pages need no CORS
                report_refused_origin(origin, "a cross-origin API call (CORS)")
            return response
        headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            # Flask answers OPTIONS itself, listing the URL's methods in Allow.
            headers["Access-Control-Allow-Methods"] = headers.get("Allow", "GET, POST, PUT")
            headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        else:
            headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
