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
            connect_timeout: float = 0.5):
    """A client for ``url`` with short timeouts and a single immediate retry.

    The retry reconnects a pooled connection that Redis closed (a restart); it is not
    made on a timeout, so a hung Redis costs one socket timeout, not several.
    """
    options = dict(
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        health_check_interval=30,
    )
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def translate_errors(method):
    """Decorate a store method so a Redis outage raises ``StoreUnavailable``."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except UNAVAILABLE_ERRORS as error:
            raise StoreUnavailable("The vote store is unavailable; try again shortly.") from error

    return wrapper
