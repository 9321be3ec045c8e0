"""The same app on a real three-node Redis Cluster: every script touches one slot."""

import subprocess

import pytest

from service import create_app
from service.store.embedded import RedisProcess, free_port, redis_server_binary


def start_node(directory):
    """A cluster-enabled redis-server; it also needs its port + 10000 free for the cluster bus."""
    for _ in range(5):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            return RedisProcess(
                directory,
                port=port,
                persist=False,
                extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
            ).start()
        except RuntimeError:
            continue  # the bus port was taken: try another
    raise RuntimeError("no free port pair for a cluster node")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    """Three cluster-enabled redis-servers, joined with redis-cli into one cluster."""
    cli = str(redis_server_binary()).replace("redis-server", "redis-cli")
    nodes = []
    try:
        for index in range(3):
            nodes.append(start_node(tmp_path_factory.mktemp(f"node{index}")))
        created = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        # Every node must see the whole cluster, not only the first: until then a node
        # answers CLUSTERDOWN for the slots it has not heard of.
        for _ in range(200):
            states = [
                subprocess.run([cli, "-p", str(node.port), "cluster", "info"], capture_output=True, text=True).stdout
                for node in nodes
            ]
            if all("cluster_state:ok" in state for state in states):
                break
            subprocess.run(["sleep", "0.1"])
        yield nodes[0].url
    finally:
        for node in nodes:
            node.stop()


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
