"""Background jobs on RQ, on the service's own Redis: webhook deliveries and moderators' mail.

A request only enqueues (one short pipeline); ``yaynay worker`` runs the jobs. RQ names
its keys itself, under ``RQ_KEY_PREFIX`` (read from the environment when rq is first
imported, which is here): yaynay sets it to ``yaynay:{jobs}`` unless it is set, so every
RQ key (``yaynay:{jobs}:queue:yaynay``, ``...:job:<id>``, its registries, workers and
scheduler lock) carries the same hash tag and lives in one Redis Cluster slot. RQ speaks
to a plain Redis client only: on Redis Cluster it gets the master that owns that slot,
looked up again for each enqueue, so a failover costs the enqueues of its window. A
running worker keeps the master it started with (RQ retries a lost connection forever):
after a failover of that slot's master, restart ``yaynay worker``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("RQ_KEY_PREFIX", "yaynay:{jobs}")

from redis.cluster import RedisCluster  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402  (RQ reads its key prefix when imported)

from service.store.connection import translate_errors

QUEUE_NAME = "yaynay"
# A webhook receiver gets 10 s to answer; a job gets a little more for DNS and TLS.
JOB_TIMEOUT = 30


class Jobs:
    """Enqueues jobs for ``yaynay worker``; runs one (``work``)."""

    def __init__(self, redis: Any, *, name: str = QUEUE_NAME):
        self.redis = redis
        self.name = name

    @property
    def queue(self) -> Queue:
        """The RQ queue, on the Redis that holds the jobs now."""
        return Queue(self.name, connection=self._jobs_redis(), default_timeout=JOB_TIMEOUT)

    def _jobs_redis(self) -> Any:
        """A plain client of the Redis that holds every RQ key (on Cluster, their slot's master)."""
        if isinstance(self.redis, RedisCluster):
            return self.redis.get_redis_connection(self.redis.get_node_from_key(os.environ["RQ_KEY_PREFIX"]))
        return self.redis

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
        return _Worker([self.queue], connection=self.redis, name=name, every_maintenance=every_maintenance)

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

    @translate_errors
    def counts(self) -> dict[str, int]:
        """Jobs waiting now, and waiting for their time (the README's sizing hint)."""
        return {"queued": self.queue.count, "scheduled": self.queue.scheduled_job_registry.count}


class _Worker(SimpleWorker):
    """RQ's in-process worker, with a hook at its periodic maintenance."""

    def __init__(self, *args: Any, every_maintenance: Callable[[], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.every_maintenance = every_maintenance

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.every_maintenance is not None:
            self.every_maintenance()
