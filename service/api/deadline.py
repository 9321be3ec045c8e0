"""A deadline on request bodies: one that stalls is cut off with 408 after REQUEST_TIMEOUT seconds.

gunicorn bounds the wait for a request's headers (its ``keepalive`` seconds, under gevent)
but not for its body: a client announcing ``Content-Length: 16000`` and sending nothing
held a connection for more than 90 s, and a few thousand of them filled a worker. So the
body, at most MAX_CONTENT_LENGTH bytes, is read here in full before the app sees it, under
one gevent Timeout for the whole of it; the app then reads it from memory. A larger
announced body is left unread: Flask refuses it with 413 without reading.

Only under gevent (the default worker class): a Timeout cannot interrupt a thread's
blocking read, so with other workers the deadline is a proxy's job (see the README).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import Callable, Iterable
from typing import Any

from service.api.errors import error_body

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def gevent_is_serving() -> bool:
    """True when gevent has patched sockets: only then can a Timeout cut a read short."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


class BodyDeadline:
    """WSGI middleware: reads each request's body within ``seconds``, or answers 408 and closes."""

    def __init__(self, app: WsgiApp, *, seconds: float, max_length: int):
        self.app = app
        self.seconds = seconds
        self.max_length = max_length

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        expected = self._expected_length(environ)
        if expected is None or not gevent_is_serving():
            return self.app(environ, start_response)
        import gevent

        try:
            with gevent.Timeout(self.seconds):
                body = environ["wsgi.input"].read(expected)
        except gevent.Timeout:
            self._stop_reading(environ)
            return self._too_slow(start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _expected_length(self, environ: dict[str, Any]) -> int | None:
        """How many bytes to read up front: the announced length, or one more than the most a
        chunked body may have (so Flask still sees it is too large); None: read nothing."""
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.max_length + 1
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Flask refuses it
        return length if 0 < length <= self.max_length else None

    @staticmethod
    def _stop_reading(environ: dict[str, Any]) -> None:
        """End the connection once the 408 is written: gunicorn drops a ``Connection: close``
        header and would first wait its keep-alive out for the rest of the body; with the
        reading side shut, that wait ends at once and the connection closes."""
        connection = environ.get("gunicorn.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)

    def _too_slow(self, start_response: Callable[..., Any]) -> list[bytes]:
        message = f"The request body did not arrive within {self.seconds:g} seconds."
        body = json.dumps(error_body(408, message)).encode()
        start_response(
            "408 Request Timeout",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [body]
