"""The access line: the same line ``logging`` would write, gathered and written in batches."""

import io
import json
import logging
import time

import pytest

from service import logs
from service.logs import ACCESS_LOGGER, AccessLog

ROUTE = "/api/v1/polls/<resource_id:poll_id>"


def line_through_logging(json_lines: bool, created: float) -> str:
    """The access line as the ``yaynay.access`` logger would write it with ``logging_config``'s formatter."""
    spec = dict(logs.logging_config(json_lines=json_lines, level="info")["formatters"]["line"])
    formatter = spec.pop("()")(**spec)
    record = logging.getLogger(ACCESS_LOGGER).makeRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1f ms",
        ("GET", ROUTE, 200, 12.3456),
        None,
        extra={"request_id": "0123abcd", "method": "GET", "route": ROUTE, "status": 200, "duration_ms": 12.35},
    )
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    return formatter.format(record) + "\n"


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_the_access_line_is_the_line_logging_would_write(json_lines, monkeypatch):
    created = 1_796_400_000.25
    monkeypatch.setattr(time, "time", lambda: created)
    stream = io.StringIO()
    access_log = AccessLog(json_lines=json_lines, flush_seconds=0, stream=stream)
    access_log.write("0123abcd", "GET", ROUTE, 200, 0.0123456)
    expected = line_through_logging(json_lines, created)
    if json_lines:
        assert json.loads(stream.getvalue()) == json.loads(expected)
        assert list(json.loads(stream.getvalue())) == list(json.loads(expected))  # the same order too
    else:
        assert stream.getvalue() == expected


def test_lines_are_gathered_then_written_together_within_the_interval():
    stream = io.StringIO()
    access_log = AccessLog(json_lines=True, flush_seconds=0.2, stream=stream)
    for n in range(3):
        access_log.write(f"id{n}", "POST", ROUTE, 200, 0.001)
    assert stream.getvalue() == ""  # gathered, not yet written
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == ["id0", "id1", "id2"]


def test_a_full_batch_is_written_at_once_and_flush_writes_the_rest():
    stream = io.StringIO()
    access_log = AccessLog(json_lines=False, flush_seconds=60, batch=5, stream=stream)
    for n in range(7):
        access_log.write(f"id{n}", "GET", ROUTE, 304, 0.001)
    assert stream.getvalue().count("\n") == 5
    access_log.flush()
    assert stream.getvalue().count("\n") == 7


def test_with_no_interval_each_line_is_written_at_once():
    stream = io.StringIO()
    access_log = AccessLog(json_lines=True, flush_seconds=0, stream=stream)
    access_log.write("id0", "GET", ROUTE, 200, 0.001)
    assert json.loads(stream.getvalue())["request_id"] == "id0"
