"""Metrics and logs of the real server: scrape /metrics after votes and a comment, read the JSON lines."""

import json
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN, gunicorn_server
from tests.e2e.test_gunicorn import request

METRICS_TOKEN = "scraper-token"
SECRET_EMAIL = "reader-secret@mail.example"
VOTES_ROUTE = "/api/v1/polls/<resource_id:poll_id>/votes"


@pytest.fixture
def server_env():
    return {"YAYNAY_METRICS_TOKEN": METRICS_TOKEN, "YAYNAY_LOG_FORMAT": "json"}


def make_poll(server, poll_id="mini-backpacks"):
    status, _, _ = request(
        "PUT",
        f"{server}/api/v1/polls/{poll_id}",
        {"question": "Are you YAY or NAY on mini backpacks?"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert status == 201


def vote(server, poll_id, choice, voter):
    return request("POST", f"{server}/api/v1/polls/{poll_id}/votes", {"choice": choice, "voter": voter})


def comment(server, thread_id, body, **fields):
    return request("POST", f"{server}/api/v1/threads/{thread_id}/comments", {"author": "Ada", "body": body, **fields})


def scrape(server, token=METRICS_TOKEN):
    status, headers, text = request("GET", f"{server}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_votes_comments_and_requests_across_workers(live_server):
    make_poll(live_server)
    assert vote(live_server, "mini-backpacks", "yay", "reader-token-one")[0] == 200
    assert vote(live_server, "mini-backpacks", "nay", "reader-token-one")[0] == 200
    assert vote(live_server, "mini-backpacks", "nay", "reader-token-two")[0] == 200
    assert vote(live_server, "no-such-poll", "yay", "reader-token-one")[0] == 404
    assert comment(live_server, "mini-backpacks", "Love them.")[0] == 202
    request("GET", f"{live_server}/api/v1/polls/mini-backpacks")

    found = scrape(live_server)

    assert found[("yaynay_votes_total", (("outcome", "cast"),))] == 2
    assert found[("yaynay_votes_total", (("outcome", "changed"),))] == 1
    assert found[("yaynay_votes_refused_total", (("reason", "PollNotFound"),))] == 1
    assert found[("yaynay_comments_total", (("outcome", "pending"),))] == 1
    assert found[("yaynay_requests_total", (("method", "POST"), ("route", VOTES_ROUTE), ("status", "200")))] == 3
    assert found[("yaynay_request_duration_seconds_count", (("operation", "vote"),))] == 4
    assert found[("yaynay_request_duration_seconds_count", (("operation", "comment"),))] == 1
    assert found[("yaynay_request_duration_seconds_count", (("operation", "tally"),))] == 1
    assert found[("yaynay_pending_comments", ())] == 1
    assert 0 <= found[("yaynay_oldest_pending_comment_age_seconds", ())] < 60
    assert ("yaynay_streams_open", ()) in found
    assert found[("yaynay_read_cache_total", (("result", "miss"),))] >= 1


def test_metrics_answer_an_admin_token_and_refuse_anyone_else(live_server):
    assert scrape(live_server, token=ADMIN_TOKEN)
    status, headers, body = request("GET", f"{live_server}/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert body["code"] == 401
    status, _, _ = request("GET", f"{live_server}/metrics", headers={"Authorization": "Bearer guess"})
    assert status == 401


def log_lines(server_log):
    return [line for line in server_log.read_text().splitlines() if line.strip()]


def wait_for_line(server_log, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_lines(server_log):
            if predicate(line):
                return line
        time.sleep(0.05)
    pytest.fail("no such log line:\n" + server_log.read_text())


def test_every_line_is_json_with_a_request_id_and_never_an_ip_email_or_token(live_server, server_log):
    make_poll(live_server)
    status, headers, _ = comment(
        live_server, "mini-backpacks", "Mine holds a phone.", email=SECRET_EMAIL, voter="reader-token-one"
    )
    assert status == 202
    request_id = headers["X-Request-ID"]
    # gunicorn's own line about a malformed request names the client's address: hidden.
    with socket.create_connection(("127.0.0.1", int(live_server.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        raw.recv(1024)
    # An id sent by a client that came through no trusted proxy is not taken.
    _, headers, _ = request("GET", f"{live_server}/healthz", headers={"X-Request-ID": "client-chosen-id"})
    assert headers["X-Request-ID"] != "client-chosen-id"

    line = wait_for_line(server_log, lambda line: request_id in line)
    entry = json.loads(line)
    assert entry["request_id"] == request_id
    assert (entry["method"], entry["route"], entry["status"]) == (
        "POST",
        "/api/v1/threads/<resource_id:thread_id>/comments",
        202,
    )
    assert entry["duration_ms"] >= 0 and entry["level"] == "INFO"
    wait_for_line(server_log, lambda line: "/healthz" in line)
    wait_for_line(server_log, lambda line: "Invalid request" in line)

    for line in log_lines(server_log):
        entry = json.loads(line)  # every line is one JSON object, gunicorn's included
        assert SECRET_EMAIL not in line and ADMIN_TOKEN not in line and "reader-token-one" not in line
        if "Listening at" not in entry["message"]:
            assert "127.0.0.1" not in line, line


def test_a_refused_origin_is_logged_with_the_setting_that_allows_it(live_server, server_log):
    make_poll(live_server)
    request("GET", f"{live_server}/api/v1/polls/mini-backpacks", headers={"Origin": "https://other.example"})
    line = wait_for_line(server_log, lambda line: "https://other.example" in line)
    assert "YAYNAY_ALLOWED_ORIGINS" in json.loads(line)["message"]


def test_a_forwarded_request_without_proxy_hops_is_warned_of(live_server, server_log):
    request("GET", f"{live_server}/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    line = wait_for_line(server_log, lambda line: "PROXY_HOPS" in line)
    assert json.loads(line)["level"] == "WARNING"
    assert "203.0.113.9" not in server_log.read_text()


def test_access_lines_are_gathered_and_written_when_a_worker_stops(redis_url, redis_client, tmp_path):
    """With a long interval the lines wait in the worker; stopping the server writes them."""
    env = {"YAYNAY_LOG_FORMAT": "json", "YAYNAY_ACCESS_LOG_FLUSH_INTERVAL": "10"}
    with gunicorn_server(redis_url, tmp_path, env) as (base, _):
        status, headers, _ = request("GET", f"{base}/healthz")
        assert status == 200
        request_id = headers["X-Request-ID"]
        time.sleep(0.5)
        assert request_id not in (tmp_path / "gunicorn.log").read_text()  # gathered, not yet written
    [line] = [line for line in log_lines(tmp_path / "gunicorn.log") if request_id in line]
    assert json.loads(line)["route"] == "/healthz"
