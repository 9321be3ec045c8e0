"""Redis goes away while ``yaynay worker`` is in a part of RQ's work loop that RQ does not guard:
the same worker process waits for it and then runs the next job.

RQ's loop retries only around its blocking dequeue; its suspension check, the heartbeat
after a job and after a dequeue, the worker's state and its maintenance end the worker
at the first Redis error. ``_Worker`` (service/store/jobs.py) guards each of them.
"""

from __future__ import annotations

import threading
import time

import pytest
from rq.suspension import resume, suspend
from rq.worker import Worker

from service import create_app
from service.store import Jobs
from service.store.connection import connect
from tests.notifications.conftest import running_receiver, worker_process, worker_settings
from tests.notifications.test_webhooks import add_hook, submit

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

OUTAGE = 2.5  # seconds without Redis: two of RQ's once-a-second suspension checks fall in it
# From Redis back to the next delivery: the worker's wait pings once a second, and the
# job itself (dequeue, POST) takes well under a second.
RECOVERY_BOUND = 5.0


def worker_states(connection) -> list[str]:
    """The state each registered worker last wrote to Redis."""
    return [worker.get_state() for worker in Worker.all(connection=connection)]


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_suspended_worker_waits_out_a_redis_restart_and_runs_the_next_job(faulty_redis, settings, tmp_path):
    """How the test reaches the unguarded spot: while suspended (``rq suspend``), RQ's worker
    stays in ``check_for_suspension``, asking Redis once a second, outside any retry. It enters
    that loop after its next dequeue, so the test suspends it, gives it a job (a webhook), waits
    until the worker says ``suspended`` in Redis, and only then stops Redis (SIGTERM, which keeps
    the data and so the suspension), for longer than a second. RQ's own worker exits there.
    """
    settings = worker_settings(settings, faulty_redis.url, cluster=False)
    app = create_app(settings)
    client = app.test_client()
    admin = {"Authorization": f"Bearer {settings['ADMIN_TOKEN']}"}
    jobs_redis = app.extensions["yaynay"].store.jobs.queue.connection
    try:
        with running_receiver() as receiver, worker_process(settings, tmp_path / "var") as worker:
            add_hook(client, admin, receiver)
            # Idle: past its first suspension check, waiting in the dequeue.
            wait_until(lambda: worker_states(jobs_redis) == ["idle"], timeout=10, what="the worker did not start")
            suspend(jobs_redis)
            # The job wakes the worker from its dequeue: it runs it and then meets the
            # suspension, or (its dequeue had just timed out) meets the suspension first and
            # runs the job after the resume. Either way it then asks Redis once a second.
            submit(client, "Before the outage. NAY.")
            wait_until(
                lambda: worker_states(jobs_redis) == ["suspended"], timeout=10, what="the worker was not suspended"
            )

            faulty_redis.stop()
            time.sleep(OUTAGE)
            faulty_redis.start()
            back_at = time.monotonic()

            survived_the_outage = worker.process.poll() is None
            resume(jobs_redis)
            submit(client, "After the outage. YAY.")
            received = receiver.wait_for(2, timeout=RECOVERY_BOUND if survived_the_outage else 0)
            took = time.monotonic() - back_at
            still_running = worker.process.poll() is None
            registered_pids = [registered.pid for registered in Worker.all(connection=jobs_redis)]
        assert survived_the_outage and still_running, f"the worker exited; it said:\n{worker.errors}"
        assert len(received) == 2, f"no delivery {took:.1f} s after Redis came back; the worker said:\n{worker.errors}"
        assert registered_pids == [worker.process.pid], "not the same worker process"
        print(f"delivered {took:.2f} s after Redis came back")
    finally:
        app.extensions["yaynay"].close()


@pytest.mark.parametrize("call", ["heartbeat", "set_state", "check_for_suspension", "run_maintenance_tasks"])
def test_each_guarded_call_waits_for_redis_instead_of_raising(call, faulty_redis):
    """Each guarded call made with Redis stopped returns once Redis is back (started again 1.5 s
    on), having done its work then. These calls sit between a job's end and the next dequeue,
    a window too short for a test to stop Redis in from outside the worker."""
    redis_client = connect(faulty_redis.url)
    worker = Jobs(redis_client).worker(name="outage")
    worker.register_birth()
    calls = {
        "heartbeat": worker.heartbeat,
        "set_state": lambda: worker.set_state("idle"),
        "check_for_suspension": lambda: worker.check_for_suspension(burst=False),
        "run_maintenance_tasks": worker.run_maintenance_tasks,
    }
    worker.set_state("started")
    before = redis_client.hgetall(worker.key)
    faulty_redis.stop()
    restart = threading.Timer(1.5, faulty_redis.start)
    restart.start()
    started = time.monotonic()
    try:
        calls[call]()
    finally:
        restart.join()
    assert 1.5 <= time.monotonic() - started < 5
    after = redis_client.hgetall(worker.key)
    redis_client.close()
    if call in ("heartbeat", "check_for_suspension"):  # RQ's suspension check beats too
        assert after[b"last_heartbeat"] > before[b"last_heartbeat"]
    if call == "set_state":
        assert after[b"state"] == b"idle"
    if call == "run_maintenance_tasks":
        assert worker.last_cleaned_at is not None
