"""The master holding the job queue (slot ``{jobs}``) is killed under a running ``yaynay worker``:
once its replica takes over, the worker delivers the next webhook without being restarted.

3 masters and 3 replicas with ``cluster-node-timeout`` 2000 ms, as in the other failover tests.
"""

from __future__ import annotations

import os
import time

import pytest
from rq import Queue

from service import create_app
from service.core.events import RETRY_DELAYS
from tests.cluster import Cluster
from tests.notifications.conftest import running_receiver, worker_process, worker_settings
from tests.notifications.test_webhooks import add_hook

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

# From the promotion seen to the webhook received: the worker's reconnect waits at most
# 1 s between tries, and the job itself (enqueue, dequeue, POST) well under 1 s (0.2 s measured).
RECOVERY_BOUND = 5.0
# Asynchronous replication on one host lags by well under this.
REPLICATION_LAG = 0.5


@pytest.fixture
def cluster(tmp_path):
    with Cluster(tmp_path / "cluster", node_timeout_ms=2000) as cluster:
        yield cluster


def comment_until_accepted(client, body: str, timeout: float) -> float:
    """Post a comment, again while the app answers 503 (its client finds the new master);
    returns when (monotonic) it was accepted."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.post(
            "/api/v1/threads/mini-backpacks/comments",
            json={"author": "Ann", "body": body, "email": "ann@example.com"},
        )
        if response.status_code == 202 or time.monotonic() > deadline:
            assert response.status_code == 202, response.json
            return time.monotonic()
        assert response.status_code == 503, response.json
        time.sleep(0.1)


def wait_for_a_scheduled_delivery(queue: Queue, timeout: float) -> None:
    """Until a webhook delivery (the retry) waits in RQ's scheduled registry."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = queue.scheduled_job_registry.get_job_ids()
        if any(job and job.func_name.endswith(".deliver") for job in queue.job_class.fetch_many(ids, queue.connection)):
            return
        time.sleep(0.05)
    raise AssertionError("the refused delivery's retry was not scheduled")


def test_the_worker_follows_the_promoted_replica_of_the_jobs_master_without_a_restart(cluster, settings, tmp_path):
    settings = worker_settings(settings, cluster.url, cluster=True)
    app = create_app(settings)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {settings['ADMIN_TOKEN']}"}
    try:
        with running_receiver() as receiver, worker_process(settings, tmp_path / "var") as worker:
            # The first delivery is refused: its retry (5 s on) falls due after the failover,
            # so the scheduler has to live through it too.
            receiver.statuses = [500, 200]
            add_hook(client, admin, receiver)
            comment_until_accepted(client, "Before the failover. NAY.", timeout=5)
            # 20 s: a worker starting beside a cluster that has just started (the first comment's
            # WAIT can time out there) once took more than 10 s to make its first delivery in CI.
            assert len(receiver.wait_for(1, timeout=20)) == 1, "no delivery before the failover"
            wait_for_a_scheduled_delivery(app.extensions["yaynay"].store.jobs.queue, timeout=5)
            time.sleep(REPLICATION_LAG)  # for the replica to have the retry too
            victim = cluster.master_of(os.environ["RQ_KEY_PREFIX"])
            cluster.kill(victim)
            promoted_at = cluster.wait_for_promotion(victim, timeout=20)
            # The app's own cluster client finds the new master (503s meanwhile: other tests' subject).
            accepted_at = comment_until_accepted(client, "After the failover. YAY.", timeout=10)
            received = receiver.wait_for(2, timeout=RECOVERY_BOUND)
            took = time.monotonic() - promoted_at
            waited = accepted_at - promoted_at  # the worker could not have delivered it earlier
            retried = receiver.wait_for(3, timeout=RETRY_DELAYS[0] + RECOVERY_BOUND)
            assert worker.process.poll() is None, "the worker stopped"
        assert len(received) >= 2, f"no delivery {took:.1f} s after the promotion; the worker said:\n{worker.errors}"
        print(f"webhook delivered {took:.2f} s after the promotion")
        assert took - max(waited, 0) < RECOVERY_BOUND
        first_id = retried[0]["headers"]["webhook-id"]
        retries = [delivery for delivery in retried[1:] if delivery["headers"]["webhook-id"] == first_id]
        assert [delivery["answered"] for delivery in retries] == [200], f"no retry; the worker said:\n{worker.errors}"
    finally:
        app.extensions["yaynay"].close()
