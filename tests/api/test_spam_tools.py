"""Moderators' spam tools through the API: blocklist, bans, trusted authors, the surge hold,
the Akismet-compatible content check; and each poll's vote-integrity figures."""

import contextlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service import create_app, metrics

QUEUE = "/api/v1/moderation/queue"
BLOCKLIST = "/api/v1/moderation/blocklist"
BANS = "/api/v1/moderation/bans"


def post_comment(client, ip="203.0.113.7", thread="mini-backpacks", **fields):
    body = {"author": "Ann", "body": "Tiny and useless. NAY.", **fields}
    return client.post(f"/api/v1/threads/{thread}/comments", json=body, environ_base={"REMOTE_ADDR": ip})


def submitted(client, **fields):
    response = post_comment(client, **fields)
    assert response.status_code == (201 if response.json.get("status") == "approved" else 202), response.json
    return response.json


def queued(client, admin, status="pending"):
    return {
        entry["id"]: entry
        for entry in client.get(QUEUE, headers=admin, query_string={"status": status}).json["comments"]
    }


def block(client, admin, kind, value, action="hold"):
    response = client.post(BLOCKLIST, json={"kind": kind, "value": value, "action": action}, headers=admin)
    assert response.status_code == 201, response.json
    return response.json


def test_a_blocklisted_word_holds_the_comment_with_the_reason(client, admin):
    block(client, admin, "word", "Cheap Pills")
    held = submitted(client, body="Buy cheap   pills here")
    clean = submitted(client, body="Cheapskate pillsbury", ip="198.51.100.1")
    entries = queued(client, admin)
    assert entries[held["id"]]["signals"]["held_reason"] == "blocklist word: cheap pills"
    assert entries[clean["id"]]["signals"]["held_reason"] is None


def test_a_rejecting_rule_stores_the_comment_as_rejected_but_answers_as_held(client, admin, settings):
    block(client, admin, "domain", "spam.example", action="reject")
    answer = submitted(client, body="Visit https://shop.spam.example/now")
    assert answer["status"] == "pending"
    (entry,) = queued(client, admin, "rejected").values()
    assert entry["id"] == answer["id"]
    assert entry["signals"]["held_reason"] == "blocklist domain: spam.example"
    assert not queued(client, admin)


@pytest.mark.parametrize("kind", ["email", "ip"])
def test_email_and_ip_rules_match_the_digests(client, admin, kind):
    first = submitted(client, email="Spammer@Example.com")
    ip_hash = queued(client, admin)[first["id"]]["ip_hash"]
    rule = block(client, admin, kind, "spammer@example.com" if kind == "email" else ip_hash, action="reject")
    assert "spammer" not in rule["value"]
    submitted(client, email="spammer@example.com", body="Again")
    assert len(queued(client, admin, "rejected")) == 1


def test_rules_are_listed_and_deleted(client, admin):
    rule = block(client, admin, "word", "viagra")
    assert [r["id"] for r in client.get(BLOCKLIST, headers=admin).json["rules"]] == [rule["id"]]
    assert client.delete(f"{BLOCKLIST}/{rule['id']}", headers=admin).status_code == 204
    assert client.delete(f"{BLOCKLIST}/{rule['id']}", headers=admin).status_code == 404
    assert client.get(BLOCKLIST, headers=admin).json["rules"] == []
    submitted(client, body="viagra")
    assert next(iter(queued(client, admin).values()))["signals"]["held_reason"] is None


def test_the_blocklist_needs_a_moderator_and_valid_fields(client, admin):
    assert client.get(BLOCKLIST).status_code == 401
    bad = client.post(BLOCKLIST, json={"kind": "colour", "value": "x"}, headers=admin)
    assert bad.status_code == 422 and "kind" in bad.json["errors"]["json"]


def test_a_ban_rejects_the_clients_next_comments_quietly_until_lifted_or_over(client, admin, clock):
    first = submitted(client, email="troll@example.com")
    response = client.post(BANS, json={"comment_id": first["id"], "email": True, "duration": 3600}, headers=admin)
    assert response.status_code == 201, response.json
    ban = response.json
    assert ban["email_digest"] and ban["ip_hash"] is None
    again = submitted(client, email="TROLL@example.com", body="Again", ip="198.51.100.9")
    assert again["status"] == "pending"
    assert queued(client, admin, "rejected")[again["id"]]["signals"]["held_reason"] == "banned"
    assert [b["id"] for b in client.get(BANS, headers=admin).json["bans"]] == [ban["id"]]

    clock.advance(3601)
    assert client.get(BANS, headers=admin).json["bans"] == []
    later = submitted(client, email="troll@example.com", body="Later")
    assert later["id"] in queued(client, admin)


def test_an_ip_ban_is_revocable(client, admin):
    first = submitted(client)
    ban = client.post(BANS, json={"comment_id": first["id"], "ip": True}, headers=admin).json
    submitted(client, body="Second")
    assert len(queued(client, admin, "rejected")) == 1
    assert client.delete(f"{BANS}/{ban['id']}", headers=admin).status_code == 204
    third = submitted(client, body="Third")
    assert third["id"] in queued(client, admin)


def test_a_ban_names_what_it_bans(client, admin):
    first = submitted(client)
    assert client.post(BANS, json={"comment_id": first["id"]}, headers=admin).status_code == 409
    assert client.post(BANS, json={"comment_id": first["id"], "email": True}, headers=admin).status_code == 409
    assert client.post(BANS, json={"comment_id": first["id"], "ip": "yes"}, headers=admin).status_code == 422
    missing = client.post(BANS, json={"comment_id": "mini-backpacks.aaaaaaaa", "ip": True}, headers=admin)
    assert missing.status_code == 404


@contextlib.contextmanager
def client_with(settings, **overrides):
    """A test client of an app made with these settings changed."""
    settings.update(overrides)
    app = create_app(settings)
    try:
        yield app.test_client()
    finally:
        app.extensions["yaynay"].close()


def test_trusted_authors_are_published_after_enough_approvals(settings, redis_client, admin):
    with client_with(settings, TRUSTED_AFTER_APPROVED=2) as client:
        trusted_after_two_approvals(client, admin)


def trusted_after_two_approvals(client, admin):
    for body in ("One", "Two"):
        answer = submitted(client, email="ann@example.com", body=body, ip=f"198.51.100.{len(body)}")
        assert answer["status"] == "pending"
        client.post(f"/api/v1/moderation/comments/{answer['id']}", json={"action": "approve"}, headers=admin)
    assert submitted(client, email="ann@example.com", body="Three")["status"] == "approved"
    assert submitted(client, email="bob@example.com", body="Other", ip="198.51.100.20")["status"] == "pending"

    fourth = submitted(client, email="ann@example.com", body="Four", ip="198.51.100.21")
    client.post(
        f"/api/v1/moderation/comments/{fourth['id']}", json={"action": "reject", "from": "approved"}, headers=admin
    )
    assert submitted(client, email="ann@example.com", body="Five", ip="198.51.100.22")["status"] == "pending"


def test_a_surge_holds_comments_with_moderation_off_until_the_next_hour(settings, redis_client, clock, admin):
    before = metrics.SPAM_TOOLS.labels("surge")._value.get()
    with client_with(settings, MODERATION="off", PENDING_SURGE_PER_HOUR=2) as client:
        statuses = [submitted(client, body=f"Comment {n}", ip=f"198.51.100.{n}")["status"] for n in range(3)]
        assert statuses == ["approved", "approved", "pending"]
        (held,) = queued(client, admin).values()
        assert held["signals"]["held_reason"] == "surge"
        assert metrics.SPAM_TOOLS.labels("surge")._value.get() == before + 1
        clock.advance(3600)
        assert submitted(client, body="Calm again", ip="198.51.100.99")["status"] == "approved"


class _Akismet(BaseHTTPRequestHandler):
    answer = b"false"
    delay = 0.0
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        type(self).seen.append((self.path, form))
        if self.delay:
            threading.Event().wait(self.delay)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(self.answer)
        except OSError:
            pass  # the client gave up (the timeout case): nothing to answer

    def log_message(self, *args):
        pass


@pytest.fixture
def akismet():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Akismet)
    _Akismet.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def checked_client(settings, redis_client, akismet):
    with client_with(
        settings,
        AKISMET_KEY="test-key",
        AKISMET_ENDPOINT=f"http://127.0.0.1:{akismet.server_address[1]}",
        AKISMET_BLOG="https://news.example",
        AKISMET_TIMEOUT=0.5,
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("answer", "delay", "status", "reason"),
    [
        (b"false", 0, "pending", None),
        (b"true", 0, "spam", "content check: spam"),
        (b"invalid", 0, "pending", "content check failed"),
        (b"false", 2.0, "pending", "content check failed"),
    ],
)
def test_the_content_check_decides_spam_and_never_loses_a_comment(
    checked_client, admin, monkeypatch, answer, delay, status, reason
):
    monkeypatch.setattr(_Akismet, "answer", answer)
    monkeypatch.setattr(_Akismet, "delay", delay)
    reply = submitted(checked_client, body="Is this spam?", email="ann@example.com")
    assert reply["status"] == "pending"
    entry = queued(checked_client, admin, status)[reply["id"]]
    assert entry["signals"]["held_reason"] == reason
    path, form = _Akismet.seen[0]
    assert path == "/1.1/comment-check"
    assert form["api_key"] == ["test-key"] and form["blog"] == ["https://news.example"]
    assert form["comment_content"] == ["Is this spam?"] and form["user_ip"] == ["203.0.113.7"]


def test_an_unreachable_content_check_holds_the_comment(settings, redis_client, admin):
    with client_with(settings, AKISMET_KEY="k", AKISMET_ENDPOINT="http://127.0.0.1:9", AKISMET_TIMEOUT=0.5) as client:
        reply = submitted(client)
        assert queued(client, admin)[reply["id"]]["signals"]["held_reason"] == "content check failed"


# -- vote integrity ---------------------------------------------------------------------


def vote(client, choice, voter, ip):
    return client.post(
        "/api/v1/polls/mini-backpacks/votes", json={"choice": choice, "voter": voter}, environ_base={"REMOTE_ADDR": ip}
    )


def test_vote_integrity_shows_a_brigade(settings, redis_client, clock, admin):
    with client_with(settings, VOTERS_PER_IP_PER_DAY=3, VOTE_RATE_LIMIT="1000/minute") as client:
        client.put("/api/v1/polls/mini-backpacks", json={"question": "YAY or NAY?"}, headers=admin)
        for n in range(5):  # a brigade from one network: 3 new voters, then 2 refused
            vote(client, "nay", f"brigade-voter-{n:04d}", "198.51.100.7")
        clock.advance(60)
        vote(client, "yay", "a-lone-reader-0001", "203.0.113.1")
        vote(client, "nay", "a-lone-reader-0001", "203.0.113.1")  # a change
        vote(client, "nay", "a-lone-reader-0001", "203.0.113.1")  # a repeat counts nothing
        report = client.get("/api/v1/moderation/polls/mini-backpacks/integrity", headers=admin)
        assert report.status_code == 200, report.json
        figures = report.json
        assert figures["new_voters"] == 4
        assert figures["refused_new_voters"] == 2
        assert figures["refused_share"] == pytest.approx(2 / 6, abs=1e-4)
        assert figures["changes"] == 1
        assert len(figures["votes_per_minute"]) == 60
        assert [m["votes"] for m in figures["votes_per_minute"][-2:]] == [3, 2]
        busiest = figures["busiest_ips"]
        assert [ip["count"] for ip in busiest] == [5, 2]
        assert "198.51.100.7" not in busiest[0]["ip_hash"]
        assert client.get("/api/v1/moderation/polls/no-such-poll/integrity", headers=admin).status_code == 404
        assert client.get("/api/v1/moderation/polls/mini-backpacks/integrity").status_code == 401


def test_a_rule_needs_a_visible_value(client, admin):
    blank = client.post(BLOCKLIST, json={"kind": "word", "value": " \t"}, headers=admin)
    assert blank.status_code == 422 and "value" in blank.json["errors"]["json"]
    odd = client.post(BLOCKLIST, json={"kind": "ip", "value": "\u3000"}, headers=admin)
    assert odd.status_code == 201 and odd.json["value"]
