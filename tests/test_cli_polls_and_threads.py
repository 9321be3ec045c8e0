"""`yaynay poll list|close|reopen|delete` and `yaynay thread list`, run as a publisher would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import create_app


def yaynay(*args, env, input=None):
    executable = Path(sys.executable).parent / "yaynay"
    return subprocess.run([str(executable), *args], env=env, capture_output=True, text=True, timeout=60, input=input)


@pytest.fixture
def env(redis_url, redis_client):
    return dict(os.environ, YAYNAY_REDIS_URL=redis_url, YAYNAY_SECRET_KEY="k")


def test_polls_are_listed_closed_reopened_and_deleted(env):
    for poll_id in ("first", "second"):
        assert yaynay("poll", "create", poll_id, f"Are you YAY on {poll_id}?", env=env).returncode == 0

    listed = yaynay("poll", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert {row[0] for row in rows} == {"first", "second"}
    assert all(row[1:4] == ["open", "0", "0"] for row in rows)
    assert rows[0][5].startswith("Are you YAY on ")

    assert yaynay("poll", "close", "first", env=env).stdout == "closed first\n"
    shown = yaynay("poll", "show", "first", env=env).stdout
    assert json.loads(shown.splitlines()[0])["state"] == "closed"
    assert yaynay("poll", "reopen", "first", env=env).stdout == "reopened first\n"
    assert json.loads(yaynay("poll", "show", "first", env=env).stdout.splitlines()[0])["state"] == "open"

    refused = yaynay("poll", "delete", "first", env=env, input="n\n")
    assert refused.returncode == 1
    assert "first" in yaynay("poll", "list", env=env).stdout
    deleted = yaynay("poll", "delete", "first", "--yes", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert [line.split("\t")[0] for line in yaynay("poll", "list", env=env).stdout.splitlines()] == ["second"]


@pytest.mark.parametrize("command", ["close", "reopen", "delete"])
def test_an_unknown_poll_is_one_line_and_a_non_zero_exit(env, command):
    result = yaynay("poll", command, "ghost", "--yes" if command == "delete" else "--", env=env)
    assert result.returncode == 1
    assert result.stderr == "Error: No poll with id 'ghost'.\n"


def test_a_malformed_poll_id_names_the_argument(env):
    result = yaynay("poll", "close", "Not An Id", env=env)
    assert result.returncode == 2
    assert "POLL_ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_threads_are_listed_with_counts_by_status_and_their_article(env, redis_url):
    app = create_app({"REDIS_URL": redis_url, "SECRET_KEY": "k", "ALLOWED_ORIGINS": ["https://blog.example"]})
    client = app.test_client()
    page_url = "https://blog.example/2026/mini-backpacks"
    body = {"author": "Ann", "body": "NAY.", "page_url": page_url}
    assert client.post("/api/v1/threads/mini-backpacks/comments", json=body).status_code == 202
    app.extensions["yaynay"].close()

    listed = yaynay("thread", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split("\t") for line in listed.stdout.splitlines()]
    assert row[:5] == ["mini-backpacks", "1", "0", "0", "0"]
    assert row[6] == page_url


def test_compacting_rewrites_polls_of_the_old_voter_layout_and_leaves_the_rest(env, redis_client):
    from service.identity import voter_digest
    from service.store import Store
    from service.store.voters import legacy_address

    store = Store(redis_client)
    assert yaynay("poll", "create", "fresh", "New?", env=env).returncode == 0
    redis_client.hset(
        store.keys.poll("old"),
        mapping={"question": "Old?", "closes_at": "", "allow_change": "1", "created_at": 1, "yay": 30, "nay": 0},
    )
    redis_client.zadd(store.keys.poll_registry("old"), {"old": 1})
    for n in range(30):
        bucket, field = legacy_address(voter_digest("k", "old", f"reader-{n}"))
        redis_client.hset(store.keys.legacy_voter_bucket("old", bucket), field, 1)

    result = yaynay("poll", "compact", env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "fresh: left as it is (already compact)",
        "old: 30 voters in 1 bucket",
    ]
    assert redis_client.keys("*{old}:voters:*") == []
    assert "voter records: {'yay': 30, 'nay': 0} (match the tally)" in yaynay("poll", "show", "old", env=env).stdout
    assert store.polls.vote_of("old", voter_digest("k", "old", "reader-7")) == "yay"
