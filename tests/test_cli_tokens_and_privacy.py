"""Moderator tokens and privacy requests, made with the ``yaynay`` command and checked through the API.

The command runs as a subprocess on the test Redis with the test app's secret key, so
the tokens it creates and the email digests it computes are the ones the in-test app uses.
Redis is inspected key by key to check what is (and is not) stored at rest.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from service.core import moderation, privacy
from service.core.moderation import DecisionRequest

ANN = "ann@example.com"
BOB = "bob@example.com"
MODERATION = "/api/v1/moderation"
STATUSES = ("pending", "approved", "rejected", "spam")


# -- helpers ----------------------------------------------------------------------


def create_token(yaynay, name: str, role: str = "moderator") -> str:
    """``yaynay token create``; the token is the one line on stdout."""
    result = yaynay("token", "create", "--name", name, "--role", role)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert len(lines[0]) >= 32
    return lines[0]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, code: int) -> None:
    """The one JSON error shape."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.is_json
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert response.json["code"] == code
    assert response.json["message"]


def assert_unauthorized(response) -> None:
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def submit_comment(client, thread: str, body: str, *, email: str | None, ip: str, author: str = "Ann") -> str:
    """Submit a comment through the JSON API from client address ``ip``; return its id."""
    payload = {"author": author, "body": body, **({"email": email} if email else {})}
    response = client.post(f"/api/v1/threads/{thread}/comments", json=payload, environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 202, response.json
    assert response.json["status"] == "pending"
    return response.json["id"]


def decide(client, headers: dict, comment_id: str, action: str):
    return client.post(f"{MODERATION}/comments/{comment_id}", json={"action": action}, headers=headers)


def queue_ids(client, headers: dict) -> set[str]:
    """Ids of every comment in the moderation queue, whatever its status."""
    ids = set()
    for status in STATUSES:
        response = client.get(f"{MODERATION}/queue", query_string={"status": status, "limit": 100}, headers=headers)
        assert response.status_code == 200, response.json
        ids |= {comment["id"] for comment in response.json["comments"]}
    return ids


def log_entries(client, headers: dict) -> list[dict]:
    response = client.get(f"{MODERATION}/log", query_string={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["entries"]


def stored_bytes(redis_client) -> dict[bytes, bytes]:
    """Every key with everything it holds: its DUMP and its contents read by type.

    DUMP alone is not enough to prove a string absent: RDB serialisation may
    LZF-compress values longer than 20 bytes, so the contents are read out too.
    """
    contents = {}
    for key in redis_client.scan_iter(count=1000):
        kind = redis_client.type(key).decode()
        if kind == "string":
            parts = [redis_client.get(key)]
        elif kind == "hash":
            parts = [item for pair in redis_client.hgetall(key).items() for item in pair]
        elif kind == "set":
            parts = list(redis_client.smembers(key))
        elif kind == "zset":
            parts = redis_client.zrange(key, 0, -1)
        elif kind == "list":
            parts = redis_client.lrange(key, 0, -1)
        elif kind == "stream":
            parts = [item for _, fields in redis_client.xrange(key) for pair in fields.items() for item in pair]
        else:
            raise AssertionError(f"unexpected Redis type {kind} of {key!r}")
        contents[key] = b"\0".join([key, redis_client.dump(key) or b"", *(part or b"" for part in parts)])
    return contents


def keys_holding(redis_client, needle: str) -> list[bytes]:
    """Keys whose name, DUMP or contents contain ``needle``, case-insensitively."""
    wanted = needle.lower().encode()
    return [key for key, blob in stored_bytes(redis_client).items() if wanted in blob.lower()]


# -- tokens -----------------------------------------------------------------------


def test_a_moderator_token_from_the_cli_moderates_and_signs_its_decisions(yaynay, client, admin):
    token = create_token(yaynay, "maria", "moderator")
    comment_id = submit_comment(client, "mini-backpacks", "Love them.", email=None, ip="198.51.100.1")

    queue = client.get(f"{MODERATION}/queue", headers=bearer(token))
    assert queue.status_code == 200, queue.json
    assert [comment["id"] for comment in queue.json["comments"]] == [comment_id]

    decision = decide(client, bearer(token), comment_id, "approve")
    assert decision.status_code == 200, decision.json
    assert decision.json["moderator"] == "maria"
    [entry] = log_entries(client, bearer(token))
    assert (entry["comment_id"], entry["action"], entry["moderator"]) == (comment_id, "approve", "maria")


def test_a_moderator_token_is_refused_admin_work_and_an_admin_token_is_not(yaynay, client):
    moderator = create_token(yaynay, "maria", "moderator")
    boss = create_token(yaynay, "olga", "admin")
    poll = {"question": "Are you YAY or NAY on mini backpacks?"}

    refused = client.put("/api/v1/polls/x", json=poll, headers=bearer(moderator))
    assert_error(refused, 403)
    assert "maria" in refused.json["message"]
    assert client.get("/api/v1/polls/x").status_code == 404

    created = client.put("/api/v1/polls/x", json=poll, headers=bearer(boss))
    assert created.status_code == 201, created.json
    assert created.json["question"] == poll["question"]
    # An admin is a moderator too.
    assert client.get(f"{MODERATION}/queue", headers=bearer(boss)).status_code == 200


def test_only_the_sha256_of_a_token_is_stored(yaynay, redis_client):
    token = create_token(yaynay, "maria")
    assert keys_holding(redis_client, token) == []
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert keys_holding(redis_client, digest), "the token's SHA-256 should be stored"


def test_token_list_shows_each_holder_and_role(yaynay, redis_client):
    create_token(yaynay, "maria", "moderator")
    create_token(yaynay, "olga", "admin")
    listed = yaynay("token", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[:2] for row in rows] == [["maria", "moderator"], ["olga", "admin"]]
    assert all(len(row) == 4 and row[2] and row[3] == "expires never" for row in rows)


def test_a_token_made_to_expire_is_refused_after_its_expiry(yaynay, client, clock):
    result = yaynay("token", "create", "--name", "temp", "--expires", "30d")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert "valid until" in result.stderr
    [row] = [line.split("\t") for line in yaynay("token", "list").stdout.splitlines()]
    assert row[0] == "temp" and row[3].startswith("expires 20")

    clock.now = time.time() + 30 * 86400 - 60
    assert client.get(f"{MODERATION}/queue", headers=bearer(token)).status_code == 200
    clock.now = time.time() + 30 * 86400 + 60
    assert_unauthorized(client.get(f"{MODERATION}/queue", headers=bearer(token)))


@pytest.mark.parametrize("expires", ["30", "0d", "3w", "-1h", "1.5d"])
def test_a_token_lifetime_is_days_hours_or_minutes(yaynay, redis_client, expires):
    result = yaynay("token", "create", "--name", "temp", "--expires", expires)
    assert result.returncode == 2
    assert "duration" in result.stderr
    assert yaynay("token", "list").stdout == ""


def test_token_lifetimes_in_hours_and_minutes_are_accepted(yaynay, redis_client):
    for name, expires in (("hours", "12h"), ("minutes", "90m")):
        assert yaynay("token", "create", "--name", name, "--expires", expires).returncode == 0
    assert len(yaynay("token", "list").stdout.splitlines()) == 2


def test_a_second_token_with_a_taken_name_is_refused(yaynay, client):
    first = create_token(yaynay, "maria")
    again = yaynay("token", "create", "--name", "maria", "--role", "admin")
    assert again.returncode != 0
    assert again.stdout.strip() == ""
    assert "maria" in again.stderr
    # The first token is unchanged: still maria's, still a moderator.
    assert client.get(f"{MODERATION}/queue", headers=bearer(first)).status_code == 200
    assert_error(client.put("/api/v1/polls/x", json={"question": "Q?"}, headers=bearer(first)), 403)


def test_a_revoked_token_is_refused_at_once(yaynay, client):
    token = create_token(yaynay, "maria")
    assert client.get(f"{MODERATION}/queue", headers=bearer(token)).status_code == 200

    revoked = yaynay("token", "revoke", "maria")
    assert revoked.returncode == 0, revoked.stderr
    assert_unauthorized(client.get(f"{MODERATION}/queue", headers=bearer(token)))
    assert "maria" not in yaynay("token", "list").stdout


def test_revoking_an_unknown_name_fails(yaynay, redis_client):
    create_token(yaynay, "maria")
    result = yaynay("token", "revoke", "nobody")
    assert result.returncode != 0
    assert "nobody" in result.stderr
    assert yaynay("token", "list").stdout.startswith("maria\tmoderator\t")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("not-a-token-anyone-was-given"),
        {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbjo="},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_moderation_endpoints_answer_401_without_a_valid_bearer_token(client, admin, headers):
    comment_id = submit_comment(client, "mini-backpacks", "Love them.", email=None, ip="198.51.100.1")
    assert_unauthorized(client.get(f"{MODERATION}/queue", headers=headers))
    assert_unauthorized(client.get(f"{MODERATION}/log", headers=headers))
    assert_unauthorized(decide(client, headers, comment_id, "approve"))
    assert_unauthorized(
        client.post(
            f"{MODERATION}/decisions", headers=headers, json={"decisions": [{"id": comment_id, "action": "approve"}]}
        )
    )
    # Nothing was decided.
    assert log_entries(client, admin) == []


def test_an_invalid_request_without_a_token_is_401_not_a_validation_error(client):
    """The token is checked before the input, so strangers learn nothing of the schemas."""
    assert_unauthorized(client.get(f"{MODERATION}/queue", query_string={"status": "bogus"}))
    assert_unauthorized(client.post(f"{MODERATION}/comments/mini-backpacks.aaaaaaaa", json={"action": "nuke"}))
    assert_unauthorized(client.put("/api/v1/polls/x", json={"question": ""}))


# -- privacy ----------------------------------------------------------------------


@pytest.fixture
def anns_comments(client, admin):
    """Three comments from Ann on two threads, one of them approved, and one from Bob."""
    ann = [
        submit_comment(client, "mini-backpacks", "Mini backpacks hold nothing.", email=ANN, ip="198.51.100.1"),
        submit_comment(client, "mini-backpacks", "Still, they are cute.", email=ANN, ip="198.51.100.2"),
        submit_comment(client, "crocs", "Crocs are comfortable.", email=ANN, ip="198.51.100.3"),
    ]
    bob = submit_comment(client, "mini-backpacks", "I am Bob.", email=BOB, ip="198.51.100.4", author="Bob")
    approved = decide(client, admin, ann[0], "approve")
    assert approved.status_code == 200, approved.json
    return ann, bob


def export(yaynay, email: str) -> dict:
    result = yaynay("privacy", "export", "--email", email)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_privacy_export_finds_every_comment_of_an_address_whatever_its_case(yaynay, client, anns_comments):
    ann, bob = anns_comments
    exported = export(yaynay, "ANN@example.com")
    by_id = {comment["id"]: comment for comment in exported["comments"]}
    assert set(by_id) == set(ann)
    assert {comment["email"] for comment in by_id.values()} == {ANN}
    assert {comment["body"] for comment in by_id.values()} == {
        "Mini backpacks hold nothing.",
        "Still, they are cute.",
        "Crocs are comfortable.",
    }
    assert by_id[ann[0]]["status"] == "approved"
    assert by_id[ann[2]]["thread"] == "crocs"
    assert bob not in by_id
    assert BOB not in json.dumps(exported)


def test_privacy_delete_erases_every_trace_of_an_address(yaynay, client, admin, redis_client, anns_comments):
    ann, bob = anns_comments
    assert client.get("/api/v1/threads/mini-backpacks/comments").json["count"] == 1
    assert keys_holding(redis_client, ANN), "Ann's address should be stored before the request"

    deleted = yaynay("privacy", "delete", "--email", ANN, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"deleted 3 comments submitted with {ANN}"

    assert export(yaynay, ANN)["comments"] == []
    public = client.get("/api/v1/threads/mini-backpacks/comments")
    assert public.status_code == 200
    assert public.json["count"] == 0
    assert public.json["comments"] == []
    assert queue_ids(client, admin) == {bob}
    assert keys_holding(redis_client, ANN) == []

    deletions = {entry["comment_id"]: entry for entry in log_entries(client, admin) if entry["action"] == "delete"}
    assert set(deletions) == set(ann)
    assert {entry["moderator"] for entry in deletions.values()} == {"privacy-request"}
    assert deletions[ann[0]]["previous"] == "approved"
    assert {deletions[ann[1]]["previous"], deletions[ann[2]]["previous"]} == {"pending"}


def test_privacy_delete_erases_a_comment_a_moderator_decides_meanwhile(app, redis_client, monkeypatch, anns_comments):
    """A moderator approves one of Ann's comments between the lookup and the deletion."""
    ann, _ = anns_comments
    core = app.extensions["yaynay"]
    comments = core.store.comments
    look_up = comments.by_email
    moderated = []

    def look_up_then_moderate(digest):
        found = look_up(digest)
        if not moderated:
            moderated.append(moderation.decide(core, DecisionRequest(ann[1], "approve"), moderator="maria"))
        return found

    monkeypatch.setattr(comments, "by_email", look_up_then_moderate)
    removed = privacy.erase_by_email(core, ANN)
    assert removed == 3
    assert keys_holding(redis_client, ANN) == []


def test_privacy_delete_of_an_unknown_address_deletes_nothing(yaynay, client, admin, anns_comments):
    ann, bob = anns_comments
    result = yaynay("privacy", "delete", "--email", "nobody@example.com", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deleted 0 comments submitted with nobody@example.com"
    assert queue_ids(client, admin) == {*ann, bob}


@pytest.mark.parametrize("name", ["admin", "privacy-request"])
def test_token_names_that_sign_yaynays_own_log_lines_are_reserved(yaynay, name):
    result = yaynay("token", "create", "--name", name)
    assert result.returncode == 2
    assert "choose another" in result.stderr


def test_blocklist_rules_are_added_listed_and_removed_from_the_command_line(yaynay):
    added = yaynay("blocklist", "add", "email", "Spammer@Example.com", "--action", "reject")
    assert added.returncode == 0, added.stderr
    rule_id, kind, value, action = added.stdout.split()
    assert (kind, action) == ("email", "reject") and "spammer" not in value
    listed = yaynay("blocklist", "list")
    assert listed.stdout.split("\t")[0] == rule_id
    assert yaynay("blocklist", "remove", rule_id).returncode == 0
    assert yaynay("blocklist", "list").stdout == ""
    missing = yaynay("blocklist", "remove", rule_id)
    assert missing.returncode != 0 and "No blocklist rule" in missing.stderr
    assert yaynay("blocklist", "add", "word", "   ").returncode != 0
