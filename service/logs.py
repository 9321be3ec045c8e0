"""How yaynay logs: one JSON object a line in production, readable text in development.

``logging_config`` is the ``logconfig_dict`` of ``service/gunicorn_conf.py``: the master
applies it before forking, so the workers, the app and gunicorn's own lines share one
handler on standard error. gunicorn's access log stays off; the app writes its own
(``service/api/observe.py``), which knows the route and the request id.

No line may carry a reader's IP address, e-mail address or token. The app's lines are
built without them; gunicorn's may hold a client address (``Invalid request from
ip=...``), so ``Scrub`` replaces addresses, e-mail addresses and bearer tokens in them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

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
