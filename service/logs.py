"""How yaynay logs: one JSON object a line in production, readable text in development.

``logging_config`` is the ``logconfig_dict`` of ``service/gunicorn_conf.py``: the master
applies it before forking, so the workers, the app and gunicorn's own lines share one
handler on standard error. gunicorn's access log stays off; the app writes its own
(``service/api/observe.py``), which knows the route and the request id, through
``AccessLog``: the same line the ``yaynay.access`` logger would write, in batches.

No line may carry a reader's IP address, e-mail address or token. The app's lines are
built without them; gunicorn's may hold a client address (``Invalid request from
ip=...``), so ``Scrub`` replaces addresses, e-mail addresses and bearer tokens in them.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import re
import sys
import threading
import time
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

ACCESS_LOGGER = "yaynay.access"

_IPV4 = r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])"
_IPV6 = r"(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_BEARER = r"(?i:bearer)\s+\S+"
_SECRETS = re.compile("|".join(f"(?:{pattern})" for pattern in (_BEARER, _EMAIL, _IPV4, _IPV6)))
# gunicorn's own lines that name the server's address, not a client's.
_OWN_ADDRESS = ("Listening at", "Starting gunicorn")


class Scrub(logging.Filter):
    """Replaces IP addresses, e-mail addresses and bearer tokens in gunicorn's lines with ``[hidden]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("gunicorn"):
            return True
        message = record.getMessage()
        if message.startswith(_OWN_ADDRESS):
            return True
        scrubbed = _SECRETS.sub("[hidden]", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def logging_config(*, json_lines: bool, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: everything to standard error, in JSON or text."""
    formatter: dict[str, Any] = (
        {
            "()": JsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if json_lines
        else {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(details)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "line",
        "filters": ["scrub"],
    }
    quiet = {"level": level.upper(), "handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "filters": {"scrub": {"()": Scrub}},
        "handlers": {"stderr": handler},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": quiet,
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


# What a LogRecord holds before any ``extra``: the text format shows the rest as key=value.
_STANDARD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "details"}


class TextFormatter(logging.Formatter):
    """Development's format: a line of text, the ``extra`` fields after it as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD_FIELDS}
        record.details = "".join(f" {key}={value}" for key, value in extra.items())
        return super().format(record)


class AccessLog:
    """Every request's access line, written to standard error in batches.

    The line is the one the ``yaynay.access`` logger would write through ``logging_config``'s
    formatter (JSON or text, the same fields in the same order; tests/test_logs.py holds them
    equal), built here instead: through ``logging`` a line cost 40 to 55 µs of a 300 µs
    cached read inside a gevent worker (the record, the handler's lock, the formatter and a
    write a line; docs/performance.md), this way about a fifth of that. Lines gathered are
    written together every ``flush_seconds``, at ``batch`` lines and at exit, as nginx's
    ``access_log ... buffer= flush=`` does; the price is that a worker killed by SIGKILL
    loses its last ``flush_seconds`` of access lines. With ``flush_seconds`` 0 each line is
    written at once; an interval under ``SHORTEST_INTERVAL`` is taken as that (a flusher
    waking ten thousand times a second would cost more than the lines).
    """

    SHORTEST_INTERVAL = 0.05

    def __init__(self, *, json_lines: bool, flush_seconds: float, batch: int = 200, stream: TextIO | None = None):
        self.json_lines = json_lines
        self.flush_seconds = max(flush_seconds, self.SHORTEST_INTERVAL) if flush_seconds else 0.0
        self.batch = batch if flush_seconds else 1
        self._stream = stream
        # deque's append and popleft are atomic: threads (gthread workers) need no lock.
        self._lines: collections.deque[str] = collections.deque()
        self._flusher_pid = 0
        self._second = -1
        self._second_text = ""
        atexit.register(self.flush)

    def write(self, request_id: str, method: str, route: str, status: int, duration: float) -> None:
        """Log one request (``duration`` in seconds)."""
        now = time.time()
        second = int(now)
        if second != self._second:  # logging's asctime: local time, then milliseconds
            self._second, self._second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        stamp = f"{self._second_text},{int((now - second) * 1000):03d}"
        milliseconds = duration * 1000
        message = f"{method} {route} {status} {milliseconds:.1f} ms"
        duration_ms = round(milliseconds, 2)
        if self.json_lines:
            line = json.dumps(
                {
                    "time": stamp,
                    "level": "INFO",
                    "logger": ACCESS_LOGGER,
                    "message": message,
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                }
            )
        else:
            line = (
                f"{stamp} INFO    {ACCESS_LOGGER}: {message} request_id={request_id} method={method} "
                f"route={route} status={status} duration_ms={duration_ms}"
            )
        self._lines.append(line)
        if len(self._lines) >= self.batch:
            self.flush()
        elif self._flusher_pid != os.getpid():
            self._start_flusher()

    def flush(self) -> None:
        """Write the lines gathered so far, in one write."""
        lines = []
        try:
            while True:
                lines.append(self._lines.popleft())
        except IndexError:
            pass
        if lines:
            stream = self._stream or sys.stderr
            try:
                stream.write("\n".join(lines) + "\n")
                stream.flush()
            except (OSError, ValueError):  # standard error closed or gone: nothing to tell it
                pass

    def _start_flusher(self) -> None:
        # One flusher a process, started by its first line (a forked worker has none of its master's threads).
        self._flusher_pid = os.getpid()

        def flush_every_interval() -> None:
            while True:
                time.sleep(self.flush_seconds)
                self.flush()

        threading.Thread(target=flush_every_interval, name="access-log-flusher", daemon=True).start()
