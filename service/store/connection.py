"""Opening the Redis client, and turning its failures into ``StoreUnavailable``."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from service import metrics
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


class SlotOwnerConnection(redis.Connection):
    """A connection to the master that owns ``slot_key``'s slot of ``cluster`` now.

    The Redis Cluster counterpart of redis-py's SentinelManagedConnection, for a client that
    must be plain (RQ's): each (re)connect asks the cluster client which master owns the slot
    and, when that one cannot be reached, has it read the slot map again first, so after a
    failover the next reconnect reaches the promoted replica. The settings travel in the
    pool's connection kwargs, as RQ rebuilds the pool from them in its scheduler process.
    """

    def __init__(self, *, cluster: RedisCluster, slot_key: str, **kwargs: Any):
        self.cluster = cluster
        self.slot_key = slot_key
        super().__init__(**kwargs)

    def connect(self) -> None:
        if self._sock:
            return
        try:
            self._connect_to_owner(refresh=False)
        except redis.exceptions.ConnectionError:
            self._connect_to_owner(refresh=True)

    def _connect_to_owner(self, *, refresh: bool) -> None:
        if refresh:
            self.cluster.nodes_manager.initialize()
        owner = self.cluster.get_node_from_key(self.slot_key)
        self.host, self.port = owner.host, owner.port
        self.connect_check_health(retry_socket_connect=False)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.exceptions.MovedError as moved:
            # The master came back as another's replica, or the slot moved: reconnect.
            self.disconnect()
            raise redis.exceptions.ConnectionError(f"{self.host}:{self.port} no longer owns the slot") from moved


class SlotOwnerSSLConnection(SlotOwnerConnection, redis.SSLConnection):
    """``SlotOwnerConnection`` over TLS (a ``rediss://`` cluster)."""


def slot_owner_client(cluster: RedisCluster, slot_key: str) -> redis.Redis:
    """A plain client of whichever master owns ``slot_key``'s slot, that follows it across
    failovers, with the cluster client's credentials, timeouts and bounded pool."""
    node = cluster.get_node_from_key(slot_key)
    assert node.redis_connection is not None  # the cluster client made it when it read the slot map
    node_pool = node.redis_connection.connection_pool
    options = {name: value for name, value in node_pool.connection_kwargs.items() if name not in ("host", "port")}
    secure = issubclass(node_pool.connection_class, redis.SSLConnection)
    pool = redis.BlockingConnectionPool(
        connection_class=SlotOwnerSSLConnection if secure else SlotOwnerConnection,
        max_connections=node_pool.max_connections,
        cluster=cluster,
        slot_key=slot_key,
        **options,
    )
    return redis.Redis(connection_pool=pool, retry=cluster.retry)


class BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """redis-py's Sentinel pool (connections go to the master the sentinels name now), with
    the bounded wait of a BlockingConnectionPool instead of an error when all are in use."""


def connect(
    url: str,
    *,
    cluster: bool = False,
    sentinels: Sequence[str] = (),
    sentinel_master: str = "",
    socket_timeout: float = 0.5,
    connect_timeout: float = 0.5,
    max_connections: int = 50,
    pool_timeout: float = 1.0,
) -> redis.Redis | RedisCluster:
    """A client for ``url`` with short timeouts and a single immediate retry.

    The retry reconnects a pooled connection that Redis closed (a restart); it is not
    made on a timeout, so a hung Redis costs one socket timeout, not several. The pool
    is bounded: under a burst (a thousand streams opening at once in one gevent worker)
    requests wait up to ``pool_timeout`` for a connection instead of each opening its
    own and timing out together.

    With ``sentinels`` (``host:port`` each), the client asks them for the address of
    ``sentinel_master`` before each new connection, so after a failover it reconnects to
    the promoted replica; ``url`` then gives only the credentials and the database.
    """
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    options: dict[str, Any] = dict(
        socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout, retry=retry, health_check_interval=30
    )
    if cluster:
        return RedisCluster.from_url(url, max_connections=max_connections, **options)
    if sentinels:
        return _through_sentinels(url, sentinels, sentinel_master, options, max_connections, pool_timeout)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=pool_timeout, **options)
    return redis.Redis(connection_pool=pool, retry=retry)


def _through_sentinels(
    url: str, sentinels: Sequence[str], master: str, options: dict[str, Any], max_connections: int, pool_timeout: float
) -> redis.Redis:
    """A client of the master the sentinels name, with ``url``'s credentials and database."""
    found = redis.connection.parse_url(url) if url else {}
    credentials = {name: found[name] for name in ("username", "password", "db") if name in found}
    timeouts = {name: options[name] for name in ("socket_timeout", "socket_connect_timeout")}
    addresses = [(host, int(port)) for host, _, port in (address.rpartition(":") for address in sentinels)]
    # The sentinels' own password, if any, is not the data's: redis-py asks for it apart.
    sentinel = Sentinel(addresses, sentinel_kwargs=timeouts)
    return sentinel.master_for(
        master,
        connection_pool_class=BlockingSentinelPool,
        max_connections=max_connections,
        timeout=pool_timeout,
        **options,
        **credentials,
    )


P = ParamSpec("P")
R = TypeVar("R")


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate a store method so a Redis outage raises ``StoreUnavailable``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except UNAVAILABLE_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise StoreUnavailable("The vote store is unavailable; try again shortly.") from error

    return wrapper


def redacted(url: str) -> str:
    """``url`` without its password, fit for a message."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def problem_with(
    url: str, *, cluster: bool = False, sentinels: Sequence[str] = (), sentinel_master: str = "", timeout: float = 2.0
) -> str | None:
    """Why Redis at ``url`` (or the sentinels' master) cannot be used, in a few words, or
    None when it answers a PING."""
    try:
        client = connect(
            url,
            cluster=cluster,
            sentinels=sentinels,
            sentinel_master=sentinel_master,
            socket_timeout=timeout,
            connect_timeout=timeout,
        )
    except ValueError as error:  # redis-py's word for a URL it cannot read
        return f"is not a Redis URL ({error})"
    except UNAVAILABLE_ERRORS as error:  # a cluster client connects at once
        return f"does not answer ({error})"
    try:
        client.ping()
    except UNAVAILABLE_ERRORS as error:
        return f"does not answer ({error})"
    except redis.exceptions.RedisError as error:  # e.g. a password is required or wrong
        return f"refuses yaynay ({error})"
    finally:
        client.close()
    return None
