"""Domain errors and the one JSON error shape: ``{"code", "status", "message", "errors"}``.

``errors`` maps each input location to the fields at fault and their messages,
e.g. ``{"json": {"choice": ["Must be one of: yay, nay."]}}``; it is ``{}`` when no
field is to blame.
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

from flask import Flask, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from service.ratelimit import RateState, rate_limit_headers

# Blueprints whose pages a reader looks at: their outages are told in HTML.
HTML_BLUEPRINTS = {"embed", "demo"}


class YaynayError(Exception):
    """A failure with an HTTP status, a message for people and, optionally, headers."""

    status_code = 400

    def __init__(self, message: str, *, errors: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}


class NotFound(YaynayError):
    status_code = 404


class Conflict(YaynayError):
    """The request is well formed but the resource's state refuses it."""

    status_code = 409


class PollNotFound(NotFound):
    def __init__(self, poll_id: str):
        super().__init__(f"No poll with id {poll_id!r}.")


class PollClosed(Conflict):
    def __init__(self, poll_id: str):
        super().__init__(f"Poll {poll_id!r} is closed.")


class VoteChangeNotAllowed(Conflict):
    def __init__(self, poll_id: str, current_choice: str):
        super().__init__(
            f"Poll {poll_id!r} does not allow changing a vote; yours stays {current_choice!r}.",
            errors={"json": {"choice": [f"Already voted {current_choice!r}."]}},
        )


class RateLimited(YaynayError):
    """Over a limit; answered with Retry-After and the RateLimit fields of ``rate``."""

    status_code = 429

    def __init__(self, message: str, *, rate: RateState):
        super().__init__(message, headers=rate_limit_headers(rate, retry_after=True))
        self.rate = rate


class InvalidJson(YaynayError):
    """The body is not JSON at all."""

    def __init__(self):
        super().__init__("The request body is not valid JSON.", errors={"json": ["Invalid JSON body."]})


class InvalidFields(YaynayError):
    """The body is JSON, but fields are missing or invalid: ``errors`` names each one."""

    status_code = 422

    def __init__(self, errors: dict):
        super().__init__("Some fields are missing or invalid; see errors.", errors=errors)


class StoreUnavailable(YaynayError):
    """Redis did not answer in time; answered with ``Retry-After: UNAVAILABLE_RETRY_AFTER``."""

    status_code = 503


def error_body(status_code: int, message: str, errors: dict | None = None) -> dict:
    """The JSON body of every error answer."""
    return {
        "code": status_code,
        "status": HTTPStatus(status_code).phrase,
        "message": message,
        "errors": errors or {},
    }


def handle_yaynay_error(error: YaynayError):
    if isinstance(error, StoreUnavailable) and request.blueprint in HTML_BLUEPRINTS:
        return _unavailable_page()
    body = error_body(error.status_code, error.message, error.errors)
    if isinstance(error, DecisionConflict):
        body["standing"] = error.standing
    response = jsonify(body)
    response.status_code = error.status_code
    response.headers.update(error.headers)
    if isinstance(error, StoreUnavailable):
        response.headers["Retry-After"] = str(current_app.config["UNAVAILABLE_RETRY_AFTER"])
    return response


def _unavailable_page():
    """Pages (the iframe, the demo) say it in HTML: a reader may be looking at them."""
    from service.api import secure_html

    html = render_template("message.html", title="Back in a moment",
                           what="The poll is not available right now. Please try again in a moment.")
    response = secure_html(make_response(html, 503))
    response.headers["Retry-After"] = str(current_app.config["UNAVAILABLE_RETRY_AFTER"])
    return response


def handle_http_exception(error: HTTPException):
    """Werkzeug and webargs errors in the one shape; webargs puts field messages in ``data``."""
    data = getattr(error, "data", None) or {}
    errors = data.get("messages") or {}
    if error.code == 400 and "json" in errors and not data.get("schema"):
        message = "The request body is not valid JSON."
    elif error.code == 422:
        message = "Some fields are missing or invalid; see errors."
    else:
        message = data.get("message") or error.description or HTTPStatus(error.code).phrase
    response = error.get_response()
    response.data = jsonify(error_body(error.code, message, errors)).get_data()
    response.content_type = "application/json"
    response.headers.update(data.get("headers") or {})
    return response


def handle_unexpected_error(error: Exception):
    """Anything else: log it, answer a JSON 500 without internals."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    """Route every error through the one JSON shape."""
    app.register_error_handler(YaynayError, handle_yaynay_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)


class Unauthorized(YaynayError):
    """No credentials, or wrong ones."""

    status_code = 401

    def __init__(self, message: str = "A valid bearer token is required."):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="yaynay"'})


class Forbidden(YaynayError):
    status_code = 403


class UnsupportedMediaType(YaynayError):
    status_code = 415


class CommentNotFound(NotFound):
    def __init__(self, comment_id: str):
        super().__init__(f"No comment with id {comment_id!r}.")
        self.comment_id = comment_id


class DecisionConflict(Conflict):
    """Another decision stands: the comment is no longer in the status the moderator saw."""

    def __init__(self, comment_id: str, *, status: str, decided_by: str | None,
                 decided_at: float | None, reason: str | None):
        who = f" by {decided_by}" if decided_by else ""
        super().__init__(f"Comment {comment_id!r} is already {status}{who}.")
        self.comment_id = comment_id
        at = dt.datetime.fromtimestamp(decided_at, dt.timezone.utc).isoformat() if decided_at else None
        self.standing = {"status": status, "decided_by": decided_by, "decided_at": at, "reason": reason}


class InvalidParent(YaynayError):
    """A reply names a comment that is not an approved comment of the same thread."""

    status_code = 422

    def __init__(self, parent_id: str):
        super().__init__(
            "The comment replied to is not a published comment of this thread.",
            errors={"json": {"parent_id": [f"No published comment {parent_id!r} in this thread."]}},
        )


class ThreadLimitReached(YaynayError):
    status_code = 409

