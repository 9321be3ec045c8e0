"""``yaynay export`` and ``yaynay restore``: a site exported from the test Redis and restored into
a second database of the same server answers every public read byte for byte the same, and
still recognises a reader who voted before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from service import create_app
from service.core import archive, moderation, tokens
from service.core.moderation import DecisionRequest
from service.identity import secret_fingerprint
from tests.test_import import run_import

pytestmark = pytest.mark.one_redis_node(
    reason="it restores into database 1 of the same Redis, which a cluster lacks "
    "(tests/store/test_cluster.py restores on a cluster under another prefix)"
)

POLLS = ("mini-backpacks", "cargo-pants")
# The header of an export made under the test settings' secret key.
HEADER = json.dumps(
    {"format": "yaynay-export", "version": 1, "secret_key_fingerprint": secret_fingerprint("test-secret-key")}
)
THREADS = ("mini-backpacks", "cargo-pants", "no-comments-yet")


def second_database(url: str) -> str:
    """The same Redis server, the database after the one the tests use."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{database + 1}"))


@pytest.fixture
def restored_settings(settings):
    other = {**settings, "REDIS_URL": second_database(settings["REDIS_URL"])}
    client = redis.Redis.from_url(other["REDIS_URL"])
    client.flushdb()
    yield other
    client.flushdb()
    client.close()


@pytest.fixture
def restored_app(restored_settings):
    app = create_app(restored_settings)
    yield app
    app.extensions["yaynay"].close()


@pytest.fixture
def site(app, client, admin, make_poll, new_voter):
    """Polls with votes, comments in every status with a decision log, a token, imported comments;
    the voter token of one reader who voted yay on the first poll."""
    core = app.extensions["yaynay"]
    for poll_id in POLLS:
        make_poll(poll_id)
    reader = new_voter()
    assert client.post(f"/api/v1/polls/{POLLS[0]}/votes", json={"choice": "yay", "voter": reader}).status_code == 200
    for choice in ("nay", "nay", "yay"):
        client.post(f"/api/v1/polls/{POLLS[1]}/votes", json={"choice": choice, "voter": new_voter()})
    ids = []
    for number, author in enumerate(("Ann", "Bob", "Cleo", "Dan")):
        response = client.post(
            f"/api/v1/threads/{POLLS[1]}/comments",
            json={"author": author, "body": f"Comment {number}", "email": f"{author.lower()}@example.com"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{number + 1}"},
        )
        assert response.status_code == 202, response.json
        ids.append(response.json["id"])
    for comment_id, action in zip(ids, ("approve", "approve", "reject", "spam"), strict=False):
        moderation.decide(core, DecisionRequest(comment_id, action), moderator="admin")
    tokens.create_token(core, "mia", tokens.MODERATOR)
    run_import(core, "disqus", "disqus.xml")
    return reader


def public_answers(client) -> dict[str, bytes]:
    paths = [f"/api/v1/polls/{poll_id}" for poll_id in POLLS]
    paths += [f"/api/v1/polls/{poll_id}/badge.svg" for poll_id in POLLS]
    paths += [f"/api/v1/polls?ids={','.join(POLLS)}", f"/api/v1/threads?ids={','.join(THREADS)}"]
    paths += [f"/api/v1/threads/{thread_id}/comments" for thread_id in THREADS]
    answers = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.data)
        answers[path] = response.data
    return answers


def test_a_restored_site_answers_every_public_read_the_same(app, client, site, restored_app):
    lines = list(archive.export_lines(app.extensions["yaynay"]))
    summary = archive.restore_lines(restored_app.extensions["yaynay"], lines)
    assert summary.counts["comment"] == 11 and summary.counts["poll"] == 2
    assert summary.tokens_to_issue == ["mia"]
    before, after = public_answers(client), public_answers(restored_app.test_client())
    assert after == before
    assert json.loads(after[f"/api/v1/polls/{POLLS[1]}"])["tally"] == {"yay": 1, "nay": 2, "total": 3}


def test_a_reader_who_voted_before_the_restore_is_not_counted_twice(app, site, restored_app):
    archive.restore_lines(restored_app.extensions["yaynay"], archive.export_lines(app.extensions["yaynay"]))
    restored = restored_app.test_client()
    again = restored.post(f"/api/v1/polls/{POLLS[0]}/votes", json={"choice": "yay", "voter": site})
    assert again.status_code == 200
    assert restored.get(f"/api/v1/polls/{POLLS[0]}").json["tally"] == {"yay": 1, "nay": 0, "total": 1}


def test_every_status_and_the_moderation_log_are_restored(app, site, restored_app):
    archive.restore_lines(restored_app.extensions["yaynay"], archive.export_lines(app.extensions["yaynay"]))
    for core in (app.extensions["yaynay"], restored_app.extensions["yaynay"]):
        assert [entry.action for entry in moderation.log(core).items] == ["spam", "reject", "approve", "approve"]
    restored = restored_app.extensions["yaynay"]
    spam = restored.store.moderation.queue("spam", thread_id=None, limit=10, cursor=None).items
    assert sorted(comment.author for comment in spam) == ["Dan", "Spammer"]
    assert [comment.author for comment in restored.store.comments.by_email(_digest(restored, "ann@example.com"))] == [
        "Ann",
        "Ann",
    ]


def _digest(core, email: str) -> str:
    from service.identity import email_digest

    return email_digest(core.secret_key, email)


def test_without_personal_data_no_email_leaves(app, site):
    lines = list(archive.export_lines(app.extensions["yaynay"], personal_data=False))
    assert json.loads(lines[0])["personal_data"] is False
    assert not any("@example.com" in line or '"email_digest"' in line or '"ip_digest"' in line for line in lines)
    assert not any('"hash"' in line for line in lines)


def test_restoring_into_a_redis_with_data_is_refused_unless_merging(app, site, restored_app):
    lines = list(archive.export_lines(app.extensions["yaynay"]))
    restored = restored_app.extensions["yaynay"]
    archive.restore_lines(restored, lines)
    with pytest.raises(archive.RestoreRefused, match="--merge"):
        archive.restore_lines(restored, lines)
    before = public_answers(restored_app.test_client())
    archive.restore_lines(restored, lines, merge=True)
    assert public_answers(restored_app.test_client()) == before


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "not a yaynay export"),
        (['{"format": "yaynay-export", "version": 99}'], "version 99"),
        ([HEADER, "not json"], "line 2: not JSON"),
        ([HEADER, '{"type": "rocket"}'], "line 2: not an export record"),
        ([HEADER, '{"type": "poll"}'], "incomplete or malformed"),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(restored_app, lines, message):
    with pytest.raises(archive.RestoreRefused, match=message):
        archive.restore_lines(restored_app.extensions["yaynay"], lines)


def test_the_commands_export_and_restore_through_a_file(
    app, settings, yaynay, site, restored_settings, restored_app, tmp_path
):
    path = tmp_path / "site.jsonl"
    exported = yaynay("export", str(path))
    assert exported.returncode == 0, exported.stderr
    assert path.stat().st_mode & 0o077 == 0  # emails inside: readable by its owner only
    assert '"imported_from": "disqus:1001"' in path.read_text()
    refused = yaynay("restore", str(path))
    assert refused.returncode == 1 and "--merge" in refused.stderr
    env = dict(os.environ, YAYNAY_REDIS_URL=restored_settings["REDIS_URL"], YAYNAY_SECRET_KEY=settings["SECRET_KEY"])
    env["YAYNAY_VAR_DIR"] = restored_settings["VAR_DIR"]
    command = [str(Path(sys.executable).parent / "yaynay"), "restore", str(path)]
    restored = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("restored 2 polls, ")
    assert "issue them again: mia" in restored.stdout
    assert public_answers(restored_app.test_client()) == public_answers(app.test_client())


def test_a_restore_under_another_secret_key_is_refused(app, site, restored_settings):
    other = create_app({**restored_settings, "SECRET_KEY": "another-secret-key"})
    try:
        with pytest.raises(archive.RestoreRefused, match="another SECRET_KEY"):
            archive.restore_lines(other.extensions["yaynay"], archive.export_lines(app.extensions["yaynay"]))
    finally:
        other.extensions["yaynay"].close()


def test_a_restored_poll_whose_closing_time_is_to_come_is_scheduled_to_be_announced(app, make_poll, restored_app):
    make_poll("closing-later", closes_at="2030-01-01T00:00:00Z")
    make_poll("closed-already", closes_at="2020-01-01T00:00:00Z")
    restored = restored_app.extensions["yaynay"]
    archive.restore_lines(restored, archive.export_lines(app.extensions["yaynay"]))

    schedule = restored.store.redis.zrange(restored.store.keys.closing_schedule(), 0, -1)
    assert schedule == [b"closing-later"]
