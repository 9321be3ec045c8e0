"""Opening the Redis client, and turning its failures into ``StoreUnavailable``."""

from __future__ import annotations

import functools

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from service.errors import StoreUnavailable

# Errors that mean "Redis is not there right now", not "the request was wrong".
UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
)


def connect(url: str, *, cluster: bool = False, socket_timeout: float = 0.5,
            connect_timeout: float = 0.5, max_connections: int = 50, pool_timeout: float = 1.0):
    """A client for ``url`` with short timeouts and a single immediate retry.

    The retry reconnects a pooled connection that Redis closed (a restart); it is not
    made on a timeout, so a hung Redis costs one socket timeout, not several. The pool
    is bounded: under a burst (a thousand streams opening at once in one gevent worker)
    requests wait up to ``pool_timeout`` for a connection instead of each opening its
    own and timing out together.
    """
    options = dict(
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        health_check_interval=30,
    )
    if cluster:
        return RedisCluster.from_url(url, max_connections=max_connections, **options)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_timeout,
                                                 **options)
    return redis.Redis(connection_pool=pool, retry=options["retry"])


def translate_errors(method):
    """Decorate a store method so a Redis outage raises ``StoreUnavailable``."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except UNAVAILABLE_ERRORS as error:
            raise StoreUnavailable("The vote store is unavailable; try again shortly.") from error

    return wrapper
