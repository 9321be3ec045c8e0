"""The one error shape, ``{"code", "status", "message", "errors"}``, as plain data.

``api/errors.py`` answers every refusal with it; gunicorn's own refusals use it too
(``write_server_error``), from a module that imports no Flask, since gunicorn's master
must not import the app.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


def error_body(status_code: int, message: str, errors_by_location: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of every error answer; ``errors`` names the fields at fault by location."""
    return {
        "code": status_code,
        "status": HTTPStatus(status_code).phrase,
        "message": message,
        "errors": errors_by_location or {},
    }


def write_server_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Stands in for gunicorn's ``util.write_error``: the requests gunicorn refuses before the app
    sees them (a request line or header over its limits, a malformed request) are answered in
    the one JSON error shape too. What the client sent is not echoed back."""
    from gunicorn.util import write_nonblock

    body = json.dumps(error_body(status_int, f"gunicorn refused the request: {reason}.")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    write_nonblock(sock, head.encode("latin1") + body)
