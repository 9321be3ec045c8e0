"""The same app on a real three-node Redis Cluster: every script touches one slot."""

import time
from itertools import count

import pytest

from service import create_app
from service.core import archive, moderation, privacy
from service.identity import email_digest
from service.store import moderation as moderation_store
from service.store.comments import CommentStore
from service.store.keys import shard_of
from service.store.moderation import ModerationStore
from tests.api.test_spam_tools import BANS, block, client_with, queued, submitted, trusted_after_two_approvals
from tests.cluster import Cluster
from tests.conftest import REPLICAS_GIVEN_TIME
from tests.test_import import run_import


@pytest.fixture(scope="module")
def any_cluster(redis_cluster, tmp_path_factory):
    """The session's cluster in the cluster run, else three masters and replicas of this module's own."""
    if redis_cluster is not None:
        yield redis_cluster
        return
    with Cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def settings(settings):
    """The suite's settings, with the time for a replica that a cluster's tests give it."""
    return {**settings, **REPLICAS_GIVEN_TIME}


@pytest.fixture
def cluster_url(any_cluster):
    """A node of an emptied Redis Cluster."""
    any_cluster.flush()
    return any_cluster.url


def test_polls_and_votes_work_unchanged_on_redis_cluster(cluster_url, settings, admin, new_voter):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True, AUTO_CREATE_POLLS=True)
    client = create_app(settings).test_client()
    poll_ids = [f"poll-{n}" for n in range(12)]  # enough ids to land on every node
    for poll_id in poll_ids:
        assert client.put(f"/api/v1/polls/{poll_id}", json={"question": "Q?"}, headers=admin).status_code == 201
        reader = new_voter()
        for choice in ("yay", "nay", "nay"):
            response = client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": choice, "voter": reader})
            assert response.status_code == 200, response.json
    assert client.post("/api/v1/polls/auto-made/votes", json={"choice": "yay", "voter": new_voter()}).status_code == 200

    many = client.get("/api/v1/polls?ids=" + ",".join(poll_ids + ["auto-made"]))
    assert many.status_code == 200
    assert [poll["tally"] for poll in many.json["polls"]] == [{"yay": 0, "nay": 1, "total": 1}] * 12 + [
        {"yay": 1, "nay": 0, "total": 1}
    ]


def test_comments_and_moderation_work_unchanged_on_redis_cluster(cluster_url, settings, admin, new_voter):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True)
    app = create_app(settings)
    client = app.test_client()
    thread_ids = [f"thread-{n}" for n in range(6)]  # threads, client IPs and the queue on several nodes
    posted = {}
    for n, thread_id in enumerate(thread_ids):
        body = {"author": "Ann", "body": f"Comment on {thread_id}", "email": "ann@example.com"}
        headers = {"Idempotency-Key": f"key-{n}"}
        first = client.post(
            f"/api/v1/threads/{thread_id}/comments",
            json=body,
            headers=headers,
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
        retry = client.post(
            f"/api/v1/threads/{thread_id}/comments",
            json=body,
            headers=headers,
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
        assert first.status_code == 202, first.json
        assert retry.json["id"] == first.json["id"]
        posted[thread_id] = first.json["id"]

    queue = client.get("/api/v1/moderation/queue", headers=admin).json["comments"]
    assert sorted(entry["id"] for entry in queue) == sorted(posted.values())
    bulk = client.post(
        "/api/v1/moderation/decisions",
        headers=admin,
        json={"decisions": [{"id": comment_id, "action": "approve"} for comment_id in posted.values()]},
    )
    assert bulk.status_code == 200, bulk.json
    for thread_id, comment_id in posted.items():
        page = client.get(f"/api/v1/threads/{thread_id}/comments").json
        assert [entry["id"] for entry in page["comments"]] == [comment_id]
    app.extensions["yaynay"].close()


class ProcessDied(BaseException):
    """Stands for a worker killed between the thread's script and the site-wide index writes."""


def cluster_app(cluster_url, settings, prefix, **more):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True, KEY_PREFIX=prefix, **more)
    app = create_app(settings)
    return app, app.test_client(), app.extensions["yaynay"]


def queued_ids(client, admin, status="pending"):
    page = client.get(f"/api/v1/moderation/queue?status={status}", headers=admin)
    assert page.status_code == 200, page.json
    return sorted(entry["id"] for entry in page.json["comments"])


def emailed_ids(core, email):
    return sorted(comment.id for comment in privacy.comments_by_email(core, email))


def post_dying(monkeypatch, client, thread_id, body, **kwargs):
    """Post a comment whose second step (the site-wide indexes) never runs; returns its id."""
    with monkeypatch.context() as patch:
        patch.setattr(CommentStore, "_index_new", lambda *args: (_ for _ in ()).throw(ProcessDied()))
        with pytest.raises(ProcessDied):
            client.post(f"/api/v1/threads/{thread_id}/comments", json=body, **kwargs)
    [stored] = [key for key in core_of(client).store.redis.scan_iter(f"*{{{thread_id}}}:comment:*")]
    return f"{thread_id}.{stored.decode().rsplit(':', 1)[1]}"


def core_of(client):
    return client.application.extensions["yaynay"]


def test_a_comment_whose_index_writes_were_lost_is_restored_by_a_retry_and_by_the_reconciler(
    cluster_url, settings, admin, clock, monkeypatch
):
    app, client, core = cluster_app(cluster_url, settings, "orphans")
    retried = post_dying(
        monkeypatch,
        client,
        "orphan-a",
        {"author": "Ann", "body": "Lost once", "email": "ann@example.com"},
        headers={"Idempotency-Key": "k-1"},
    )
    waited = post_dying(monkeypatch, client, "orphan-b", {"author": "Bob", "body": "Lost", "email": "bob@example.com"})
    # Stored in their threads, absent from the site-wide queue and the email index.
    assert queued_ids(client, admin) == []
    assert emailed_ids(core, "ann@example.com") == emailed_ids(core, "bob@example.com") == []

    retry = client.post(
        "/api/v1/threads/orphan-a/comments",
        json={"author": "Ann", "body": "Lost once", "email": "ann@example.com"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert (retry.status_code, retry.json["id"]) == (202, retried)
    assert queued_ids(client, admin) == [retried]  # healed at once
    assert emailed_ids(core, "ann@example.com") == [retried]

    # Too fresh to tell from a write in progress: left alone; older than the bound: indexed.
    assert moderation.reconcile(core) == 0
    clock.advance(moderation_store.REPAIR_AGE + 1)
    assert moderation.reconcile(core) == 1
    assert queued_ids(client, admin) == sorted([retried, waited])
    assert emailed_ids(core, "bob@example.com") == [waited]
    assert moderation.reconcile(core) == 0
    assert core.store.redis.zcard(core.store.keys.marked_threads()) == 0  # nothing left to look at
    app.extensions["yaynay"].close()


def test_a_decision_whose_index_writes_were_lost_is_restored_by_the_reconciler(
    cluster_url, settings, admin, clock, monkeypatch
):
    app, client, core = cluster_app(cluster_url, settings, "lost-decisions")
    approved = client.post("/api/v1/threads/decided-a/comments", json={"author": "Ann", "body": "One"}).json["id"]
    deleted = client.post(
        "/api/v1/threads/decided-b/comments", json={"author": "Bob", "body": "Two", "email": "bob@example.com"}
    ).json["id"]
    with monkeypatch.context() as patch:
        patch.setattr(ModerationStore, "_index_decisions", lambda *args: (_ for _ in ()).throw(ProcessDied()))
        for comment_id, action in ((approved, "approve"), (deleted, "delete")):
            with pytest.raises(ProcessDied):
                client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": action}, headers=admin)
    assert queued_ids(client, admin, "approved") == []
    assert emailed_ids(core, "bob@example.com") == []  # privacy reads skip a deleted comment...
    assert core.store.redis.smembers(
        core.store.keys.email_comments(email_digest(settings["SECRET_KEY"], "bob@example.com"))
    )

    clock.advance(moderation_store.REPAIR_AGE + 1)
    assert moderation.reconcile(core) == 2
    assert queued_ids(client, admin, "approved") == [approved]
    assert queued_ids(client, admin, "pending") == []
    # ...and now the email index forgets it too.
    assert not core.store.redis.smembers(
        core.store.keys.email_comments(email_digest(settings["SECRET_KEY"], "bob@example.com"))
    )
    app.extensions["yaynay"].close()


def test_every_worker_repairs_lost_index_writes_in_the_background(cluster_url, settings, admin, clock, monkeypatch):
    app, client, core = cluster_app(cluster_url, settings, "background", INDEX_REPAIR_INTERVAL=1)
    lost = post_dying(monkeypatch, client, "background-a", {"author": "Ann", "body": "Lost"})
    clock.advance(moderation_store.REPAIR_AGE + 1)
    deadline = time.monotonic() + 10
    while core.store.redis.zscore(core.store.keys.queue_of("background-a", "pending"), lost) is None:
        assert time.monotonic() < deadline, "the background repair never ran"
        time.sleep(0.2)


def test_polls_are_listed_closed_reopened_and_deleted_on_redis_cluster(cluster_url, settings, admin, new_voter):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True)
    app = create_app(settings)
    client = app.test_client()
    poll_ids = [f"managed-{n}" for n in range(6)]
    for poll_id in poll_ids:
        assert client.put(f"/api/v1/polls/{poll_id}", json={"question": "Q?"}, headers=admin).status_code == 201
        client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": "yay", "voter": new_voter()})
    listed = client.get("/api/v1/admin/polls?limit=100", headers=admin).json["polls"]
    assert set(poll_ids) <= {poll["id"] for poll in listed}
    for poll_id in poll_ids:
        assert client.post(f"/api/v1/polls/{poll_id}/close", headers=admin).json["state"] == "closed"
        assert client.post(f"/api/v1/polls/{poll_id}/reopen", headers=admin).json["state"] == "open"
        assert client.delete(f"/api/v1/polls/{poll_id}", headers=admin).status_code == 204
        assert client.get(f"/api/v1/polls/{poll_id}").status_code == 404
    threads = client.get("/api/v1/moderation/threads", headers=admin)
    assert threads.status_code == 200
    app.extensions["yaynay"].close()


def test_import_export_and_restore_work_on_redis_cluster(cluster_url, settings):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True, KEY_PREFIX="exported")
    source = create_app(settings)
    target = create_app({**settings, "KEY_PREFIX": "restored"})
    try:
        summary = run_import(source.extensions["yaynay"], "disqus", "disqus.xml")
        assert (summary.created, summary.orphans) == (7, 1)
        again = run_import(source.extensions["yaynay"], "disqus", "disqus.xml")
        assert (again.created, again.already_imported) == (0, 7)
        lines = list(archive.export_lines(source.extensions["yaynay"]))
        restored = archive.restore_lines(target.extensions["yaynay"], lines)
        assert restored.counts["comment"] == 7
        paths = ["/api/v1/threads/mini-backpacks/comments", "/api/v1/threads?ids=mini-backpacks,cargo-pants"]
        for path in paths:
            before, after = source.test_client().get(path), target.test_client().get(path)
            assert before.status_code == 200 and after.data == before.data
    finally:
        source.extensions["yaynay"].close()
        target.extensions["yaynay"].close()


def test_a_reader_edits_and_deletes_their_own_comment_on_redis_cluster(cluster_url, settings, admin):
    settings.update(REDIS_URL=cluster_url, REDIS_CLUSTER=True)
    client = create_app(settings).test_client()
    url = "/api/v1/threads/cluster-thread/comments"
    posted = client.post(url, json={"author": "Ann", "body": "First words."}).json
    approved = client.post(f"/api/v1/moderation/comments/{posted['id']}", json={"action": "approve"}, headers=admin)
    assert approved.status_code == 200
    headers = {"Yaynay-Edit-Token": posted["edit_token"]}
    edited = client.patch(f"{url}/{posted['id']}", json={"body": "Second words."}, headers=headers)
    assert edited.json == {"id": posted["id"], "status": "pending"}
    assert client.get(url).json["count"] == 0
    queue = client.get("/api/v1/moderation/queue", headers=admin).json["comments"]
    assert [(c["id"], c["body"]) for c in queue] == [(posted["id"], "Second words.")]
    assert client.delete(f"{url}/{posted['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/moderation/queue", headers=admin).json["comments"] == []


def test_voter_buckets_split_and_are_read_on_redis_cluster(cluster_url):
    from service.identity import voter_digest
    from service.ratelimit import RateLimit
    from service.store import Store
    from service.store.connection import connect
    from service.store.polls import VoteLimits
    from service.store.voters import VOTERS_PER_BUCKET

    limits = VoteLimits(RateLimit(count=1_000_000, window=60), new_voters_per_day=1_000_000)
    store = Store(connect(cluster_url, cluster=True), prefix="cluster-voters")
    store.polls.save("split", question="Q?", closes_at=None, allow_change=True, now=1_790_000_000.0)
    voters = [voter_digest("k", "split", f"reader-{n}") for n in range(2 * VOTERS_PER_BUCKET + 1)]
    for voter in voters:
        store.polls.cast_vote("split", voter=voter, choice="nay", ip="ip", now=1_790_000_000.0, limits=limits)

    assert store.polls.layout("split") == 3
    fresh = Store(connect(cluster_url, cluster=True), prefix="cluster-voters")
    assert {fresh.polls.vote_of("split", voter) for voter in voters[::50]} == {"nay"}
    assert fresh.polls.count_voter_records("split") == {"yay": 0, "nay": len(voters)}
    assert fresh.polls.delete("split")
    assert fresh.polls.count_voter_records("split") == {"yay": 0, "nay": 0}


def test_the_sharded_queue_and_log_page_across_nodes_on_redis_cluster(cluster_url, settings, admin, clock):
    app, client, core = cluster_app(cluster_url, settings, "sharded")
    posted = []
    for n in range(12):  # threads in many shards, on every node
        clock.advance(1)
        response = client.post(
            f"/api/v1/threads/sharded-{n}/comments",
            json={"author": "Ann", "body": f"Comment {n}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        )
        assert response.status_code == 202, response.json
        posted.append(response.json["id"])
    assert len({shard_of(f"sharded-{n}") for n in range(12)}) > 6

    def every_page(path, items):
        seen, cursor = [], None
        while True:
            page = client.get(path, headers=admin, query_string={"limit": 5, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.json
            seen += [entry["id"] if items == "comments" else entry["comment_id"] for entry in page.json[items]]
            cursor = page.json["next_cursor"]
            if cursor is None:
                return seen

    assert every_page("/api/v1/moderation/queue", "comments") == posted
    for comment_id in posted:
        clock.advance(1)
        client.post(f"/api/v1/moderation/comments/{comment_id}", json={"action": "approve"}, headers=admin)
    assert every_page("/api/v1/moderation/log", "entries") == list(reversed(posted))
    assert moderation.pending_summary(core)[0] == 0
    app.extensions["yaynay"].close()


def test_the_spam_tools_work_on_redis_cluster(cluster_url, settings, admin):
    with client_with(
        settings, REDIS_URL=cluster_url, REDIS_CLUSTER=True, KEY_PREFIX="spam", TRUSTED_AFTER_APPROVED=2
    ) as client:
        block(client, admin, "word", "cheap pills")
        held = submitted(client, body="Buy cheap pills", ip="198.51.100.40")
        assert queued(client, admin)[held["id"]]["signals"]["held_reason"] == "blocklist word: cheap pills"
        first = submitted(client, email="troll@example.com", body="Troll", ip="198.51.100.41")
        ban = client.post(BANS, json={"comment_id": first["id"], "email": True}, headers=admin)
        assert ban.status_code == 201, ban.json
        again = submitted(client, email="troll@example.com", body="Again", ip="198.51.100.42")
        assert queued(client, admin, "rejected")[again["id"]]["signals"]["held_reason"] == "banned"
        trusted_after_two_approvals(client, admin)


def test_a_surge_holds_comments_on_redis_cluster(cluster_url, settings, admin):
    overrides = {"REDIS_URL": cluster_url, "REDIS_CLUSTER": True, "KEY_PREFIX": "surge", "MODERATION": "off"}
    with client_with(settings, PENDING_SURGE_PER_HOUR=2, **overrides) as client:
        statuses = [
            submitted(client, body=f"Comment {n}", thread=f"surge-{n}", ip=f"198.51.100.{n}")["status"]
            for n in range(3)
        ]
        assert statuses == ["approved", "approved", "pending"]
        (held,) = queued(client, admin).values()
        assert held["signals"]["held_reason"] == "surge"


def test_an_earlier_versions_single_queue_moves_into_its_shards_on_redis_cluster(cluster_url, settings, admin):
    app, client, core = cluster_app(cluster_url, settings, "legacy")
    keys, redis = core.store.keys, core.store.redis
    posted = [
        client.post(
            f"/api/v1/threads/legacy-{n}/comments",
            json={"author": "Ann", "body": f"Old {n}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
        ).json["id"]
        for n in range(6)
    ]
    for n, comment_id in enumerate(posted):  # as an earlier version left them: one key
        thread = f"legacy-{n}"
        score = redis.zscore(keys.queue_of(thread, "pending"), comment_id)
        redis.zrem(keys.queue_of(thread, "pending"), comment_id)
        redis.zadd(keys.legacy_queue("pending"), {comment_id: score})

    assert queued_ids(client, admin) == sorted(posted)
    assert not redis.exists(keys.legacy_queue("pending"))
    app.extensions["yaynay"].close()


def test_a_comments_mark_is_cleared_only_once_the_queues_replica_has_its_entry(
    any_cluster, cluster_url, settings, admin
):
    app, client, core = cluster_app(cluster_url, settings, "probed", REPLICA_WAIT_MS=200)
    keys = core.store.keys
    thread_id = next(
        thread
        for thread in (f"probed-{n}" for n in count())
        if any_cluster.master_of(keys.thread_seq(thread)).port
        != any_cluster.master_of(keys.queue_of(thread, "pending")).port
    )
    queue_master = any_cluster.master_of(keys.queue_of(thread_id, "pending"))
    [replica] = any_cluster.replicas_of(queue_master)
    url = f"/api/v1/threads/{thread_id}/comments"
    body, headers = {"author": "Ann", "body": "Queued for sure."}, {"Idempotency-Key": "probed-1"}
    any_cluster.freeze(replica)
    try:
        refused = client.post(url, json=body, headers=headers)
    finally:
        any_cluster.thaw(replica)
    assert refused.status_code == 503, refused.json
    assert core.store.comments.index_marks(thread_id), "stored and still marked 'to index'"

    retried = client.post(url, json=body, headers=headers)
    assert retried.status_code == 202, retried.json
    assert queued_ids(client, admin) == [retried.json["id"]]
    assert not core.store.comments.index_marks(thread_id)
    app.extensions["yaynay"].close()
