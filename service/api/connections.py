"""The connection budget at the WSGI level, before Flask: stalled bodies and surplus streams.

``BodyDeadline``: a request body that stalls is cut off with 408 after REQUEST_TIMEOUT seconds.

gunicorn bounds the wait for a request's headers (its ``keepalive`` seconds, under gevent)
but not for its body: a client announcing ``Content-Length: 16000`` and sending nothing
held a connection for more than 90 s, and a few thousand of them filled a worker. So the
body, at most MAX_CONTENT_LENGTH bytes, is read here in full before the app sees it, under
one gevent Timeout for the whole of it; the app then reads it from memory. A larger
announced body is left unread: Flask refuses it with 413 without reading.

Only under gevent (the default worker class): a Timeout cannot interrupt a thread's
blocking read, so with other workers the deadline is a proxy's job (see the README).

``StreamGate``: a live stream over the budget (``core/streams.py``) is refused here, without
Flask. One client opening 2,000 streams at once had every other request wait up to 3.7 s
behind the refusals when Flask made each; the view still counts the streams it admits.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from service.core.streams import StreamBudget
from service.error_shape import error_body

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def gevent_is_serving() -> bool:
    """True when gevent has patched sockets: only then can a Timeout cut a read short."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def is_chunked(environ: dict[str, Any]) -> bool:
    """True for a body sent in chunks, whose length is known only at its end."""
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


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
        except (gevent.Timeout, OSError):  # too slow, or the client left mid-body
            self._stop_reading(environ)
            message = f"The request body did not arrive within {self.seconds:g} seconds."
            return json_answer(start_response, 408, message)
        if len(body) < expected and not is_chunked(environ):
            # The client left mid-body: nobody reads the answer, so Flask need not make it
            # (2,000 attackers leaving at once kept the workers busy 4.5 s through Flask).
            self._stop_reading(environ)
            return json_answer(start_response, 400, "The request body ended before its Content-Length.")
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _expected_length(self, environ: dict[str, Any]) -> int | None:
        """How many bytes to read up front: the announced length, or one more than the most a
        chunked body may have (so Flask still sees it is too large); None: read nothing."""
        if is_chunked(environ):
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


STREAM_PATH = re.compile(r"/api/v1/polls/[^/]+/events")


class StreamGate:
    """WSGI middleware: answers 429 at once to a live stream the worker's budget refuses."""

    def __init__(self, app: WsgiApp, budget: StreamBudget):
        self.app = app
        self.budget = budget

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and STREAM_PATH.fullmatch(environ.get("PATH_INFO", "")):
            refused = self.budget.refusal(environ.get("REMOTE_ADDR") or "unknown")
            if refused is not None:
                return json_answer(start_response, 429, refused.message, retry_after=refused.retry_after)
        return self.app(environ, start_response)


def json_answer(
    start_response: Callable[..., Any], status_code: int, message: str, *, retry_after: int | None = None
) -> list[bytes]:
    """An answer in the one error shape, made without Flask."""
    body = json.dumps(error_body(status_code, message)).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    start_response(f"{status_code} {HTTPStatus(status_code).phrase}", headers)
    return [body]
