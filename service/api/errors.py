"""Refusals told over HTTP: one JSON error shape, ``{"code", "status", "message", "errors"}``.

``errors`` maps each input location to the fields at fault and their messages, e.g.
``{"json": {"choice": ["Must be one of: yay, nay."]}}``; it is ``{}`` when no field is
to blame. The core's plain exceptions (``service/errors.py``) get their status code
here; pages a reader looks at (the iframe page, the demo) tell an outage in HTML.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from service import errors
from service.api.security import secure_html
from service.error_shape import error_body
from service.ratelimit import RateState
from service.schemas import utc

# Blueprints whose pages a reader looks at: their outages are told in HTML.
HTML_BLUEPRINTS = {"embed", "demo"}

STATUS_CODES: dict[type[errors.YaynayError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidInput: 422,
    errors.RateLimited: 429,
    errors.TooManyStreams: 429,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.StoreUnavailable: 503,
    errors.YaynayError: 400,
}


class RequestError(errors.YaynayError):
    """A request the web layer refuses before the core sees it; ``errors`` is keyed by location."""

    def __init__(self, status_code: int, message: str, errors_by_location: dict[str, Any]):
        super().__init__(message)
        self.status_code = status_code
        self.errors = errors_by_location


class InvalidJson(RequestError):
    """The body is not JSON at all."""

    def __init__(self) -> None:
        super().__init__(400, "The request body is not valid JSON.", {"json": ["Invalid JSON body."]})


class InvalidFields(RequestError):
    """The input parsed, but fields are missing or invalid: ``errors`` names each one by location."""

    def __init__(self, errors_by_location: dict[str, Any]):
        super().__init__(422, "Some fields are missing or invalid; see errors.", errors_by_location)


class UnsupportedMediaType(RequestError):
    def __init__(self) -> None:
        super().__init__(
            415, "Send the body as application/json.", {"headers": {"Content-Type": ["Must be application/json."]}}
        )


def status_of(error: errors.YaynayError) -> int:
    """The HTTP status of a refusal."""
    if isinstance(error, RequestError):
        return error.status_code
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return 400


def errors_of(error: errors.YaynayError) -> dict[str, Any]:
    """The fields at fault, by location (the core's field errors are about the body)."""
    if isinstance(error, RequestError):
        return error.errors
    return {"json": error.fields} if error.fields else {}


def refusal_body(error: errors.YaynayError) -> dict[str, Any]:
    """The one error shape for a refusal, with the standing decision of a DecisionConflict."""
    body = error_body(status_of(error), error.message, errors_of(error))
    if isinstance(error, errors.DecisionConflict):
        body["standing"] = standing(error.standing)
    return body


def standing(decision: errors.Standing) -> dict[str, Any]:
    """The decision that stands, as answers show it."""
    at = utc(decision.decided_at)
    return {
        "status": decision.status,
        "decided_by": decision.decided_by,
        "decided_at": at.isoformat() if at else None,
        "reason": decision.reason,
    }


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


def refusal_headers(error: errors.YaynayError) -> dict[str, str]:
    """The headers a refusal carries: rate limits and Retry-After, or how to authenticate."""
    if isinstance(error, errors.RateLimited):
        return rate_limit_headers(error.rate, retry_after=True)
    if isinstance(error, errors.TooManyStreams):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, errors.StoreUnavailable):
        return {"Retry-After": str(current_app.config["UNAVAILABLE_RETRY_AFTER"])}
    if isinstance(error, errors.Unauthorized):
        return {"WWW-Authenticate": 'Bearer realm="yaynay"'}
    return {}


def handle_refusal(error: errors.YaynayError) -> Response:
    """Any refusal of the core or the web layer, as JSON (an outage on a page: as HTML)."""
    if isinstance(error, errors.StoreUnavailable):  # the reason of the 503's log line
        cause = error.__cause__
        g.refusal = f"{error.message} ({type(cause).__name__}: {cause})" if cause else error.message
    if isinstance(error, errors.StoreUnavailable) and request.blueprint in HTML_BLUEPRINTS:
        return message_page(
            "Back in a moment",
            "The poll is not available right now. Please try again in a moment.",
            503,
            headers=refusal_headers(error),
        )
    response = jsonify(refusal_body(error))
    response.status_code = status_of(error)
    response.headers.update(refusal_headers(error))
    return response


def message_page(title: str, what: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """A small HTML page saying ``what``, for readers."""
    html = render_template("message.html", title=title, what=what)
    return secure_html(make_response(html, status_code, headers or {}))


def handle_http_exception(error: HTTPException) -> BaseResponse:
    """Werkzeug's errors (404, 405, 413, ...) in the one shape."""
    code = error.code or 500
    response = error.get_response()
    response.data = jsonify(error_body(code, error.description or HTTPStatus(code).phrase)).get_data()
    response.content_type = "application/json"
    return response


def handle_unexpected_error(error: Exception) -> BaseResponse:
    """Anything else: log it, answer a JSON 500 without internals."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    current_app.logger.exception(
        "unhandled error, answered 500 (request %s)",
        g.get("request_id", "-"),
        exc_info=error,
        extra={"request_id": g.get("request_id", "-"), "route": request.url_rule.rule if request.url_rule else None},
    )
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    """Route every error through the one JSON shape."""
    app.register_error_handler(errors.YaynayError, handle_refusal)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
