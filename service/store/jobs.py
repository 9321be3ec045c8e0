"""Background jobs on RQ, on the service's own Redis: webhook deliveries and moderators' mail.

A request only enqueues (one short pipeline); ``yaynay worker`` runs the jobs. RQ names
its keys itself, under ``RQ_KEY_PREFIX`` (read from the environment when rq is first
imported, which is here): yaynay sets it to ``yaynay:{jobs}`` unless it is set, so every
RQ key (``yaynay:{jobs}:queue:yaynay``, ``...:job:<id>``, its registries, workers and
scheduler lock) carries the same hash tag and lives in one Redis Cluster slot. RQ speaks
to a plain Redis client only: on Redis Cluster, requests and workers get one whose every
(re)connect goes to the master that owns that slot then (``SlotOwnerConnection``), so after
a failover enqueues and a running worker reach the promoted replica by themselves; the
failover costs the enqueues of its window, and the worker and its scheduler retry every
second (RQ's own worker backs off to a minute, and its scheduler process ends).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("RQ_KEY_PREFIX", "yaynay:{jobs}")

from redis.cluster import RedisCluster  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402  (RQ reads its key prefix when imported)
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT  # noqa: E402
from rq.scheduler import RQScheduler  # noqa: E402

from service.errors import StoreUnavailable
from service.store.connection import UNAVAILABLE_ERRORS, slot_owner_client, translate_errors

QUEUE_NAME = "yaynay"
# RQ's methods (as of RQ 3.0.0) that ``_Worker`` overrides to wait for Redis: the guards depend on
# these names (tests/store/test_jobs.py fails if RQ renames one).
GUARDED_RQ_METHODS = ("execute_job", "heartbeat", "set_state", "check_for_suspension", "run_maintenance_tasks")
# A webhook receiver gets 10 s to answer; a job gets a little more for DNS and TLS.
JOB_TIMEOUT = 30


class Jobs:
    """Enqueues jobs for ``yaynay worker``; runs one (``work``)."""

    def __init__(self, redis: Any, *, name: str = QUEUE_NAME):
        self.redis = redis
        self.name = name
        self._plain_client: Any = None

    @property
    def queue(self) -> Queue:
        """The RQ queue, on the Redis that holds the jobs now."""
        return Queue(self.name, connection=self._jobs_redis(), default_timeout=JOB_TIMEOUT)

    def _jobs_redis(self) -> Any:
        """A plain client of the Redis that holds every RQ key: on Cluster, one whose every
        reconnect goes to the master that owns their slot then."""
        if not isinstance(self.redis, RedisCluster):
            return self.redis
        if self._plain_client is None:
            self._plain_client = slot_owner_client(self.redis, os.environ["RQ_KEY_PREFIX"])
        return self._plain_client

    @translate_errors
    def enqueue(self, function: Callable[..., Any], *args: Any, delay: float = 0.0) -> str:
        """Run ``function(*args)`` in a worker now, or ``delay`` seconds from now; the job's id."""
        if delay > 0:
            job = self.queue.enqueue_in(dt.timedelta(seconds=delay), function, *args, failure_ttl=86400)
        else:
            job = self.queue.enqueue(function, *args, failure_ttl=86400)
        return str(job.id)

    def worker(self, *, name: str | None = None, every_maintenance: Callable[[], None] | None = None) -> SimpleWorker:
        """A worker of this queue, in this process, that also calls ``every_maintenance``
        with RQ's own maintenance: when it starts, then every 10 minutes."""
        return _Worker([self.queue], connection=self._jobs_redis(), name=name, every_maintenance=every_maintenance)

    def work(
        self,
        *,
        burst: bool = False,
        with_scheduler: bool = True,
        name: str | None = None,
        every_maintenance: Callable[[], None] | None = None,
    ) -> bool:
        """Run jobs in this process until stopped (``burst``: until the queue is empty).

        The scheduler runs inside the worker, so delayed jobs (retries, the next digest)
        are moved to the queue when due; with several workers, RQ lets one of them do it.
        """
        worker = self.worker(name=name, every_maintenance=every_maintenance)
        return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING"))

    def close(self) -> None:
        """Drop the connections of the jobs' own client (on Cluster)."""
        if self._plain_client is not None:
            self._plain_client.close()

    @translate_errors
    def counts(self) -> dict[str, int]:
        """Jobs waiting now, and waiting for their time (the README's sizing hint)."""
        return {"queued": self.queue.count, "scheduled": self.queue.scheduled_job_registry.count}


class _Worker(SimpleWorker):
    """RQ's in-process worker, with a hook at its periodic maintenance, which waits for Redis
    wherever RQ's work loop would end at a Redis error.

    RQ (3.0) retries only around its blocking dequeue. Its loop also calls Redis in the
    suspension check (every loop, and every second while suspended), the heartbeat after each
    job and after each dequeue, the worker's state, and the maintenance (at start, then every
    10 minutes); an error in any of them ends ``work``. Those are overridden below, each
    with a wait for Redis (retried every second) and then the same call again.
    """

    # RQ waits 1, 2, 4 ... 60 s between tries while Redis is away; a failover's window is a
    # few seconds (cluster-node-timeout, then the election), so retry every second instead.
    max_connection_wait_time = 1.0

    def __init__(self, *args: Any, every_maintenance: Callable[[], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.every_maintenance = every_maintenance

    def execute_job(self, job: Any, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        except UNAVAILABLE_ERRORS as error:
            # Redis went away as RQ recorded the job's end (a failover): RQ's own loop would
            # quit. The job ran; RQ's maintenance finds it abandoned. Wait for Redis instead.
            self.log.warning(
                "Worker %s: Redis went away as job %s ended (%s); waiting for it", self.name, job.id, error
            )
            self._wait_for_redis()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's own, made again once Redis is back: RQ's loop beats unguarded after each job
        and after each dequeue (a beat queued on a pipeline fails with the pipeline instead)."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        self._until_redis_answers("heartbeat", lambda: super(_Worker, self).heartbeat(timeout))

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's own, made again once Redis is back: RQ's loop sets it unguarded before each
        dequeue and in the suspension check."""
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        self._until_redis_answers("state", lambda: super(_Worker, self).set_state(state))

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's own, asked again once Redis is back (a suspension may still hold): RQ calls it
        unguarded at each turn of its loop, and every second while suspended."""
        self._until_redis_answers("suspension check", lambda: super(_Worker, self).check_for_suspension(burst))

    def _until_redis_answers(self, what: str, step: Callable[[], None], also: tuple[type[Exception], ...] = ()) -> None:
        """``step()``, waited for and made again while Redis does not answer (or ``also`` is raised)."""
        retried: tuple[type[Exception], ...] = (*UNAVAILABLE_ERRORS, *also)
        while True:
            try:
                step()
                return
            except retried as error:
                self.log.warning("Worker %s: Redis went away at the %s (%s); waiting for it", self.name, what, error)
                self._wait_for_redis()

    def _wait_for_redis(self) -> None:
        while True:
            time.sleep(self.max_connection_wait_time)
            try:
                self.connection.ping()
                return
            except UNAVAILABLE_ERRORS:
                continue

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's own, with ``_Scheduler`` for RQScheduler (which RQ does not let a worker choose)."""
        self.scheduler = _Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def run_maintenance_tasks(self) -> None:
        """RQ's own, then ``every_maintenance``; both made again once Redis is back: RQ's loop
        runs them unguarded at its first turn and every 10 minutes (and the hook's errors, as
        the store words them, escape even RQ's retry around the dequeue)."""

        def maintain() -> None:
            super(_Worker, self).run_maintenance_tasks()
            if self.every_maintenance is not None:
                self.every_maintenance()

        self._until_redis_answers("maintenance", maintain, also=(StoreUnavailable,))


class _Scheduler(RQScheduler):
    """RQ's scheduler (it moves delayed jobs to the queue when due, every second), which goes
    on when Redis goes away. RQ's own process ends at the first error, and its worker starts
    another only at its maintenance, 10 minutes on: a failover held every retry that long."""

    def heartbeat(self) -> None:
        self._unless_redis_is_away(super().heartbeat)

    def enqueue_scheduled_jobs(self) -> None:
        self._unless_redis_is_away(super().enqueue_scheduled_jobs)

    def acquire_locks(self, auto_start: bool = False) -> Any:
        return self._unless_redis_is_away(lambda: super(_Scheduler, self).acquire_locks(auto_start))

    def _unless_redis_is_away(self, step: Callable[[], Any]) -> Any:
        """``step()``, or None with a warning while Redis does not answer (tried again in a second)."""
        try:
            return step()
        except UNAVAILABLE_ERRORS as error:
            self.log.warning("Scheduler %s: Redis is away (%s); trying again", self.name, error)
            return None
